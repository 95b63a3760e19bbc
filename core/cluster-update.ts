// An administrator's change to the cluster record: read, build the next record from what was read, write
// conditioned on the version and the lease renewals read. The primary renews its lease every second, so a
// conflict is normal: read again and rebuild (the builder sees the new state and may refuse now), with
// the backoff of core/conflict-retry.ts.

import { retryConflicts } from './conflict-retry.ts';
import { StoreConflictError } from './errors.ts';
import type { ClusterRecord } from './records.ts';
import type { ClusterSnapshot, StateStore } from './state-store.ts';

export async function updateClusterRecord(
  store: StateStore,
  cluster: string,
  nowMs: () => number,
  build: (snapshot: ClusterSnapshot) => Partial<ClusterRecord>,
): Promise<{ before: ClusterSnapshot; after: ClusterRecord }> {
  return retryConflicts(
    async () => {
      const snapshot = await store.readSnapshot(cluster);
      const record = snapshot.cluster;
      const after: ClusterRecord = { ...record, ...build(snapshot), version: record.version + 1, updatedAtMs: nowMs() };
      await store.writeCluster(after, { version: record.version, leaseRenewals: record.leaseRenewals });
      return { before: snapshot, after };
    },
    (error) => error instanceof StoreConflictError,
  );
}
