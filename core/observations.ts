// What the evaluator has seen, timed on its own clock. Agents' clocks are never trusted for liveness:
// a node is alive while its heartbeat sequence keeps changing, and the primary's lease runs from the
// moment the evaluator last saw the renewal counter change.
//
// A fresh evaluator (a new Lambda invocation) has seen nothing yet, so it counts every heartbeat and the
// lease as renewed "now": that can only delay a failover, never hasten one.

import type { ClusterRecord, HeartbeatRecord } from './records.ts';

export interface NodeObservation {
  bootId: string;
  seq: number;
  changedAtMs: number;
}

export interface Observations {
  nodes: Record<string, NodeObservation>;
  lease: { term: number; renewals: number; changedAtMs: number } | null;
}

export const NO_OBSERVATIONS: Observations = { nodes: {}, lease: null };

export function observe(previous: Observations, cluster: ClusterRecord, heartbeats: readonly HeartbeatRecord[], nowMs: number): Observations {
  const nodes: Record<string, NodeObservation> = {};
  for (const heartbeat of heartbeats) {
    const before = previous.nodes[heartbeat.nodeId];
    const unchanged = before && before.bootId === heartbeat.bootId && before.seq === heartbeat.seq;
    nodes[heartbeat.nodeId] = unchanged ? before : { bootId: heartbeat.bootId, seq: heartbeat.seq, changedAtMs: nowMs };
  }
  const lease = previous.lease;
  const leaseUnchanged = lease && lease.term === cluster.term && lease.renewals === cluster.leaseRenewals;
  return {
    nodes,
    lease: leaseUnchanged ? lease : { term: cluster.term, renewals: cluster.leaseRenewals, changedAtMs: nowMs },
  };
}
