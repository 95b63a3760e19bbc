// Day-two operations with real PostgreSQL, real agents, dynalite and the evaluator on its timer: a manual
// failover with automatic failover off (pgfailover promote), rejoining the old primary (pg_rewind) and a
// broken standby (fresh base backup), and a pause during which a primary's database is restarted in place
// while nobody is promoted. A sampler asks every server directly, every 100 ms, whether it accepts
// writes: never two at once. Replication is synchronous: no acknowledged row may be lost.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAlive, serverProcesses, signalAll, startServer, stopServer } from '../../agent/server-control.ts';
import { connectLocalStore, rejoinNode } from '../../cli/local/local-cluster.ts';
import { SourceNotPrimaryError } from '../../agent/rejoin.ts';
import { postmasterPid } from '../../cli/local/postgres-server.ts';
import { WritableSampler } from '../../cli/local/writable-sampler.ts';
import { runCli } from '../support/cli.ts';
import { withLocalCluster, type ClusterContext } from '../support/local-cluster.ts';
import { pollUntil } from '../support/poll.ts';

const storeArgs = (cluster: ClusterContext) => [
  '--endpoint',
  cluster.state.storeEndpoint,
  '--region',
  'local',
  '--cluster',
  cluster.state.cluster,
];

/** Rows written (and acknowledged, synchronously replicated) on `primary`; returns their ids. */
async function writeRows(cluster: ClusterContext, primary: string, count: number): Promise<number[]> {
  await cluster.sql(primary, 'CREATE TABLE IF NOT EXISTS acknowledged (id int PRIMARY KEY)');
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = Date.now() * 10 + i;
    await cluster.sql(primary, `INSERT INTO acknowledged VALUES (${id % 2_000_000_000})`);
    ids.push(id % 2_000_000_000);
  }
  return ids;
}

async function missingRows(cluster: ClusterContext, node: string, ids: number[]): Promise<number[]> {
  const rows = await cluster.sql<{ id: number }>(node, 'SELECT id FROM acknowledged');
  const present = new Set(rows.map((row) => row.id));
  return ids.filter((id) => !present.has(id));
}

/** SIGKILL to the postmaster and its children; resolves once the postmaster is gone (reaped). */
async function killDatabase(cluster: ClusterContext, name: string): Promise<void> {
  const pid = postmasterPid(cluster.node(name).dataDir as string);
  if (!pid) return;
  signalAll(serverProcesses(pid), 'SIGKILL');
  await pollUntil(`the postmaster of ${name} to be gone`, async () => (isAlive(pid) ? undefined : true), 30_000, 50);
}

describe('day-two operations with real PostgreSQL', () => {
  it('manual failover with automatic failover off, then rejoin of the old primary (pg_rewind) and of a broken standby (base backup)', async () => {
    // Loopback network: rejoin runs on the node's "host", which here is this process's namespace.
    await withLocalCluster(
      { standbys: 2, witness: true, autoFailover: false, synchronous: true, network: 'loopback' },
      async (cluster) => {
        const store = connectLocalStore(cluster.state);
        const sampler = new WritableSampler(cluster.state.nodes, cluster.password);
        sampler.start();
        try {
          // Prepare: check-config passes for a node as set up, and fails for one the cluster does not know.
          const checked = await runCli(['check-config', '--json', '--config', cluster.node('db1').agentConfig]);
          expect(checked.code, checked.stdout).toBe(0);
          const checks = (JSON.parse(checked.stdout) as { checks: { name: string; status: string; detail: string }[] })
            .checks;
          expect(checks.find((check) => check.name === 'database')?.detail).toMatch(/answers as pgfailover: a primary/);
          const wrong = join(cluster.dir, 'wrong-agent.json');
          const config = JSON.parse(readFileSync(cluster.node('db2').agentConfig, 'utf8')) as Record<string, unknown>;
          writeFileSync(wrong, JSON.stringify({ ...config, address: '127.0.0.1:1' }));
          const refused = await runCli(['check-config', '--config', wrong]);
          expect(refused.code).toBe(1);
          expect(refused.stdout).toMatch(
            /FAIL +membership: node db2 is allowed with address .* but this agent reports 127\.0\.0\.1:1/,
          );
          const ids = await writeRows(cluster, 'db1', 20);
          const termBefore = (await store.getCluster(cluster.state.cluster))?.term ?? 0;
          await killDatabase(cluster, 'db1');
          // Assess: the failure is confirmed and a person is asked for; nobody is promoted meanwhile.
          await pollUntil(
            'the SEVERE manual-failover-required notice',
            async () => cluster.notices().find((notice) => notice.event === 'manual-failover-required'),
            30_000,
            200,
          );
          expect((await store.getCluster(cluster.state.cluster))?.term).toBe(termBefore);
          expect(await cluster.writableNodes()).toEqual([]);

          // Act: the person asks for it.
          const promoted = await runCli([
            'promote',
            '--reason',
            'db1 crashed',
            '--timeout-ms',
            '60000',
            ...storeArgs(cluster),
          ]);
          // Assess
          expect(promoted.code, `${promoted.stdout}\n${promoted.stderr}`).toBe(0);
          const newPrimary = /manual failover completed: (db\d) is the primary/.exec(promoted.stdout)?.[1];
          expect(newPrimary).toMatch(/^db[23]$/);
          const primary = newPrimary as string;
          expect(await cluster.writableNodes()).toEqual([primary]);
          expect(await missingRows(cluster, primary, ids)).toEqual([]);
          const record = await store.getCluster(cluster.state.cluster);
          expect(record).toMatchObject({
            term: termBefore + 1,
            primaryNodeId: primary,
            phase: 'steady',
            promotion: null,
          });
          expect(record?.failover?.reason).toMatch(/manual failover asked for by .+@.+/);

          // Act: rejoin is refused on the current primary, then rejoins the old primary.
          const onPrimary = await runCli(['rejoin', primary, '--config', cluster.node(primary).agentConfig]);
          const rejoined = await runCli(['rejoin', 'db1', '--config', cluster.node('db1').agentConfig]);
          // Assess
          expect(onPrimary.code).toBe(2);
          expect(onPrimary.stderr).toMatch(new RegExp(`${primary} is the primary of term \\d+; rejoin never touches`));
          expect(rejoined.code, rejoined.stderr).toBe(0);
          expect(rejoined.stdout).toMatch(new RegExp(`db1 rejoined as a standby of ${primary} by pg_rewind`));
          await pollUntil(
            'db1 to stream from the new primary',
            async () => ((await cluster.streamingFrom(primary)).includes('db1') ? true : undefined),
            30_000,
            200,
          );

          // Act: a broken standby (its control file gone: nothing can rewind it) is copied afresh.
          const other = primary === 'db2' ? 'db3' : 'db2';
          const otherDir = cluster.node(other).dataDir as string;
          await stopServer(otherDir, 'fast');
          rmSync(join(otherDir, 'global', 'pg_control'));
          const recloned = await runCli(['rejoin', other, '--config', cluster.node(other).agentConfig]);
          // Assess
          expect(recloned.code, recloned.stderr).toBe(0);
          expect(recloned.stdout).toMatch(
            new RegExp(`${other} rejoined as a standby of ${primary} by a fresh base backup`),
          );
          await pollUntil(
            `${other} to stream from the new primary`,
            async () => ((await cluster.streamingFrom(primary)).includes(other) ? true : undefined),
            30_000,
            200,
          );
          expect(await missingRows(cluster, other, ids)).toEqual([]);
          const events = (await store.readHistory(cluster.state.cluster)).entries
            .filter((entry) => entry.kind === 'change')
            .map((entry) => entry.event);
          expect(events).toEqual(['promote-failover', 'rejoin', 'rejoin']);
        } finally {
          await sampler.stop();
        }
        // Never two writable primaries, from the first write to the last rejoin.
        expect(sampler.overlaps).toEqual([]);
        expect(sampler.samples).toBeGreaterThan(20);
      },
    );
  });

  it('pause: a primary database restarted in place stays primary, nobody is promoted; resume re-arms failover', async () => {
    await withLocalCluster({ standbys: 1, witness: true, synchronous: true }, async (cluster) => {
      const store = connectLocalStore(cluster.state);
      const sampler = new WritableSampler(cluster.state.nodes, cluster.password);
      sampler.start();
      try {
        // Prepare
        const paused = await runCli(['pause', '--reason', 'minor upgrade', ...storeArgs(cluster)]);
        expect(paused.code, paused.stderr).toBe(0);
        const ids = await writeRows(cluster, 'db1', 10);
        const termBefore = (await store.getCluster(cluster.state.cluster))?.term ?? 0;
        // Act: the DBA's restart, with a crash in it: the database is down long past every timeout.
        await killDatabase(cluster, 'db1');
        await pollUntil(
          'the failure to be reported while paused',
          async () => cluster.notices().find((notice) => notice.event === 'paused-primary-down'),
          30_000,
          200,
        );
        // Assess: nobody promoted, the old primary not fenced (no standby.signal), its lease kept.
        expect((await store.getCluster(cluster.state.cluster))?.term).toBe(termBefore);
        expect(await cluster.writableNodes()).toEqual([]);
        const dataDir = cluster.node('db1').dataDir as string;
        const log = join(cluster.dir, 'db1', 'postgres.log');
        await startServer(dataDir, log, cluster.node('db1').netns ?? undefined).catch((error: unknown) => {
          throw new Error(`${String(error)}\n${readFileSync(log, 'utf8').slice(-3000)}`);
        });
        // It comes back as the primary and stays so: its agent renewed the lease all along.
        await pollUntil(
          'db1 to be writable again and reported UP',
          async () => {
            const beat = (await store.readSnapshot(cluster.state.cluster)).heartbeats.find((b) => b.nodeId === 'db1');
            return beat?.agentType === 'primary' && beat.dbStatus === 'UP' ? true : undefined;
          },
          30_000,
          200,
        );
        expect(await cluster.writableNodes()).toEqual(['db1']);
        expect((await store.getCluster(cluster.state.cluster))?.term).toBe(termBefore);
        expect(await missingRows(cluster, 'db1', ids)).toEqual([]);

        // Act: resume, then a crash is failed over automatically again.
        const resumed = await runCli(['resume', ...storeArgs(cluster)]);
        expect(resumed.code, resumed.stderr).toBe(0);
        await pollUntil(
          'the standby to stream from db1 again',
          async () => ((await cluster.streamingFrom('db1')).includes('db2') ? true : undefined),
          30_000,
          200,
        );
        const more = await writeRows(cluster, 'db1', 5);
        await killDatabase(cluster, 'db1');
        // Assess
        await pollUntil(
          'db2 to be promoted after resume',
          async () => {
            const record = await store.getCluster(cluster.state.cluster);
            return record?.primaryNodeId === 'db2' && record.phase === 'steady' ? true : undefined;
          },
          30_000,
          200,
        );
        expect(await cluster.writableNodes()).toEqual(['db2']);
        expect(await missingRows(cluster, 'db2', [...ids, ...more])).toEqual([]);
      } finally {
        await sampler.stop();
      }
      expect(sampler.overlaps).toEqual([]);
    });
  });

  it('manual failover to a standby behind another: it streams the WAL it lacks from that standby before promoting; no acknowledged row lost', async () => {
    await withLocalCluster(
      { standbys: 2, witness: true, autoFailover: false, synchronous: true, network: 'loopback' },
      async (cluster) => {
        const store = connectLocalStore(cluster.state);
        // Prepare: db2's WAL receiver stops, so rows acknowledged from here on are on db1 and db3 only (ANY 1).
        await writeRows(cluster, 'db1', 5);
        await cluster.sql('db2', "ALTER SYSTEM SET primary_conninfo = ''");
        await cluster.sql('db2', 'SELECT pg_reload_conf()');
        await pollUntil(
          'db2 to stop streaming',
          async () => ((await cluster.streamingFrom('db1')).includes('db2') ? undefined : true),
          20_000,
          100,
        );
        const ids = await writeRows(cluster, 'db1', 20);
        expect(await missingRows(cluster, 'db2', ids)).toEqual(ids);
        await killDatabase(cluster, 'db1');
        await pollUntil(
          'the SEVERE manual-failover-required notice',
          async () => cluster.notices().find((notice) => notice.event === 'manual-failover-required'),
          30_000,
          200,
        );
        // Act: the DBA names db2, which the heartbeats show behind db3.
        const promoted = await runCli([
          'promote',
          '--target',
          'db2',
          '--reason',
          'db1 crashed',
          '--timeout-ms',
          '60000',
          ...storeArgs(cluster),
        ]);
        // Assess: db2 fetched the rows from db3 first; db3 can follow it.
        expect(promoted.code, `${promoted.stdout}\n${promoted.stderr}`).toBe(0);
        expect(await cluster.writableNodes()).toEqual(['db2']);
        expect(await missingRows(cluster, 'db2', ids)).toEqual([]);
        const { entries } = await store.readHistory(cluster.state.cluster);
        expect(entries.find((entry) => entry.event === 'catch-up')?.body).toMatch(
          /^db3 has more WAL \(\S+\) than db2 \(\S+\), the candidate/,
        );
        await pollUntil(
          'db3 to stream from db2',
          async () => ((await cluster.streamingFrom('db2')).includes('db3') ? true : undefined),
          30_000,
          200,
        );
      },
    );
  });

  it('automatic rejoin: the fenced old primary comes back as a standby of the new primary by itself', async () => {
    await withLocalCluster({ standbys: 1, witness: true, synchronous: true, autoRejoin: true }, async (cluster) => {
      const store = connectLocalStore(cluster.state);
      const sampler = new WritableSampler(cluster.state.nodes, cluster.password);
      sampler.start();
      try {
        // Prepare
        const ids = await writeRows(cluster, 'db1', 10);
        // Act
        await killDatabase(cluster, 'db1');
        // Assess: failed over, then db1 streams from db2 without anyone running a command.
        await pollUntil(
          'db2 to be the primary',
          async () => {
            const record = await store.getCluster(cluster.state.cluster);
            return record?.primaryNodeId === 'db2' && record.phase === 'steady' ? true : undefined;
          },
          30_000,
          200,
        );
        await pollUntil(
          'db1 to stream from db2',
          async () => ((await cluster.streamingFrom('db2')).includes('db1') ? true : undefined),
          60_000,
          200,
        );
        expect(await cluster.writableNodes()).toEqual(['db2']);
        // Streaming can be seen before the agent's next heartbeat says how it got there.
        const beat = await pollUntil(
          "db1's heartbeat to report the rejoin",
          async () => {
            const current = (await store.readSnapshot(cluster.state.cluster)).heartbeats.find(
              (b) => b.nodeId === 'db1',
            );
            return current?.action?.step === 'rejoined' ? current : undefined;
          },
          10_000,
          200,
        );
        expect(beat.action?.detail).toMatch(/by pg_rewind/);
        expect(await missingRows(cluster, 'db1', ids)).toEqual([]);
      } finally {
        await sampler.stop();
      }
      expect(sampler.overlaps).toEqual([]);
    });
  });

  it('rejoin of a standby that crashed behind its primary: recovered as a standby first, it streams again; a source still in recovery is refused', async () => {
    await withLocalCluster(
      { standbys: 2, witness: true, autoFailover: false, network: 'loopback' },
      async (cluster) => {
        const before = await writeRows(cluster, 'db1', 20);
        await pollUntil(
          'db2 streaming from db1',
          async () => ((await cluster.streamingFrom('db1')).includes('db2') ? true : undefined),
          30_000,
          100,
        );
        await killDatabase(cluster, 'db2');
        // The primary moves on past where db2 crashed: pg_rewind's own crash recovery would end db2's recovery
        // there with a checkpoint of its own, a record db1's WAL does not have.
        const after = await writeRows(cluster, 'db1', 50);
        // Act
        const refused = await rejoinNode(cluster.dir, 'db2', 'db3').catch((error: unknown) => error);
        const how = await rejoinNode(cluster.dir, 'db2', 'db1');
        // Assess
        expect(refused).toBeInstanceOf(SourceNotPrimaryError);
        expect(how).toEqual({ how: 'rewound' });
        await pollUntil(
          'db2 streaming from db1 with every row',
          async () =>
            (await cluster.streamingFrom('db1')).includes('db2') &&
            (await missingRows(cluster, 'db2', [...before, ...after])).length === 0
              ? true
              : undefined,
          60_000,
          200,
        );
      },
    );
  });
});
