// Patroni 3 with etcd (Debian's patroni and etcd-server), three members in the peer lab, etcd on its
// "AWS side": the same writer and faults as pgfailover's runs. Settings: Patroni's defaults, or its most
// aggressive setting that keeps its rule loop_wait + 2 * retry_timeout <= ttl.

import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawnDetached, waitFor } from '../../cli/local/processes.ts';
import { inNetns } from '../../cli/local/lab-network.ts';
import { MEMBERS, memberIp, memberNetns, postgresDir, socketQuery, type PeerLab } from './peer-lab.ts';
import type { PeerSystem } from './peer-run.ts';

const run = promisify(execFile);

export interface PatroniSettings {
  label: string;
  ttl: number;
  loopWait: number;
  retryTimeout: number;
}

export const PATRONI_DEFAULTS: PatroniSettings = { label: 'Patroni defaults', ttl: 30, loopWait: 10, retryTimeout: 10 };
/** loop_wait 1 + 2 * retry_timeout 4 = 9 <= ttl 10 (Patroni 3.0.2 enforces no minimum; later docs ask ttl >= 20). */
export const PATRONI_AGGRESSIVE: PatroniSettings = { label: 'Patroni tuned', ttl: 10, loopWait: 1, retryTimeout: 4 };

interface Member {
  Member: string;
  Role: string;
  State: string;
  TL?: number;
  'Lag in MB'?: number | string;
}

export function patroniSystem(lab: PeerLab, settings: PatroniSettings, synchronous: boolean): PeerSystem {
  const config = (member: string) => join(lab.dir, `${member}.yml`);
  const dataDir = (member: string) => join(lab.dir, member, 'data');

  async function startMember(member: string): Promise<void> {
    const [bin, args] = inNetns(memberNetns(lab, member), 'runuser', [
      '-u',
      'postgres',
      '--',
      'patroni',
      config(member),
    ]);
    lab.pids.push(spawnDetached(bin, args, join(lab.dir, `${member}.log`)));
  }

  async function list(): Promise<Member[]> {
    for (const member of MEMBERS) {
      try {
        const [bin, args] = inNetns(memberNetns(lab, member), 'patronictl', [
          '-c',
          config(member),
          'list',
          '-f',
          'json',
        ]);
        const { stdout } = await run(bin, args, { timeout: 5000 });
        return JSON.parse(stdout) as Member[];
      } catch {
        // That member's namespace may be cut off: ask the next.
      }
    }
    return [];
  }

  return {
    name: settings.label,
    settings: `ttl ${settings.ttl} s, loop_wait ${settings.loopWait} s, retry_timeout ${settings.retryTimeout} s`,
    dataDir,
    async start() {
      const awsIp = lab.plan.aws.ip;
      const [etcdBin, etcdArgs] = inNetns(lab.plan.aws.netns, 'etcd', [
        '--name=e1',
        `--data-dir=${join(lab.dir, 'etcd')}`,
        `--listen-client-urls=http://${awsIp}:2379`,
        `--advertise-client-urls=http://${awsIp}:2379`,
        '--listen-peer-urls=http://127.0.0.1:2380',
        '--initial-advertise-peer-urls=http://127.0.0.1:2380',
        '--initial-cluster=e1=http://127.0.0.1:2380',
      ]);
      lab.pids.push(spawnDetached(etcdBin, etcdArgs, join(lab.dir, 'etcd.log')));
      for (const member of MEMBERS) {
        const ip = memberIp(lab, member);
        const home = await postgresDir(join(lab.dir, member));
        // JSON is YAML: Patroni reads it as its configuration file.
        const configuration = {
          scope: 'bench',
          name: member,
          restapi: { listen: `${ip}:8008`, connect_address: `${ip}:8008` },
          etcd3: { hosts: [`${awsIp}:2379`] },
          bootstrap: {
            dcs: {
              ttl: settings.ttl,
              loop_wait: settings.loopWait,
              retry_timeout: settings.retryTimeout,
              maximum_lag_on_failover: 16 * 1024 * 1024,
              synchronous_mode: synchronous,
              postgresql: {
                use_pg_rewind: true,
                parameters: { wal_log_hints: 'on', max_wal_senders: 10, wal_keep_size: '256MB' },
              },
            },
            initdb: [{ encoding: 'UTF8' }, { 'auth-local': 'trust' }, { 'auth-host': 'trust' }],
          },
          postgresql: {
            listen: `${ip}:5432`,
            connect_address: `${ip}:5432`,
            data_dir: dataDir(member),
            bin_dir: '/usr/lib/postgresql/15/bin',
            pgpass: join(home, 'pgpass'),
            authentication: {
              replication: { username: 'replicator', password: 'bench' },
              superuser: { username: 'postgres', password: 'bench' },
              rewind: { username: 'postgres', password: 'bench' },
            },
            parameters: { unix_socket_directories: home },
            pg_hba: ['local all all trust', 'host all all 0.0.0.0/0 trust', 'host replication all 0.0.0.0/0 trust'],
          },
        };
        writeFileSync(config(member), `${JSON.stringify(configuration, null, 2)}\n`);
      }
      await startMember('p1');
      await waitFor('p1 to lead', async () => ((await this.primary()) === 'p1' ? true : undefined), 90_000, 500);
      for (const member of ['p2', 'p3']) await startMember(member);
    },
    async primary() {
      const members = await list();
      return members.find((m) => m.Role === 'Leader' && m.State === 'running')?.Member ?? null;
    },
    async healthy() {
      const members = await list();
      const leader = members.find((m) => m.Role === 'Leader' && m.State === 'running');
      if (!leader || members.length !== MEMBERS.length)
        return `${members.length} members, leader ${leader?.Member ?? 'none'}`;
      // Patroni 3.0.2 calls a replica "running" whether or not it streams: ask the leader's server.
      const behind = members.filter(
        (m) =>
          m !== leader && (m.TL !== leader.TL || Number(m['Lag in MB'] ?? 0) > 0 || !/running|streaming/.test(m.State)),
      );
      if (behind.length) return behind.map((m) => `${m.Member} ${m.State} TL ${m.TL ?? '?'}`).join(', ');
      const rows = await this.query(
        leader.Member,
        "SELECT count(*)::int AS streaming FROM pg_stat_replication WHERE state = 'streaming'",
      ).catch(() => []);
      const streaming = Number(rows[0]?.streaming ?? 0);
      return streaming === MEMBERS.length - 1 ? undefined : `${streaming} replicas streaming from ${leader.Member}`;
    },
    async recover(killed) {
      // A killed member's Patroni is started again; it rewinds or reclones its server by itself.
      for (const member of killed) await startMember(member);
    },
    async switchover(from, to) {
      const [bin, args] = inNetns(memberNetns(lab, from), 'patronictl', [
        '-c',
        config(from),
        'switchover',
        '--leader',
        from,
        '--candidate',
        to,
        '--force',
      ]);
      await run(bin, args, { timeout: 60_000 });
    },
    query(member, sql) {
      return socketQuery(join(lab.dir, member), 'postgres', sql);
    },
  };
}
