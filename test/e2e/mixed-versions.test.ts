// Mixed versions on a live cluster: while a stand-in for the next release stamps every item of the state
// table as it would write it (a newer store schema, attributes this release does not know), the current
// agents and evaluator carry out a switchover and a failover, and never count an item as invalid.

import { describe, expect, it } from 'vitest';
import { runDrill } from '../../cli/local/drill.ts';
import { connectLocalStore } from '../../cli/local/local-cluster.ts';
import { runCli } from '../support/cli.ts';
import { withLocalCluster } from '../support/local-cluster.ts';
import { NEXT_VERSION, startNextVersionWriter } from '../support/next-version-writer.ts';
import { pollUntil } from '../support/poll.ts';
import { STORE_SCHEMA } from '../../core/store-schema.ts';
import { PGFAILOVER_VERSION } from '../../core/version.ts';

describe('mixed versions with real PostgreSQL', () => {
  it("a switchover and a failover go through while the next release's records share the table", async () => {
    await withLocalCluster({ standbys: 1, witness: true }, async (cluster) => {
      // Prepare
      const writer = startNextVersionWriter({
        endpoint: cluster.state.storeEndpoint,
        table: cluster.state.table,
        cluster: cluster.state.cluster,
      });
      const store = connectLocalStore(cluster.state);
      let stamps = 0;
      try {
        await pollUntil(
          'the cluster record stamped by the next release',
          async () => ((await store.getCluster(cluster.state.cluster))?.writtenBy === NEXT_VERSION ? true : undefined),
          10_000,
          100,
        );
        // Act: a switchover to db2, then db2's database dies.
        const switched = await runCli(['local', 'switchover', '--dir', cluster.dir, '--to', 'db2']);
        expect(switched.code, `${switched.stdout}\n${switched.stderr}`).toBe(0);
        await pollUntil(
          'db1 to follow db2',
          async () =>
            (await cluster.streamingFrom('db2').catch((): string[] => [])).includes('db1') ? true : undefined,
          30_000,
          200,
        );
        const report = await runDrill({ dir: cluster.dir, fault: 'kill-primary-db' });
        // Assess
        expect(report.failedOver, report.steps.join('\n')).toBe(true);
        expect(report.primaryAfter).toBe('db1');
        expect(await cluster.writableNodes()).toEqual(['db1']);
        expect(report.writes.missing).toBe(0);
        const snapshot = await store.readSnapshot(cluster.state.cluster);
        expect(snapshot.invalid).toEqual([]);
        expect(snapshot.heartbeats.map((beat) => beat.nodeId).sort()).toEqual(['db1', 'db2', 'witness']);
      } finally {
        stamps = await writer.stop();
      }
      expect(stamps).toBeGreaterThan(10);
      // What this release writes says so: the next heartbeats carry its schema and version again.
      await pollUntil(
        'a heartbeat stamped by this release',
        async () =>
          (await store.readSnapshot(cluster.state.cluster)).heartbeats.find(
            (beat) => beat.schema === STORE_SCHEMA && beat.writtenBy === PGFAILOVER_VERSION,
          ),
        15_000,
        200,
      );
      const history = (await store.readHistory(cluster.state.cluster, 200)).entries.map((entry) => entry.event);
      expect(history).toEqual(expect.arrayContaining(['switchover-caught-up', 'failover']));
    });
  });
});
