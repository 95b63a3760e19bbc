// The four ways the "never two writable primaries" promise used to break, each on the network lab with
// silent faults only (packets dropped in the router, processes paused, a stepped clock, a dead agent),
// each asserting the invariants: sampled every 100 ms, never two servers accepting writes; exactly one
// primary afterwards; with a synchronous standby, no acknowledged row lost, whichever side wrote it.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clusterWriter, type ClusterWriter } from '../../cli/local/cluster-writer.ts';
import { cut, faultTarget, heal, stepClock } from '../../cli/local/lab-faults.ts';
import { connectLocalStore } from '../../cli/local/local-cluster.ts';
import { runInNetns } from '../../cli/local/lab-network.ts';
import { killServer } from '../../agent/server-control.ts';
import type { ClusterRecord } from '../../core/records.ts';
import { withLocalCluster, type ClusterContext } from '../support/local-cluster.ts';
import { pollUntil } from '../support/poll.ts';
import { pauseProcess as pause, resumeProcess as resume } from '../../cli/local/processes.ts';
import { WritableSampler } from '../../cli/local/writable-sampler.ts';

const TABLE = 'nemesis_rows';

async function record(cluster: ClusterContext): Promise<ClusterRecord | undefined> {
  return connectLocalStore(cluster.state).getCluster(cluster.state.cluster);
}

/** Waits for a completed failover away from `oldPrimary`, then checks one writable primary, the recorded one. */
async function failedOverFrom(cluster: ClusterContext, oldPrimary: string, termAtLeast = 2): Promise<string> {
  const done = await pollUntil(
    'a completed failover',
    async () => {
      const now = await record(cluster);
      return now && now.term >= termAtLeast && now.phase === 'steady' && now.primaryNodeId !== oldPrimary
        ? now
        : undefined;
    },
    90_000,
    250,
  );
  const newPrimary = done.primaryNodeId as string;
  await pollUntil(
    'only the new primary to accept writes',
    async () => {
      const writable = await cluster.writableNodes();
      return writable.length === 1 && writable[0] === newPrimary ? true : undefined;
    },
    30_000,
    200,
  );
  return newPrimary;
}

/** Every acknowledged row of every writer is on the new primary. */
async function assertNoAcknowledgedRowLost(
  cluster: ClusterContext,
  primary: string,
  writers: ClusterWriter[],
): Promise<void> {
  const present = new Set(
    (await cluster.sql<{ id: string }>(primary, `SELECT id FROM ${TABLE}`)).map((row) => Number(row.id)),
  );
  const acked = writers.flatMap((writer) => writer.acked.map((ack) => ack.id));
  expect(acked.length).toBeGreaterThan(20);
  expect(acked.filter((id) => !present.has(id))).toEqual([]);
}

async function withSampler(cluster: ClusterContext, body: (sampler: WritableSampler) => Promise<void>): Promise<void> {
  const sampler = new WritableSampler(cluster.state.nodes, cluster.password, 100);
  sampler.start();
  try {
    await body(sampler);
  } finally {
    await sampler.stop();
  }
  expect(sampler.overlaps).toEqual([]);
  expect(sampler.samples).toBeGreaterThan(20);
}

describe('never two writable primaries, with silent faults on the network lab', () => {
  it('silent partition: the primary is cut from the store and its peers but not from its clients; it stops itself before anyone is promoted; with a synchronous standby no acknowledged row is lost', async () => {
    await withLocalCluster({ standbys: 2, witness: true, synchronous: true }, async (cluster) => {
      await cluster.sql('db1', `CREATE TABLE ${TABLE} (id bigint PRIMARY KEY)`);
      const lab = faultTarget(cluster.state);
      // Clients on both sides: one through the cluster address, one straight to the old primary's IP.
      const viaAddress = clusterWriter(cluster.state, cluster.dir, TABLE, cluster.password);
      const direct = clusterWriter(cluster.state, cluster.dir, TABLE, cluster.password, {
        to: cluster.node('db1').address,
        firstId: 1_000_000,
      });
      await withSampler(cluster, async () => {
        viaAddress.start();
        direct.start();
        await pollUntil(
          'writes before the fault',
          () => (viaAddress.acked.length > 10 && direct.acked.length > 10 ? true : undefined),
          20_000,
          50,
        );
        // Act: packets between db1 and the store, and between db1 and every peer, vanish.
        await cut(lab, 'db1', 'store');
        await cut(lab, 'db1', 'peers');
        // Assess: pg_stat_replication on db1 still says its standbys stream (the walsenders have not
        // noticed), yet db1 stops itself, and another node is promoted only after that.
        const newPrimary = await failedOverFrom(cluster, 'db1');
        await viaAddress.stop();
        await direct.stop();
        expect(readFileSync(cluster.node('db1').agentLog, 'utf8')).toMatch(/lease not renewed: stopping the database/);
        await assertNoAcknowledgedRowLost(cluster, newPrimary, [viaAddress, direct]);
        // Healed, the old primary stays down as a standby-to-be, never writable again.
        await heal(lab);
        expect(await cluster.writableNodes()).toEqual([newPrimary]);
      });
    });
  });

  it("clock step: the primary's wall clock steps back 30 s as it is cut off; its lease, timed on the monotonic clock, still ends on time", async () => {
    await withLocalCluster({ standbys: 2, witness: false }, async (cluster) => {
      const lab = faultTarget(cluster.state);
      await withSampler(cluster, async () => {
        // Act
        await stepClock(cluster.node('db1'), '-30s');
        await cut(lab, 'db1', 'all');
        // Assess
        await failedOverFrom(cluster, 'db1');
        const log = readFileSync(cluster.node('db1').agentLog, 'utf8');
        expect(log).toMatch(/lease not renewed: stopping the database/);
        // The step really reached the agent: its last log line carries the stepped (earlier) wall clock.
        const stamps = [...log.matchAll(/"timestamp":"([^"]+)"/g)].map((match) => Date.parse(match[1] ?? ''));
        expect(Date.now() - (stamps.at(-1) ?? Date.now())).toBeGreaterThan(20_000);
      });
    });
  });

  it.each([
    ['paused (SIGSTOP)', 'SIGSTOP'],
    ['dead (SIGKILL)', 'SIGKILL'],
  ] as const)(
    'an agent %s, then its primary cut off: the watchdog stops the old primary before anyone is promoted',
    async (_name, signal) => {
      await withLocalCluster({ standbys: 2, witness: false }, async (cluster) => {
        const lab = faultTarget(cluster.state);
        const agentPid = cluster.node('db1').agentPid!;
        await withSampler(cluster, async () => {
          // Act
          if (signal === 'SIGSTOP') pause(agentPid);
          else process.kill(agentPid, 'SIGKILL');
          try {
            await cut(lab, 'db1', 'store');
            await cut(lab, 'db1', 'peers');
            // Assess
            await failedOverFrom(cluster, 'db1');
          } finally {
            if (signal === 'SIGSTOP') resume(agentPid);
          }
          expect(readFileSync(join(cluster.dir, 'db1', 'watchdog.log'), 'utf8')).toMatch(/fired .*killed the server/);
          if (signal === 'SIGKILL') {
            // Nobody took the address off db1's interface (its agent is dead), yet, as on EC2, the network
            // delivers it only to the new holder: a client through the address reaches the new primary.
            const lab = cluster.state.lab!;
            const onDb1 = await runInNetns(cluster.node('db1').netns!, 'ip', ['-4', 'addr', 'show', 'dev', 'eth0']);
            expect(onDb1).toContain(`${lab.address}/32`);
            const answered = await runInNetns(lab.appNetns, 'env', [
              `PGPASSWORD=${cluster.password}`,
              'psql',
              '-h',
              lab.address,
              '-U',
              'postgres',
              '-At',
              '-c',
              'SHOW unix_socket_directories',
            ]);
            const newPrimary = (await record(cluster))?.primaryNodeId as string;
            expect(answered.trim()).toBe(cluster.node(newPrimary).socketDir);
          }
        });
      });
    },
  );

  it("fencing ec2-stop: an agent paused, then its primary cut off: the evaluator stops the old primary's instance before anyone is promoted", async () => {
    await withLocalCluster({ standbys: 2, witness: false, fencing: 'ec2-stop' }, async (cluster) => {
      const lab = faultTarget(cluster.state);
      const agentPid = cluster.node('db1').agentPid!;
      await withSampler(cluster, async () => {
        // Act: no watchdog here; only the evaluator's stop of the "instance" can end db1.
        pause(agentPid);
        try {
          await cut(lab, 'db1', 'store');
          await cut(lab, 'db1', 'peers');
          // Assess
          await failedOverFrom(cluster, 'db1');
        } finally {
          resume(agentPid);
        }
        const history = (await connectLocalStore(cluster.state).readHistory(cluster.state.cluster, 200)).entries;
        // Either stop rule may ask first: fence-silent-primary when the lease ran out before both standbys'
        // votes arrived, fence-old-primary once the failure was confirmed.
        const stopRules = ['fence-old-primary', 'fence-silent-primary'];
        const stopAsked = history.find((entry) => stopRules.includes(entry.event) && entry.kind === 'decision');
        const promoted = history.find((entry) => entry.event === 'failover' && entry.kind === 'decision');
        expect(stopAsked && promoted && stopAsked.atMs < promoted.atMs).toBe(true);
        expect(history.map((entry) => entry.event)).toContain('fence-requested');
      });
    });
  });

  it("stuck failover: the chosen candidate's agent pauses 8 s during its promotion; the next standby is promoted in a new term, the first never becomes writable", async () => {
    // The fencing hook (1 s) holds the candidate at the start of its promotion long enough to pause it there.
    await withLocalCluster({ standbys: 2, witness: true, fenceHook: 'sleep 1' }, async (cluster) => {
      await withSampler(cluster, async () => {
        // Act: the primary's database dies; as soon as a candidate is chosen, its agent freezes for 8 s.
        killServer(cluster.node('db1').dataDir!);
        const promoting = await pollUntil(
          'a candidate to be chosen',
          async () => {
            const now = await record(cluster);
            return now?.phase === 'promoting' ? now : undefined;
          },
          30_000,
          20,
        );
        const stuck = promoting.failover?.toNodeId as string;
        const agentPid = cluster.node(stuck).agentPid!;
        pause(agentPid);
        const pausedAt = Date.now();
        let newPrimary: string;
        try {
          newPrimary = await failedOverFrom(cluster, 'db1', promoting.term + 1);
        } finally {
          await pollUntil('8 s of pause', () => (Date.now() - pausedAt >= 8000 ? true : undefined), 20_000, 100);
          resume(agentPid);
        }
        // Assess: another standby took over, in a newer term, and the cluster did not halt.
        expect(newPrimary).not.toBe(stuck);
        const history = await connectLocalStore(cluster.state).readHistory(cluster.state.cluster, 200);
        expect(history.entries.map((entry) => entry.event)).toContain('failover-retry');
        expect(history.entries.map((entry) => entry.event)).not.toContain('failover-aborted');
        // The paused candidate, once it runs again, learns the newer term and does not promote.
        await pollUntil(
          'the old candidate to give up its promotion',
          async () => {
            const beats = (await connectLocalStore(cluster.state).readSnapshot(cluster.state.cluster)).heartbeats;
            const beat = beats.find((candidate) => candidate.nodeId === stuck);
            return beat && beat.term > promoting.term ? beat : undefined;
          },
          30_000,
          200,
        );
        expect(await cluster.writableNodes()).toEqual([newPrimary]);
      });
    });
  });
});
