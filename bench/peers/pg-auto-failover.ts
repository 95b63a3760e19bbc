// pg_auto_failover 2.0 (Debian's postgresql-15-auto-failover): its monitor on the lab's "AWS side", three
// keepers (pg_autoctl) with their servers in the member namespaces; the same writer and faults as
// pgfailover's runs. Its defaults throughout (health checks every 5 s, a node unhealthy after 20 s, a
// partitioned primary demoting itself after 20 s); with asynchronous replication the standbys are created
// with --replication-quorum false, with a synchronous standby with its default (true).

import { execFile } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { QueryResultRow } from 'pg';
import { logTail, spawnDetached, waitFor } from '../../cli/local/processes.ts';
import { inNetns } from '../../cli/local/lab-network.ts';
import { MEMBERS, memberIp, memberNetns, postgresDir, socketQuery, type PeerLab } from './peer-lab.ts';
import type { PeerSystem } from './peer-run.ts';

const run = promisify(execFile);
const BIN = '/usr/lib/postgresql/15/bin';

type NodeState = {
  nodename: string;
  reportedstate: string;
  goalstate: string;
};

const PRIMARY_STATES = new Set(['single', 'primary', 'wait_primary']);

export function pgAutoFailoverSystem(lab: PeerLab, synchronous: boolean): PeerSystem {
  const awsIp = lab.plan.aws.ip;
  const monitorUri = `postgres://autoctl_node@${awsIp}:5432/pg_auto_failover?sslmode=disable`;
  const dataDir = (member: string) => join(lab.dir, member, 'data');
  const socketDir = (member: string) => join(lab.dir, member, 'sock');

  /**
   * pg_autoctl keeps its configuration and state under XDG directories (the postgres user's home by default)
   * and its servers' sockets in /var/run/postgresql, one path for every namespace: all go into the lab.
   */
  function environment(member: string): string[] {
    const home = join(lab.dir, member);
    return [
      `XDG_CONFIG_HOME=${join(home, 'config')}`,
      `XDG_DATA_HOME=${join(home, 'share')}`,
      `XDG_RUNTIME_DIR=${join(home, 'run')}`,
      `PATH=${BIN}:/usr/bin:/bin`,
      // pg_autoctl's own test switch: the server's sockets go to this directory (it passes it to pg_ctl).
      `PG_REGRESS_SOCK_DIR=${socketDir(member)}`,
      `PGHOST=${socketDir(member)}`,
    ];
  }

  async function prepare(member: string): Promise<void> {
    const home = await postgresDir(join(lab.dir, member));
    for (const sub of ['config', 'share', 'run', 'sock']) await postgresDir(join(home, sub));
  }

  function spawnKeeper(member: string, netns: string, args: string[]): void {
    const [bin, binArgs] = inNetns(netns, 'runuser', [
      '-u',
      'postgres',
      '--',
      'env',
      ...environment(member),
      'pg_autoctl',
      ...args,
    ]);
    lab.pids.push(spawnDetached(bin, binArgs, join(lab.dir, `${member}.log`)));
  }

  /** initdb with the lab's clients trusted, as the Patroni peer's are; pg_basebackup copies it to the standbys. */
  async function initdb(member: string): Promise<void> {
    await run(
      'runuser',
      ['-u', 'postgres', '--', `${BIN}/initdb`, '-D', dataDir(member), '-A', 'trust', '-E', 'UTF8', '--no-locale'],
      { timeout: 60_000 },
    );
    appendFileSync(
      join(dataDir(member), 'pg_hba.conf'),
      'host all all 0.0.0.0/0 trust\nhost replication all 0.0.0.0/0 trust\n',
    );
  }

  function monitorQuery<T extends QueryResultRow>(sql: string): Promise<T[]> {
    return socketQuery<T>(socketDir('monitor'), 'pg_auto_failover', sql);
  }

  async function nodes(): Promise<NodeState[]> {
    return monitorQuery<NodeState>(
      'SELECT nodename, reportedstate::text, goalstate::text FROM pgautofailover.node ORDER BY nodeid',
    ).catch(() => []);
  }

  function createMember(member: string): void {
    const ip = memberIp(lab, member);
    spawnKeeper(member, memberNetns(lab, member), [
      'create',
      'postgres',
      '--pgdata',
      dataDir(member),
      '--pgport',
      '5432',
      '--pgctl',
      `${BIN}/pg_ctl`,
      '--name',
      member,
      '--hostname',
      ip,
      '--monitor',
      monitorUri,
      '--skip-pg-hba',
      '--no-ssl',
      '--replication-quorum',
      String(synchronous),
      '--run',
    ]);
  }

  let lastError = '';
  /** A wait whose failure carries the end of the member's log (the lab is removed right after). */
  async function waitLogged(member: string, what: string, check: () => Promise<boolean>, timeoutMs: number) {
    await waitFor(what, async () => ((await check()) ? true : undefined), timeoutMs, 500).catch((error: unknown) => {
      const others = ['monitor', ...MEMBERS].filter((m) => m !== member);
      const tails = [member, ...others].map((m) => logTail(join(lab.dir, `${m}.log`), m === member ? 12 : 6));
      throw new Error(`${String(error)} (last: ${lastError})${tails.join('')}`);
    });
  }

  return {
    name: 'pg_auto_failover defaults',
    settings: `health check every 5 s, unhealthy after 20 s; replication quorum ${synchronous ? 'on' : 'off'}`,
    dataDir,
    async start() {
      await prepare('monitor');
      await initdb('monitor');
      spawnKeeper('monitor', lab.plan.aws.netns, [
        'create',
        'monitor',
        '--pgdata',
        dataDir('monitor'),
        '--pgport',
        '5432',
        '--pgctl',
        `${BIN}/pg_ctl`,
        '--hostname',
        awsIp,
        '--skip-pg-hba',
        '--no-ssl',
        '--run',
      ]);
      await waitLogged(
        'monitor',
        'the pg_auto_failover monitor',
        async () =>
          (await monitorQuery('SELECT 1').catch((error: unknown) => {
            lastError = String(error);
            return undefined;
          })) !== undefined,
        90_000,
      );
      for (const member of MEMBERS) await prepare(member);
      // The first member's data directory is made here (sockets in the data directory); the others are
      // copied from it by pg_basebackup, configuration included.
      await initdb('p1');
      createMember('p1');
      await waitFor(
        'p1 to be the single primary',
        async () =>
          (await nodes()).some((n) => n.nodename === 'p1' && n.reportedstate === 'single') ? true : undefined,
        120_000,
        500,
      );
      // One standby at a time: pg_auto_failover serialises their registration anyway.
      for (const member of ['p2', 'p3']) {
        createMember(member);
        await waitLogged(
          member,
          `${member} to be a secondary`,
          async () => (await nodes()).some((n) => n.nodename === member && n.reportedstate === 'secondary'),
          180_000,
        );
      }
    },
    async primary() {
      const all = await nodes();
      return all.find((n) => PRIMARY_STATES.has(n.reportedstate) && n.goalstate === n.reportedstate)?.nodename ?? null;
    },
    async healthy() {
      const all = await nodes();
      const settled = all.filter((n) => n.reportedstate === n.goalstate);
      const primaries = settled.filter((n) => n.reportedstate === 'primary');
      const secondaries = settled.filter((n) => n.reportedstate === 'secondary');
      if (all.length === MEMBERS.length && primaries.length === 1 && secondaries.length === MEMBERS.length - 1)
        return undefined;
      return all.map((n) => `${n.nodename} ${n.reportedstate}→${n.goalstate}`).join(', ') || 'monitor not answering';
    },
    async recover(killed) {
      // A killed member's keeper is started again; it rewinds its server and rejoins by itself.
      for (const member of killed) spawnKeeper(member, memberNetns(lab, member), ['run', '--pgdata', dataDir(member)]);
    },
    async switchover(_from, to) {
      // pg_autoctl perform promotion --name to, as SQL on the monitor (it returns once the change is started).
      await monitorQuery(`SELECT pgautofailover.perform_promotion('default', '${to}')`);
    },
    query(member, sql) {
      return socketQuery(socketDir(member), 'postgres', sql);
    },
  };
}
