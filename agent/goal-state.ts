// What this agent knows of the cluster: the newest goal the evaluator wrote (with its term) and the
// membership. Every goal enters through learn(), whether a heartbeat's read or a lease renewal brought it;
// the loops that follow the primary are told of each change.

import { findAllowed } from '../core/membership.ts';
import type { ClusterRecord, MembershipRecord } from '../core/records.ts';
import type { AgentLogger } from './deps.ts';

export interface GoalStateHost {
  /** The primary changed, or this term is new: a new primary renews at once, not a tick later. */
  primaryChanged(): void;
  /** A switchover or failover began: the local database is checked now and then often. */
  roleChangeBegan(): void;
}

export class GoalState {
  /** The newest term seen; a goal from an older one is ignored. */
  term = 0;
  goal: ClusterRecord | undefined;
  membership: MembershipRecord | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly nodeId: string,
    private readonly logger: AgentLogger,
    private readonly host: GoalStateHost,
  ) {}

  /** Every goal carries its term; anything older than what this agent has seen is ignored. */
  learn(cluster: ClusterRecord): void {
    const taken = this.take(cluster);
    if (taken === 'ignored') return;
    this.changed();
    if (taken === 'role-change-began') this.host.roleChangeBegan();
  }

  /** A heartbeat read the membership, and with it (when there is one) the cluster record: one change told. */
  learnMembership(membership: MembershipRecord | undefined, cluster: ClusterRecord | undefined): void {
    this.membership = membership;
    const taken = cluster ? this.take(cluster) : 'ignored';
    this.changed();
    if (taken === 'role-change-began') this.host.roleChangeBegan();
  }

  /** Takes the goal unless it is from an older term. */
  private take(cluster: ClusterRecord): 'ignored' | 'taken' | 'role-change-began' {
    if (cluster.term < this.term) {
      this.logger.warn('ignoring a cluster record from an older term', { seen: this.term, got: cluster.term });
      return 'ignored';
    }
    if (cluster.term > this.term && this.term > 0)
      this.logger.info(
        `cluster term ${cluster.term}: primary is ${cluster.primaryNodeId ?? 'none'} (${cluster.phase})`,
      );
    if (cluster.term !== this.term || cluster.primaryNodeId !== this.goal?.primaryNodeId) this.host.primaryChanged();
    const wasUnderWay = this.roleChangeUnderWay();
    this.term = cluster.term;
    this.goal = cluster;
    return !wasUnderWay && this.roleChangeUnderWay() ? 'role-change-began' : 'taken';
  }

  /** A switchover or failover is in progress in the newest goal. */
  roleChangeUnderWay(): boolean {
    return this.goal !== undefined && this.goal.phase !== 'steady' && this.goal.phase !== 'halted';
  }

  /** The recorded primary when it is another node, which this agent then checks. */
  otherPrimary(): { nodeId: string; address: string } | undefined {
    const nodeId = this.goal?.primaryNodeId ?? null;
    if (!nodeId || nodeId === this.nodeId || !this.membership) return undefined;
    const address = findAllowed(this.membership, nodeId)?.address;
    return address ? { nodeId, address } : undefined;
  }

  /** Calls `listener` after each goal or membership learned; the returned function stops that. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  private changed(): void {
    this.listeners.forEach((listener) => listener());
  }
}
