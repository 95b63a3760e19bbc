// The port to the state store, as the agent uses it: heartbeats, the goal, the membership, the lease, the
// history. The real adapter is core/state-store.ts (StateStore), over DynamoDB or dynalite.

import type { ClusterRecord, HeartbeatRecord, HistoryRecord, MembershipRecord } from '../../core/records.ts';

/** The part of the state store the agent uses. */
export interface HeartbeatStore {
  getMembership(cluster: string): Promise<MembershipRecord | undefined>;
  getCluster(cluster: string): Promise<ClusterRecord | undefined>;
  putHeartbeat(heartbeat: HeartbeatRecord): Promise<void>;
  recordRejected(cluster: string, nodeId: string, address: string, reason: string, nowMs: number): Promise<void>;
  deleteRejected(cluster: string, nodeId: string): Promise<void>;
  /** Renews and returns the cluster record as it stands after the renewal. */
  renewLease(cluster: string, nodeId: string, term: number, durationMs: number): Promise<ClusterRecord>;
  releaseLease(cluster: string, nodeId: string, term: number): Promise<void>;
  /** Peer leases: withdraws this member's down vote of `term` (moves the record's version); refused once the term moved. */
  withdrawVote(cluster: string, nodeId: string, term: number, nowMs: number): Promise<void>;
  appendHistory(entry: HistoryRecord): Promise<void>;
}
