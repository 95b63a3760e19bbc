// What the evaluator has seen, timed on its own monotonic clock. Agents' clocks are never trusted for
// liveness: a node is alive while its heartbeat sequence keeps changing, the primary's lease runs from
// the moment the evaluator last saw the renewal counter change, and a phase (a failover under way) is
// as old as the evaluator has seen it.
//
// A fresh evaluator (a new Lambda invocation) has seen nothing yet, so it counts every heartbeat, the
// lease and the phase as changed "now": that can only delay a failover, never hasten one.

import type { ClusterRecord, HeartbeatRecord } from './records.ts';

export interface NodeObservation {
  bootId: string;
  seq: number;
  changedAtMonoMs: number;
}

export interface Observations {
  nodes: Record<string, NodeObservation>;
  lease: { term: number; renewals: number; changedAtMonoMs: number } | null;
  /** Since when (monotonic) the cluster has been in this term and phase. */
  phase: { term: number; phase: ClusterRecord['phase']; sinceMonoMs: number } | null;
}

export const NO_OBSERVATIONS: Observations = { nodes: {}, lease: null, phase: null };

export function observe(
  previous: Observations,
  cluster: ClusterRecord,
  heartbeats: readonly HeartbeatRecord[],
  nowMonoMs: number,
): Observations {
  const nodes: Record<string, NodeObservation> = {};
  for (const heartbeat of heartbeats) {
    const before = previous.nodes[heartbeat.nodeId];
    const unchanged = before && before.bootId === heartbeat.bootId && before.seq === heartbeat.seq;
    nodes[heartbeat.nodeId] = unchanged
      ? before
      : { bootId: heartbeat.bootId, seq: heartbeat.seq, changedAtMonoMs: nowMonoMs };
  }
  const lease = previous.lease;
  const leaseUnchanged = lease && lease.term === cluster.term && lease.renewals === cluster.leaseRenewals;
  const phase = previous.phase;
  const phaseUnchanged = phase && phase.term === cluster.term && phase.phase === cluster.phase;
  return {
    nodes,
    lease: leaseUnchanged ? lease : { term: cluster.term, renewals: cluster.leaseRenewals, changedAtMonoMs: nowMonoMs },
    phase: phaseUnchanged ? phase : { term: cluster.term, phase: cluster.phase, sinceMonoMs: nowMonoMs },
  };
}
