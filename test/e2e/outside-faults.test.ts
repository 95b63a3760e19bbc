// The faults found from outside one step beyond the silent ones: a database its agent cannot check, an
// agent restarted mid-partition, a switchover interrupted on either side, a double fault, and commits that
// hang unseen. Each on the network lab with silent faults only, with a writer through the cluster address
// (and, where the old primary stays reachable, one straight to it), every server sampled every 100 ms:
// never two writable at once, the stated recovery bound, and with a synchronous standby no acknowledged row
// lost.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { postmasterPid } from '../../agent/server-control.ts';
import type { ClusterRecord, HeartbeatRecord } from '../../core/records.ts';
import { requestSwitchover } from '../../core/role-change-request.ts';
import { systemClock } from '../../core/clock.ts';
import { clusterWriter, type ClusterWriter } from '../../cli/local/cluster-writer.ts';
import { ConnectionStorm } from '../../cli/local/connection-storm.ts';
import { cut, faultTarget, heal, killNode } from '../../cli/local/lab-faults.ts';
import { connectLocalStore, localStatus, restartAgent, sqlTarget } from '../../cli/local/local-cluster.ts';
import { isAlive } from '../../cli/local/processes.ts';
import { WritableSampler } from '../../cli/local/writable-sampler.ts';
import { withLocalCluster, type ClusterContext } from '../support/local-cluster.ts';
import { pollUntil } from '../support/poll.ts';

const TABLE = 'outside_rows';
/** Every case here must have one writable primary again within this long of its fault. */
const RECOVERY_BOUND_MS = 60_000;

async function record(cluster: ClusterContext): Promise<ClusterRecord | undefined> {
  return connectLocalStore(cluster.state).getCluster(cluster.state.cluster);
}

async function beatOf(cluster: ClusterContext, nodeId: string): Promise<HeartbeatRecord | undefined> {
  const snapshot = await connectLocalStore(cluster.state).readSnapshot(cluster.state.cluster);
  return snapshot.heartbeats.find((beat) => beat.nodeId === nodeId);
}

async function events(cluster: ClusterContext): Promise<string[]> {
  const history = await connectLocalStore(cluster.state).readHistory(cluster.state.cluster, 500);
  return history.entries.map((entry) => entry.event);
}

/** Steady with one writable server, the recorded primary (not `not`), within the bound; returns it. */
async function onePrimaryAgain(cluster: ClusterContext, sinceMs: number, not?: string): Promise<string> {
  const primary = await pollUntil(
    'one writable primary again, the recorded one',
    async () => {
      const now = await record(cluster);
      if (now?.phase !== 'steady' || !now.primaryNodeId || now.primaryNodeId === not) return undefined;
      const writable = await cluster.writableNodes();
      return writable.length === 1 && writable[0] === now.primaryNodeId ? now.primaryNodeId : undefined;
    },
    Math.max(1000, RECOVERY_BOUND_MS - (Date.now() - sinceMs)),
    250,
  );
  expect((await record(cluster))?.phase).not.toBe('halted');
  return primary;
}

async function assertNoAcknowledgedRowLost(cluster: ClusterContext, primary: string, writers: ClusterWriter[]) {
  const present = new Set(
    (await cluster.sql<{ id: string }>(primary, `SELECT id FROM ${TABLE}`)).map((row) => Number(row.id)),
  );
  const acked = writers.flatMap((writer) => writer.acked.map((ack) => ack.id));
  // At least the writes before the fault: after a double fault the last standby has no synchronous standby
  // of its own, and rightly acknowledges nothing.
  expect(acked.length).toBeGreaterThan(5);
  expect(acked.filter((id) => !present.has(id))).toEqual([]);
}

/** Writers (through the address, and straight to db1 when asked) and the sampler, around `body`. */
async function underLoad(
  cluster: ClusterContext,
  options: { direct: boolean },
  body: (writers: ClusterWriter[], sampler: WritableSampler) => Promise<void>,
): Promise<void> {
  await cluster.sql('db1', `CREATE TABLE ${TABLE} (id bigint PRIMARY KEY)`);
  const writers = [clusterWriter(cluster.state, cluster.dir, TABLE, cluster.password)];
  if (options.direct)
    writers.push(
      clusterWriter(cluster.state, cluster.dir, TABLE, cluster.password, {
        to: cluster.node('db1').address,
        firstId: 1_000_000,
      }),
    );
  const sampler = new WritableSampler(cluster.state.nodes, cluster.password, 100);
  sampler.start();
  try {
    for (const writer of writers) writer.start();
    await pollUntil(
      'writes before the fault',
      () => (writers.every((writer) => writer.acked.length > 5) ? true : undefined),
      20_000,
      50,
    );
    await body(writers, sampler);
  } finally {
    for (const writer of writers) await writer.stop();
    await sampler.stop();
  }
  expect(sampler.overlaps).toEqual([]);
  expect(sampler.samples).toBeGreaterThan(20);
}

/** Fills db1's connection slots and waits until its agent reports the database UNKNOWN. */
async function stormOnDb1(cluster: ClusterContext): Promise<ConnectionStorm> {
  const storm = new ConnectionStorm(sqlTarget(cluster.node('db1')), cluster.password, 120_000);
  await storm.start();
  await pollUntil(
    "db1's agent refused (SQLSTATE 53300), its database UNKNOWN",
    async () => (storm.full && (await beatOf(cluster, 'db1'))?.dbStatus === 'UNKNOWN' ? true : undefined),
    30_000,
    100,
  );
  return storm;
}

describe('a database its agent cannot check', () => {
  it('fencing agent: a full primary (its checks refused, UNKNOWN) cut from the store and its peers stops itself before a standby is promoted; no acknowledged row lost', async () => {
    await withLocalCluster({ standbys: 2, witness: true, synchronous: true, fencing: 'agent' }, async (cluster) => {
      const lab = faultTarget(cluster.state);
      await underLoad(cluster, { direct: true }, async (writers, sampler) => {
        const storm = await stormOnDb1(cluster);
        try {
          // Act
          const cutAt = Date.now();
          await cut(lab, 'db1', 'store');
          await cut(lab, 'db1', 'peers');
          // Assess: a standby took over, only after db1 stopped (the sampler), and db1 said why it stopped.
          const primary = await onePrimaryAgain(cluster, cutAt, 'db1');
          expect(sampler.overlaps).toEqual([]);
          expect(readFileSync(cluster.node('db1').agentLog, 'utf8')).toMatch(
            /lease not renewed: stopping the database .*has -?\d+ ms left/,
          );
          for (const writer of writers) await writer.stop();
          await assertNoAcknowledgedRowLost(cluster, primary, writers);
        } finally {
          await storm.stop();
          await heal(lab);
        }
      });
    });
  });

  it('fencing watchdog: a full primary with nothing else wrong keeps renewing its lease, is not killed, and nobody is promoted', async () => {
    await withLocalCluster({ standbys: 2, witness: true }, async (cluster) => {
      await underLoad(cluster, { direct: false }, async () => {
        const storm = await stormOnDb1(cluster);
        try {
          // Act: three lease windows with every new login of db1's agent refused
          const before = await record(cluster);
          const until = Date.now() + 9_000;
          await pollUntil(
            'three lease windows of a full primary',
            async () => {
              const now = await record(cluster);
              expect(now?.term).toBe(1);
              return Date.now() >= until ? now : undefined;
            },
            20_000,
            250,
          );
          // Assess: renewed all along, server alive, the watchdog never fired
          expect((await record(cluster))?.leaseRenewals ?? 0).toBeGreaterThan((before?.leaseRenewals ?? 0) + 10);
          const pid = postmasterPid(cluster.node('db1').dataDir!);
          expect(pid !== undefined && isAlive(pid)).toBe(true);
          expect(await cluster.writableNodes()).toEqual(['db1']);
        } finally {
          await storm.stop();
        }
      });
      expect(await events(cluster)).not.toContain('failover');
    });
  });
});

describe('an agent restarted mid-partition', () => {
  it('fencing agent: the primary cut off, its agent killed and restarted 0.5 s later, fences at the end of the lease its predecessor recorded', async () => {
    await withLocalCluster({ standbys: 2, witness: true, synchronous: true, fencing: 'agent' }, async (cluster) => {
      const lab = faultTarget(cluster.state);
      await underLoad(cluster, { direct: true }, async (writers) => {
        // Act
        const cutAt = Date.now();
        await cut(lab, 'db1', 'store');
        await cut(lab, 'db1', 'peers');
        process.kill(cluster.node('db1').agentPid!, 'SIGKILL');
        await pollUntil('half a second', () => (Date.now() - cutAt >= 500 ? true : undefined), 5000, 20);
        restartAgent(cluster.dir, 'db1');
        try {
          // Assess
          const primary = await onePrimaryAgain(cluster, cutAt, 'db1');
          const log = readFileSync(cluster.node('db1').agentLog, 'utf8');
          expect(log).toMatch(/a lease is recorded for this node's server/);
          expect(log).toMatch(/lease not renewed: stopping the database/);
          for (const writer of writers) await writer.stop();
          await assertNoAcknowledgedRowLost(cluster, primary, writers);
        } finally {
          await heal(lab);
        }
      });
    });
  });
});

describe('a switchover interrupted', () => {
  it('the old primary cut from the store and its peers 200 ms after the switchover is recorded: the cluster fails over or finishes, never halts; no acknowledged row lost', async () => {
    await withLocalCluster({ standbys: 2, witness: true, synchronous: true }, async (cluster) => {
      const lab = faultTarget(cluster.state);
      await underLoad(cluster, { direct: false }, async (writers) => {
        // Act
        const askedAt = Date.now();
        await requestSwitchover(connectLocalStore(cluster.state), cluster.state.cluster, 'db2', 'test', systemClock);
        await pollUntil('200 ms', () => (Date.now() - askedAt >= 200 ? true : undefined), 5000, 10);
        await cut(lab, 'db1', 'store');
        await cut(lab, 'db1', 'peers');
        try {
          // Assess
          const primary = await onePrimaryAgain(cluster, askedAt, 'db1');
          for (const writer of writers) await writer.stop();
          await assertNoAcknowledgedRowLost(cluster, primary, writers);
        } finally {
          await heal(lab);
        }
      });
    });
  });

  it('the target node killed 200 ms after the switchover is recorded: the switchover is abandoned and the cluster has a primary again', async () => {
    await withLocalCluster({ standbys: 2, witness: true, synchronous: true }, async (cluster) => {
      const lab = faultTarget(cluster.state);
      await underLoad(cluster, { direct: false }, async (writers) => {
        // Act
        const askedAt = Date.now();
        await requestSwitchover(connectLocalStore(cluster.state), cluster.state.cluster, 'db2', 'test', systemClock);
        await pollUntil('200 ms', () => (Date.now() - askedAt >= 200 ? true : undefined), 5000, 10);
        await killNode(lab, cluster.node('db2'));
        try {
          // Assess: db1 serves again (it kept serving: its target did not answer, or it is promoted back after
          // its clean stop), or db3 took over; either way the switchover is reported failed, never halted.
          const primary = await onePrimaryAgain(cluster, askedAt, 'db2');
          expect(await events(cluster)).toContain('switchover-failed');
          for (const writer of writers) await writer.stop();
          await assertNoAcknowledgedRowLost(cluster, primary, writers);
        } finally {
          await heal(lab);
        }
      });
    });
  });
});

describe('a double fault', () => {
  it.each([
    ['before the decision', false],
    ['right after the decision (the chosen candidate dies mid-promotion)', true],
  ] as const)(
    'the primary node killed, then the standby it would fail over to, %s: the failover completes on the last standby',
    async (_when, afterDecision) => {
      await withLocalCluster({ standbys: 2, witness: true, synchronous: true }, async (cluster) => {
        const lab = faultTarget(cluster.state);
        await underLoad(cluster, { direct: false }, async (writers) => {
          // Act
          const killedAt = Date.now();
          await killNode(lab, cluster.node('db1'));
          let second = 'db2';
          if (afterDecision) {
            const promoting = await pollUntil(
              'a candidate chosen',
              async () => {
                const now = await record(cluster);
                return now?.phase === 'promoting' ? now : undefined;
              },
              20_000,
              10,
            );
            second = promoting.failover?.toNodeId as string;
          }
          await killNode(lab, cluster.node(second));
          try {
            // Assess
            const primary = await onePrimaryAgain(cluster, killedAt, 'db1');
            expect(primary).not.toBe(second);
            for (const writer of writers) await writer.stop();
            await assertNoAcknowledgedRowLost(cluster, primary, writers);
          } finally {
            await heal(lab);
          }
        });
      });
    },
  );
});

describe('replication trouble is seen', () => {
  it('a synchronous primary cut from both standbys (store, witness and clients still reach it): a WARNING within seconds, cluster-status exits 1 naming it; resolved once healed', async () => {
    await withLocalCluster({ standbys: 2, witness: true, synchronous: true }, async (cluster) => {
      const lab = faultTarget(cluster.state);
      await underLoad(cluster, { direct: false }, async () => {
        // Act
        const cutAt = Date.now();
        await cut(lab, 'db1', ['db2', 'db3']);
        try {
          // Assess
          await pollUntil(
            'the WARNING that commits wait',
            async () => ((await events(cluster)).includes('sync-commits-waiting') ? true : undefined),
            20_000,
            100,
          );
          expect(Date.now() - cutAt).toBeLessThan(20_000);
          const status = await localStatus(cluster.dir);
          expect(status.healthy).toBe(false);
          expect(status.problems.join('\n')).toMatch(
            /commit\(s\) on db1 have waited up to \d+ s for a synchronous standby/,
          );
          expect((await record(cluster))?.term).toBe(1);
        } finally {
          await heal(lab);
        }
        await pollUntil(
          'the alert resolved',
          async () =>
            (await record(cluster))?.alerts.some((a) => a.key.startsWith('sync-commits')) ? undefined : true,
          30_000,
          200,
        );
      });
    });
  });
});
