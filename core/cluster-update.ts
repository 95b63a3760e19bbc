// An administrator's change to the cluster record: read, build the next record from what was read, write
// conditioned on the version and the lease renewals read. The primary renews its lease every second, so a
// conflict is normal: read again and rebuild (the builder sees the new state and may refuse now).

import { StoreConflictError } from './errors.ts';
import type { ClusterRecord } from './records.ts';
import type { ClusterSnapshot, StateStore } from './state-store.ts';

const ATTEMPTS = 10;

export async function updateClusterRecord(
  store: StateStore,
  cluster: string,
  nowMs: () => number,
  build: (snapshot: ClusterSnapshot) => Partial<ClusterRecord>,
): Promise<{ before: ClusterSnapshot; after: ClusterRecord }> {
  for (let attempt = 1; ; attempt++) {
    const snapshot = await store.readSnapshot(cluster);
    const record = snapshot.cluster;
    const after: ClusterRecord = { ...record, ...build(snapshot), version: record.version + 1, updatedAtMs: nowMs() };
    try {
      await store.writeCluster(after, { version: record.version, leaseRenewals: record.leaseRenewals });
      return { before: snapshot, after };
    } catch (error) {
      if (!(error instanceof StoreConflictError) || attempt >= ATTEMPTS) throw error;
    }
  }
}
