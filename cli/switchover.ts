// `pgfailover switchover`: ask for a planned role change. The request is checked here first (so a DBA
// hears at once that the target is lagging or down) and again by the evaluator, which carries it out:
// the primary stops cleanly, the target receives every byte, then it is promoted and the address moves.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../core/clock.ts';
import { gatherFacts, switchoverVeto } from '../core/decide.ts';
import { StoreConflictError, UsageError } from '../core/errors.ts';
import type { Observations } from '../core/observations.ts';
import type { ClusterSnapshot, StateStore } from '../core/state-store.ts';

/** The CLI cannot watch heartbeats over time; it judges liveness from each agent's own send time. */
function observationsFromSendTimes(snapshot: ClusterSnapshot): Observations {
  return {
    nodes: Object.fromEntries(snapshot.heartbeats.map((beat) => [beat.nodeId, { bootId: beat.bootId, seq: beat.seq, changedAtMs: beat.sentAtMs }])),
    lease: null,
  };
}

export async function requestSwitchover(store: StateStore, cluster: string, toNodeId: string, requestedBy: string, clock: Clock): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const snapshot = await store.readSnapshot(cluster);
    const facts = gatherFacts({ ...snapshot, observations: observationsFromSendTimes(snapshot) }, clock.nowMs());
    const veto = switchoverVeto(facts, toNodeId);
    if (veto) throw new UsageError(`switchover to ${toNodeId} refused: ${veto}. Nothing was changed; see pgfailover cluster-status`);
    const record = snapshot.cluster;
    try {
      await store.writeCluster(
        { ...record, version: record.version + 1, updatedAtMs: clock.nowMs(), switchover: { toNodeId, requestedAtMs: clock.nowMs(), requestedBy } },
        { version: record.version, leaseRenewals: record.leaseRenewals },
      );
      return;
    } catch (error) {
      // The primary renews its lease every second: read again and retry.
      if (!(error instanceof StoreConflictError) || attempt >= 10) throw error;
    }
  }
}

/** Follows the history until the switchover is done or refused; returns true when `toNodeId` is primary. */
export async function followSwitchover(store: StateStore, cluster: string, toNodeId: string, sinceMs: number, timeoutMs: number, write: (line: string) => void): Promise<boolean> {
  const seen = new Set<string>();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { entries } = await store.readHistory(cluster, 100);
    for (const entry of entries.filter((candidate) => candidate.atMs >= sinceMs && !seen.has(candidate.sk))) {
      seen.add(entry.sk);
      write(`+${entry.atMs - sinceMs} ms  ${entry.kind === 'decision' ? 'decision' : entry.severity}  ${entry.event}: ${entry.subject}`);
      if (['switchover-refused', 'switchover-failed', 'failover-aborted'].includes(entry.event)) return false;
    }
    const record = await store.getCluster(cluster);
    if (record?.phase === 'steady' && record.primaryNodeId === toNodeId && record.switchover === null) return true;
    await sleep(200);
  }
  write(`the switchover did not finish within ${timeoutMs} ms; see pgfailover history`);
  return false;
}
