// Faults found from outside, one step beyond the silent ones (2 of 2): a switchover interrupted on either side,
// a double fault, and commits that hang unseen. On the network lab with silent faults only;
// test/support/outside-faults.ts has the checks every case asserts.

import { describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.ts';
import { requestSwitchover } from '../../core/role-change-request.ts';
import { cut, faultTarget, heal, killNode } from '../../cli/local/lab-faults.ts';
import { connectLocalStore, localStatus } from '../../cli/local/local-cluster.ts';
import { withLocalCluster, type ClusterContext } from '../support/local-cluster.ts';
import { assertNoAcknowledgedRowLost, events, onePrimaryAgain, record, underLoad } from '../support/outside-faults.ts';
import { pollUntil } from '../support/poll.ts';

/** Asks for a switchover to `to` and returns when it was asked, `afterMs` later. */
async function switchoverAsked(cluster: ClusterContext, to: string, afterMs: number): Promise<number> {
  const askedAt = Date.now();
  await requestSwitchover(connectLocalStore(cluster.state), cluster.state.cluster, to, 'test', systemClock);
  await pollUntil(`${afterMs} ms`, () => (Date.now() - askedAt >= afterMs ? true : undefined), 5000, 10);
  return askedAt;
}

describe('a switchover interrupted', () => {
  it('the old primary cut from the store and its peers 200 ms after the switchover is recorded: the cluster fails over or finishes, never halts; no acknowledged row lost', async () => {
    await withLocalCluster({ standbys: 2, witness: true, synchronous: true }, async (cluster) => {
      const lab = faultTarget(cluster.state);
      await underLoad(cluster, { direct: false }, async (writers) => {
        // Act
        const askedAt = await switchoverAsked(cluster, 'db2', 200);
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
        const askedAt = await switchoverAsked(cluster, 'db2', 200);
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
