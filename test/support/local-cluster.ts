// A local cluster per test, with the checks every failover scenario asserts. Whatever the test does,
// the cluster is stopped (by PID) and its directory removed afterwards.

import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import {
  livePids,
  localDown,
  localUp,
  readLocalState,
  sqlTarget,
  type LocalClusterState,
  type LocalUpOptions,
} from '../../cli/local/local-cluster.ts';
import { postmasterPid } from '../../cli/local/postgres-server.ts';
import { isAlive } from '../../cli/local/processes.ts';
import { superuserPassword } from '../../cli/local/drill.ts';
import { superuserQuery } from '../../cli/local/superuser-sql.ts';
import { ungrantedRequests } from './logged-grants.ts';

export interface ClusterContext {
  dir: string;
  state: LocalClusterState;
  node(name: string): LocalClusterState['nodes'][number];
  /** The superuser password of the cluster's servers. */
  password: string;
  /** One statement on node `name`'s server, reached directly (its socket in the lab), never through a cut. */
  sql<T extends pg.QueryResultRow>(name: string, text: string): Promise<T[]>;
  /** Database nodes whose server runs and accepts writes (not in recovery). */
  writableNodes(): Promise<string[]>;
  /** application_name of every standby streaming from node `name`. */
  streamingFrom(name: string): Promise<string[]>;
  notices(): { event: string; severity: string; subject: string }[];
}

export async function withLocalCluster(
  options: Omit<LocalUpOptions, 'dir'>,
  test: (cluster: ClusterContext) => Promise<void>,
): Promise<void> {
  const parent = mkdtempSync(join(tmpdir(), 'pgfailover-e2e-'));
  chmodSync(parent, 0o755);
  const dir = join(parent, 'cluster');
  // Every process the cluster starts (agents, controller, CLI) logs its state-table requests here; what
  // they sent is judged against the stack's grants once the scenario has passed.
  const requestLog = join(parent, 'requests.jsonl');
  const loggedBefore = process.env.PGFAILOVER_REQUEST_LOG;
  process.env.PGFAILOVER_REQUEST_LOG = requestLog;
  let left: number[] = [];
  let failed = false;
  let ungranted: string[] = [];
  try {
    const state = await localUp({ ...options, dir });
    const password = superuserPassword(dir);
    const node = (name: string) => {
      const found = state.nodes.find((candidate) => candidate.name === name);
      if (!found) throw new Error(`no node ${name}`);
      return found;
    };
    const sql = <T extends pg.QueryResultRow>(name: string, text: string): Promise<T[]> =>
      superuserQuery<T>(sqlTarget(node(name)), password, text);
    await test({
      dir,
      state,
      node,
      password,
      sql,
      async writableNodes() {
        const writable: string[] = [];
        for (const candidate of state.nodes) {
          if (!candidate.dataDir || !candidate.port) continue;
          const pid = postmasterPid(candidate.dataDir);
          if (!pid || !isAlive(pid)) continue;
          const rows = await sql<{ recovery: boolean }>(candidate.name, 'SELECT pg_is_in_recovery() AS recovery').catch(
            () => [],
          );
          if (rows[0] && !rows[0].recovery) writable.push(candidate.name);
        }
        return writable;
      },
      async streamingFrom(name) {
        return (
          await sql<{ name: string }>(
            name,
            "SELECT application_name AS name FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1",
          )
        ).map((row) => row.name);
      },
      notices() {
        if (!existsSync(state.notificationsFile)) return [];
        return readFileSync(state.notificationsFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as { event: string; severity: string; subject: string });
      },
    }).catch((error: unknown) => {
      failed = true;
      throw error;
    });
  } finally {
    if (existsSync(join(dir, 'local.json'))) {
      await localDown(dir);
      left = livePids(readLocalState(dir));
      if (!failed) ungranted = await ungrantedRequests(requestLog, readLocalState(dir).cluster);
    }
    if (loggedBefore === undefined) delete process.env.PGFAILOVER_REQUEST_LOG;
    else process.env.PGFAILOVER_REQUEST_LOG = loggedBefore;
    // PGFAILOVER_KEEP_FAILED=1 keeps a failed test's cluster directory (logs, notices, data) for reading;
    // its processes and namespaces are gone all the same.
    if (failed && process.env.PGFAILOVER_KEEP_FAILED) process.stderr.write(`kept ${parent} for inspection\n`);
    else rmSync(parent, { recursive: true, force: true });
  }
  if (left.length > 0) throw new Error(`processes left after the test: ${left.join(', ')}`);
  if (ungranted.length > 0)
    throw new Error(`requests the stack's grants would refuse on AWS:\n${[...new Set(ungranted)].join('\n')}`);
}
