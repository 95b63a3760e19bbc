// Peer leases in the network lab (issue 24, docs/peer-leases.md): the state store lost for everyone, for the
// primary alone, with a standby down, with a member partitioned mid-outage, and then the primary's node
// killed. Silent faults only (iptables DROP in the lab's router); writes go through the cluster address.

import { describe, expect, it } from 'vitest';
import { cut, faultTarget, heal, killNode, type LabFaultTarget } from '../../cli/local/lab-faults.ts';
import { hasExited } from '../../agent/server-control.ts';
import { postmasterPid } from '../../cli/local/postgres-server.ts';
import type { ClusterWriter } from '../../cli/local/cluster-writer.ts';
import { withLocalCluster, type ClusterContext } from '../support/local-cluster.ts';
import { assertNoAcknowledgedRowLost, events, onePrimaryAgain, record, underLoad } from '../support/outside-faults.ts';
import { pollUntil } from '../support/poll.ts';

const MEMBERS = ['db1', 'db2', 'db3', 'witness'];

/** The longest wait between two acknowledged writes from `fromMs` to `toMs` (wall clock of the acks). */
function longestGapMs(writer: ClusterWriter, fromMs: number, toMs: number): number {
  const times = [fromMs, ...writer.acked.map((ack) => ack.atMs).filter((at) => at > fromMs && at < toMs), toMs];
  return Math.max(...times.slice(1).map((at, index) => at - (times[index] as number)));
}

/** Waits `ms` of wall time (a length of outage, not an assertion). */
async function outageOf(ms: number): Promise<void> {
  const until = Date.now() + ms;
  await pollUntil(`${ms} ms of outage`, () => (Date.now() >= until ? true : undefined), ms + 5000, 200);
}

async function cutFromStore(lab: LabFaultTarget, nodes: string[]): Promise<void> {
  for (const node of nodes) await cut(lab, node, 'store');
}

/** Back to normal: the store heard from db1 again, its term unchanged, nobody else writable. */
async function assertNothingChanged(cluster: ClusterContext, termBefore: number, healedAtMs: number): Promise<void> {
  const primary = await onePrimaryAgain(cluster, healedAtMs);
  expect(primary).toBe('db1');
  // The evaluator keeps deciding after the heal: give it a few rounds to do something wrong.
  await outageOf(3000);
  expect((await record(cluster))?.term).toBe(termBefore);
  expect(await events(cluster)).not.toContain('failover-started');
}

describe('peer leases: the state store lost', () => {
  it('for every member for 30 s, db2 also cut from its peers 10 s in: db1 keeps taking writes throughout; no failover once the store is back', async () => {
    await withLocalCluster({ standbys: 2, witness: true, synchronous: true, peerLeases: true }, async (cluster) => {
      const lab = faultTarget(cluster.state);
      const termBefore = (await record(cluster))?.term ?? 0;
      const server = postmasterPid(cluster.node('db1').dataDir!);
      await underLoad(cluster, { direct: false }, async (writers) => {
        // Act
        const cutAtMs = Date.now();
        await cutFromStore(lab, MEMBERS);
        let healedAtMs = Date.now();
        try {
          await outageOf(10_000);
          await cut(lab, 'db2', 'peers');
          await outageOf(20_000);
        } finally {
          healedAtMs = Date.now();
          await heal(lab);
        }
        // Assess: the same server all along, and writes acknowledged all through the outage.
        expect(server !== undefined && !hasExited(server)).toBe(true);
        expect(longestGapMs(writers[0]!, cutAtMs, healedAtMs)).toBeLessThan(5000);
        await assertNothingChanged(cluster, termBefore, healedAtMs);
        for (const writer of writers) await writer.stop();
        await assertNoAcknowledgedRowLost(cluster, 'db1', writers);
      });
    });
  });

  it('by the primary alone while a standby is down: the other standby and the witness keep it writable; no failover', async () => {
    await withLocalCluster({ standbys: 2, witness: true, synchronous: true, peerLeases: true }, async (cluster) => {
      const lab = faultTarget(cluster.state);
      const termBefore = (await record(cluster))?.term ?? 0;
      const server = postmasterPid(cluster.node('db1').dataDir!);
      await underLoad(cluster, { direct: false }, async (writers) => {
        // Prepare: db3 down, and the evaluator knows it.
        await killNode(lab, cluster.node('db3'));
        // Act
        const cutAtMs = Date.now();
        await cut(lab, 'db1', 'store');
        let healedAtMs = Date.now();
        try {
          await outageOf(15_000);
        } finally {
          healedAtMs = Date.now();
          await heal(lab, 'db1');
        }
        // Assess
        expect(server !== undefined && !hasExited(server)).toBe(true);
        expect(longestGapMs(writers[0]!, cutAtMs, healedAtMs)).toBeLessThan(5000);
        await assertNothingChanged(cluster, termBefore, healedAtMs);
      });
      await heal(lab);
    });
  });

  it("by every member, then the primary's node killed: nobody is promoted while the store is away; once it is back, a failover", async () => {
    await withLocalCluster({ standbys: 2, witness: true, synchronous: true, peerLeases: true }, async (cluster) => {
      const lab = faultTarget(cluster.state);
      const termBefore = (await record(cluster))?.term ?? 0;
      await underLoad(cluster, { direct: false }, async (writers) => {
        // Act
        await cutFromStore(lab, MEMBERS);
        let healedAtMs = Date.now();
        try {
          await outageOf(3000);
          await killNode(lab, cluster.node('db1'));
          await outageOf(10_000);
          // Assess: the store (and the evaluator beside it) heard nothing that could confirm a failure.
          expect((await record(cluster))?.term).toBe(termBefore);
          expect(await cluster.writableNodes()).toEqual([]);
        } finally {
          healedAtMs = Date.now();
          for (const node of ['db2', 'db3', 'witness']) await heal(lab, node);
        }
        const primary = await onePrimaryAgain(cluster, healedAtMs, 'db1');
        expect((await record(cluster))?.term).toBeGreaterThan(termBefore);
        for (const writer of writers) await writer.stop();
        await assertNoAcknowledgedRowLost(cluster, primary, writers);
      });
      await heal(lab);
    });
  });
});
