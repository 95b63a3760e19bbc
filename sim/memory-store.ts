// The state table in memory, with DynamoDB's semantics where the protocol leans on them: every write is
// atomic, conditional writes check the same conditions as core/state-store.ts and fail with a
// StoreConflictError carrying the current record, reads are consistent, and records are copied in and out
// (no caller shares an object with the table). Reached through the simulated network (sim/network.ts).

import { StoreConflictError } from '../core/errors.ts';
import {
  clusterRecordSchema,
  heartbeatRecordSchema,
  type ClusterRecord,
  type HeartbeatRecord,
  type HistoryRecord,
  type MembershipRecord,
} from '../core/records.ts';
import type { ClusterSnapshot } from '../core/state-store.ts';

/**
 * What the table holds is copied once, when written, and frozen: a read hands out the stored object itself
 * (cheap, as most requests are reads), and a caller that tried to change a record it read would throw.
 */
function copy<T>(value: T): T {
  return deepFreeze(structuredClone(value));
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

export class MemoryTable {
  cluster: ClusterRecord;
  membership: MembershipRecord;
  readonly heartbeats = new Map<string, HeartbeatRecord>();
  readonly history: HistoryRecord[] = [];
  owner: { owner: string; evaluating: boolean } | undefined;

  constructor(cluster: ClusterRecord, membership: MembershipRecord) {
    this.cluster = copy(cluster);
    this.membership = copy(membership);
  }

  getCluster(): ClusterRecord {
    return this.cluster;
  }

  getMembership(): MembershipRecord {
    return this.membership;
  }

  putHeartbeat(beat: HeartbeatRecord): void {
    heartbeatRecordSchema.parse(beat);
    const current = this.heartbeats.get(beat.nodeId);
    // attribute_not_exists(sk) OR bootId <> :boot OR seq < :seq
    if (current && current.bootId === beat.bootId && current.seq >= beat.seq)
      throw new StoreConflictError(`heartbeat ${beat.nodeId} seq ${beat.seq}`, current);
    this.heartbeats.set(beat.nodeId, copy(beat));
  }

  readSnapshot(): ClusterSnapshot {
    return {
      cluster: this.cluster,
      membership: this.membership,
      heartbeats: [...this.heartbeats.values()],
      rejected: [],
      invalid: [],
    };
  }

  writeCluster(next: ClusterRecord, expected: { version: number; leaseRenewals: number }): void {
    clusterRecordSchema.parse(next);
    if (this.cluster.version !== expected.version || this.cluster.leaseRenewals !== expected.leaseRenewals)
      throw new StoreConflictError(`cluster ${next.cluster} (term ${next.term})`, this.cluster);
    this.cluster = copy(next);
  }

  recordAddressHolder(read: ClusterRecord, holderNodeId: string, movedAtMs: number): void {
    if (this.cluster.version !== read.version || this.cluster.term !== read.term)
      throw new StoreConflictError(`address holder of cluster ${read.cluster}`, this.cluster);
    const failover =
      this.cluster.failover && this.cluster.failover.addressMovedAtMs === null
        ? { ...this.cluster.failover, addressMovedAtMs: movedAtMs }
        : this.cluster.failover;
    this.cluster = copy({
      ...this.cluster,
      address: { ...this.cluster.address, holderNodeId },
      version: read.version + 1,
      updatedAtMs: movedAtMs,
      failover,
    });
  }

  recordNodeStopped(read: ClusterRecord, stoppedAtMs: number): void {
    const fence = this.cluster.fence;
    if (!read.fence) throw new Error(`cluster ${read.cluster} has no fence under way`);
    if (this.cluster.version !== read.version || fence?.nodeId !== read.fence.nodeId || fence.term !== read.fence.term)
      throw new StoreConflictError(`fence of ${read.fence.nodeId}`, this.cluster);
    this.cluster = copy({
      ...this.cluster,
      fence: { ...fence, stoppedAtMs },
      version: read.version + 1,
      updatedAtMs: stoppedAtMs,
    });
  }

  /** renewLease and releaseLease: only while `nodeId` is the primary of `term`; returns the record after. */
  leaseUpdate(nodeId: string, term: number, change: (record: ClusterRecord) => ClusterRecord): ClusterRecord {
    if (this.cluster.term !== term || this.cluster.primaryNodeId !== nodeId)
      throw new StoreConflictError(`lease of ${nodeId} in term ${term}`, this.cluster);
    this.cluster = copy(change(this.cluster));
    return this.cluster;
  }

  /** A member's withdrawal of its down vote: moves the version, only while the term is `term`. */
  withdrawVote(nodeId: string, term: number, nowMs: number): void {
    if (this.cluster.term !== term)
      throw new StoreConflictError(`withdrawal of ${nodeId}'s down vote in term ${term}`, this.cluster);
    this.cluster = copy({ ...this.cluster, version: this.cluster.version + 1, updatedAtMs: nowMs });
  }

  appendHistory(entry: HistoryRecord): void {
    this.history.push(copy(entry));
  }

  /** `pgfailover switchover`: what the CLI writes, conditional on the version it read. */
  askSwitchover(toNodeId: string, nowMs: number): boolean {
    if (this.cluster.phase !== 'steady' || this.cluster.switchover !== null) return false;
    this.cluster = copy({
      ...this.cluster,
      switchover: { toNodeId, requestedAtMs: nowMs, requestedBy: 'sim' },
      version: this.cluster.version + 1,
      updatedAtMs: nowMs,
    });
    clusterRecordSchema.parse(this.cluster);
    return true;
  }
}
