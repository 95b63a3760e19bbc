// The foundation with real parts: PostgreSQL 15 primary and streaming standbys, dynalite, and one agent
// process per node, brought up by `local up` and read through cluster-status.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectLocalStore,
  livePids,
  localDown,
  localUp,
  readLocalState,
  type LocalClusterState,
} from '../../cli/local/local-cluster.ts';
import { postmasterPid, startServer, stopServer } from '../../cli/local/postgres-server.ts';
import { isAlive, stopProcess } from '../../cli/local/processes.ts';
import { hasExited, runServerCommand, shutDownFast } from '../../agent/server-control.ts';
import { buildClusterStatus } from '../../core/cluster-status.ts';
import { compareLsn } from '../../core/lsn.ts';
import type { ClusterStatusReport } from '../../core/cluster-status.ts';
import type { StateStore } from '../../core/state-store.ts';
import { runCli, startAgent, stopChild } from '../support/cli.ts';
import { pollUntil } from '../support/poll.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgfailover-local-test-'));
let state: LocalClusterState;
let store: StateStore;
const extraAgents: ReturnType<typeof startAgent>[] = [];

const node = (name: string) => {
  const found = state.nodes.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no node ${name}`);
  return found;
};
const status = async (): Promise<ClusterStatusReport> =>
  buildClusterStatus(await store.readSnapshot(state.cluster), Date.now());
const superuserPassword = () => readFileSync(join(dir, 'secrets', 'superuser.password'), 'utf8').trim();

async function sql<T extends pg.QueryResultRow>(name: string, text: string): Promise<T[]> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: node(name).port ?? 0,
    user: 'postgres',
    database: 'postgres',
    password: superuserPassword(),
  });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  // The loopback fallback: these tests also start agents of their own from this (root) namespace.
  state = await localUp({ dir, standbys: 2, witness: false, network: 'loopback' });
  store = connectLocalStore(state);
});

afterAll(async () => {
  await Promise.all(extraAgents.map((agent) => stopChild(agent)));
  // Stop everything local up started, even when a test failed; then prove nothing is left.
  if (state) {
    await localDown(dir);
    expect(livePids(readLocalState(dir))).toEqual([]);
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('local cluster with real PostgreSQL', () => {
  it('comes up with a primary and two streaming standbys, each with its own postmaster and agent', () => {
    expect(state.nodes.map((entry) => [entry.name, entry.role])).toEqual([
      ['db1', 'primary'],
      ['db2', 'standby'],
      ['db3', 'standby'],
    ]);
    for (const entry of state.nodes) {
      expect(entry.postmasterPid && isAlive(entry.postmasterPid)).toBe(true);
      expect(entry.agentPid && isAlive(entry.agentPid)).toBe(true);
    }
  });

  it('reports every node UP with equal LSNs after writes on the primary, and exits 0', async () => {
    // Prepare: a write the standbys must replay.
    const [before] = await sql<{ lsn: string }>('db1', 'SELECT pg_current_wal_lsn()::text AS lsn');
    await sql('db1', 'CREATE TABLE demo_writes AS SELECT g AS id FROM generate_series(1, 10000) g');
    // Act
    const report = await pollUntil(
      'all nodes UP with equal LSNs past the writes',
      async () => {
        const current = await status();
        const primaryLsn = current.promoteStatus.primary?.currentLsn;
        if (!current.healthy || !primaryLsn || compareLsn(primaryLsn, before!.lsn) <= 0) return undefined;
        const level = current.promoteStatus.standbys.every(
          (standby) => standby.receivedLsn === primaryLsn && standby.replayedLsn === primaryLsn,
        );
        return level && current.promoteStatus.standbys.length === 2 ? current : undefined;
      },
      30_000,
      250,
    );
    // Assess
    expect(report.nodes.map((entry) => [entry.nodeId, entry.agentType, entry.agentStatus, entry.dbStatus])).toEqual([
      ['db1', 'primary', 'UP', 'UP'],
      ['db2', 'standby', 'UP', 'UP'],
      ['db3', 'standby', 'UP', 'UP'],
    ]);
    expect(report.promoteStatus.verdict).toMatch(/^Standby database\(s\) in sync with primary. It is safe to promote./);
    const rows = await sql<{ count: string }>('db3', 'SELECT count(*) AS count FROM demo_writes');
    expect(rows[0]?.count).toBe('10000');

    // The real CLI agrees: exit 0, text and JSON.
    const text = await runCli(['local', 'status', '--dir', dir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Primary +db1 .* UP +UP/);
    const json = await runCli(['cluster-status', '--json', '--endpoint', state.storeEndpoint, '--region', 'local']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      schemaVersion: 1,
      cluster: 'local',
      healthy: true,
      standbyPriority: ['db2', 'db3'],
    });
  });

  it('refuses a second up on the live directory and changes nothing', async () => {
    // Prepare
    const before = readFileSync(join(dir, 'local.json'), 'utf8');
    // Act
    const result = await runCli(['local', 'up', '--dir', dir]);
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/already running from .*nothing was changed/);
    expect(readFileSync(join(dir, 'local.json'), 'utf8')).toBe(before);
    // store, controller, and per database node an agent, a postmaster and a watchdog.
    expect(livePids(state)).toHaveLength(1 + 1 + 3 * 3);
  });

  it('reports a stopped standby database DOWN within the local timeouts and exits non-zero with the reason', async () => {
    // Act
    await stopServer(node('db3').dataDir!, 'immediate');
    // Assess
    const report = await pollUntil(
      'db3 reported DOWN',
      async () => {
        const current = await status();
        return current.nodes.find((entry) => entry.nodeId === 'db3')?.dbStatus === 'DOWN' ? current : undefined;
      },
      20_000,
      200,
    );
    expect(report.healthy).toBe(false);
    // Refused once it is gone, or "shutting down" if the final check caught it on its way out.
    expect(report.problems.join('\n')).toMatch(
      /database on db3 .* is DOWN: database down: (connection refused|.*ECONNRESET|.*the database system is shutting down \(57P03\))/,
    );
    const cli = await runCli(['local', 'status', '--dir', dir]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(/Problems:\n {2}- database on db3 \(127\.0\.0\.1:\d+\) is DOWN/);
  });

  it('keeps an agent running when its database is down at start, and reports UP once the database starts', async () => {
    // Prepare: restart db3's agent while its database is still down.
    await stopProcess(node('db3').agentPid!);
    const agent = startAgent(node('db3').agentConfig);
    extraAgents.push(agent);
    await pollUntil(
      'the new agent to report db3 DOWN',
      async () => {
        const beat = (await store.readSnapshot(state.cluster)).heartbeats.find((entry) => entry.nodeId === 'db3');
        return beat?.agentStatus === 'UP' &&
          beat.dbStatus === 'DOWN' &&
          agent.output().includes('local database is DOWN')
          ? beat
          : undefined;
      },
      20_000,
      200,
    );
    // Act
    await startServer(node('db3').dataDir!, join(dir, 'db3', 'postgres.log'));
    // Assess
    await pollUntil(
      'db3 back UP as a standby',
      async () => {
        const entry = (await status()).nodes.find((candidate) => candidate.nodeId === 'db3');
        return entry?.dbStatus === 'UP' && entry.agentType === 'standby' ? entry : undefined;
      },
      20_000,
      200,
    );
    expect(agent.exitCode).toBeNull();
    expect(postmasterPid(node('db3').dataDir!)).toBeDefined();
  });

  it('reports a wrong database password clearly, as UNKNOWN rather than DOWN', async () => {
    // Prepare: db2's agent restarted with a password file holding the wrong password.
    await stopProcess(node('db2').agentPid!);
    const config = JSON.parse(readFileSync(node('db2').agentConfig, 'utf8')) as { database: Record<string, unknown> };
    const wrongPasswordFile = join(dir, 'wrong.password');
    writeFileSync(wrongPasswordFile, 'not-the-password\n', { mode: 0o600 });
    config.database.passwordFile = wrongPasswordFile;
    const configPath = join(dir, 'db2-wrong-password.json');
    writeFileSync(configPath, JSON.stringify(config));
    // Act
    const agent = startAgent(configPath);
    extraAgents.push(agent);
    // Assess
    const entry = await pollUntil(
      'db2 reported with a password problem',
      async () => {
        const current = (await status()).nodes.find((candidate) => candidate.nodeId === 'db2');
        return current?.info.includes('password') ? current : undefined;
      },
      20_000,
      200,
    );
    expect(entry.dbStatus).toBe('UNKNOWN');
    expect(entry.info).toMatch(
      /password authentication failed for user "pgfailover".*28P01.*the password was rejected; check the password source/,
    );
    expect(agent.output()).toContain('local database cannot be checked');
    const cli = await runCli(['local', 'status', '--dir', dir]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(/database on db2 .* is UNKNOWN: .*password/);
  });

  it("stops a server by a fast shutdown signal (a switchover's clean stop): returns once it exited cleanly, at once when none runs", async () => {
    // Prepare
    const dataDir = node('db3').dataDir!;
    const pid = postmasterPid(dataDir);
    expect(pid).toBeDefined();
    // Act
    await shutDownFast(dataDir, 30_000);
    // Assess: exited (reaped or not: as pg_ctl stop, it waits for the exit and the pid file, not for a reaper),
    // its pid file removed, and pg_control says it shut down (not crashed) in recovery.
    expect(hasExited(pid!)).toBe(true);
    expect(postmasterPid(dataDir)).toBeUndefined();
    const control = await runServerCommand('pg_controldata', ['-D', dataDir], { LC_ALL: 'C', LANG: 'C' });
    expect(control).toMatch(/^Database cluster state:\s+shut down in recovery$/m);
    await expect(shutDownFast(dataDir, 1000)).resolves.toBeUndefined();
    await startServer(dataDir, join(dir, 'db3', 'postgres.log'));
  });
});
