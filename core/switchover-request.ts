// Asking for a planned switchover: checked here (so the person asking hears at once that the target is
// lagging or down) and again by the evaluator, which carries it out. Shared by the CLI and the
// switchover Lambda.

import type { Clock } from './clock.ts';
import { gatherFacts, switchoverVeto } from './decide.ts';
import { StoreConflictError, UsageError } from './errors.ts';
import type { Observations } from './observations.ts';
import type { ClusterSnapshot, StateStore } from './state-store.ts';

/**
 * A one-off reader cannot watch heartbeats over time; it judges liveness from each agent's own send time,
 * so its "monotonic" time base is the wall clock of the records. Only a precheck: the evaluator decides
 * on its own observations.
 */
function observationsFromSendTimes(snapshot: ClusterSnapshot): Observations {
  return {
    nodes: Object.fromEntries(
      snapshot.heartbeats.map((beat) => [
        beat.nodeId,
        { bootId: beat.bootId, seq: beat.seq, changedAtMonoMs: beat.sentAtMs },
      ]),
    ),
    lease: null,
    phase: null,
  };
}

export async function requestSwitchover(
  store: StateStore,
  cluster: string,
  toNodeId: string,
  requestedBy: string,
  clock: Clock,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const snapshot = await store.readSnapshot(cluster);
    const facts = gatherFacts(
      { ...snapshot, observations: observationsFromSendTimes(snapshot) },
      { wallMs: clock.nowMs(), monoMs: clock.nowMs() },
    );
    const veto = switchoverVeto(facts, toNodeId);
    if (veto)
      throw new UsageError(
        `switchover to ${toNodeId} refused: ${veto}. Nothing was changed; see pgfailover cluster-status`,
      );
    const record = snapshot.cluster;
    try {
      await store.writeCluster(
        {
          ...record,
          version: record.version + 1,
          updatedAtMs: clock.nowMs(),
          switchover: { toNodeId, requestedAtMs: clock.nowMs(), requestedBy },
        },
        { version: record.version, leaseRenewals: record.leaseRenewals },
      );
      return;
    } catch (error) {
      // The primary renews its lease every second: read again and retry.
      if (!(error instanceof StoreConflictError) || attempt >= 10) throw error;
    }
  }
}
