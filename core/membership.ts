// EFM's allowed-node and standby-priority semantics as pure functions over the membership record.
// - allow-node adds a node (or updates its address); with a priority it is placed at that position
//   (1 = promoted first among equally up-to-date standbys), without one it goes to the end.
// - Every allowed database node is a promotion candidate: a node cannot be left out of the priority
//   order, only placed in it. A node that must never be promoted runs as a witness.
// - remove-node takes the node out of both lists; its heartbeats are rejected from then on.

import { UsageError } from './errors.ts';
import type { AllowedNode, MembershipRecord } from './records.ts';

export type Membership = Pick<MembershipRecord, 'allowed' | 'priority'>;

export type NodeToAllow = Pick<AllowedNode, 'nodeId' | 'address'> & { role?: AllowedNode['role'] };

export function allowNode(
  membership: Membership,
  nodeToAllow: NodeToAllow,
  priority?: number,
  primaryNodeId: string | null = null,
): Membership {
  const node: AllowedNode = { ...nodeToAllow, role: nodeToAllow.role ?? 'database' };
  const clash = membership.allowed.find((other) => other.address === node.address && other.nodeId !== node.nodeId);
  if (clash) {
    throw new UsageError(
      `address ${node.address} already belongs to node ${clash.nodeId}; remove that node first (pgfailover remove-node ${clash.nodeId}) or give ${node.nodeId} its own address`,
    );
  }
  const allowed = membership.allowed.some((other) => other.nodeId === node.nodeId)
    ? membership.allowed.map((other) => (other.nodeId === node.nodeId ? node : other))
    : [...membership.allowed, node];
  if (priority === undefined)
    return { allowed, priority: [...membership.priority.filter((nodeId) => nodeId !== node.nodeId), node.nodeId] };
  return {
    allowed,
    priority: placeAmongCandidates({ allowed, priority: membership.priority }, node.nodeId, priority, primaryNodeId),
  };
}

export function removeNode(membership: Membership, nodeId: string): Membership {
  if (!membership.allowed.some((node) => node.nodeId === nodeId)) {
    throw new UsageError(
      `node ${nodeId} is not in the allowed node list; nothing to remove (see pgfailover cluster-status)`,
    );
  }
  return {
    allowed: membership.allowed.filter((node) => node.nodeId !== nodeId),
    priority: membership.priority.filter((id) => id !== nodeId),
  };
}

/**
 * Moves `nodeId` to position `priority` of the promotion order (1 = first), counted among the promotion
 * candidates as cluster-status lists them: database nodes other than the primary.
 */
export function setPriority(
  membership: Membership,
  nodeId: string,
  priority: number,
  primaryNodeId: string | null = null,
): Membership {
  if (!membership.allowed.some((node) => node.nodeId === nodeId)) {
    throw new UsageError(
      `node ${nodeId} is not allowed in this cluster; allow it first with pgfailover allow-node ${nodeId} --address ADDRESS`,
    );
  }
  return { allowed: membership.allowed, priority: placeAmongCandidates(membership, nodeId, priority, primaryNodeId) };
}

/** The promotion candidates in promotion order: allowed database nodes other than the primary. */
export function promotionOrder(membership: Membership, primaryNodeId: string | null): string[] {
  const candidate = isCandidate(membership, primaryNodeId);
  return effectivePriority(membership).filter(candidate);
}

function isCandidate(membership: Membership, primaryNodeId: string | null): (nodeId: string) => boolean {
  return (nodeId) =>
    nodeId !== primaryNodeId && membership.allowed.some((node) => node.nodeId === nodeId && node.role === 'database');
}

/** The full promotion order: the explicit list first, then every other allowed node in allow order. */
export function effectivePriority(membership: Membership): string[] {
  const allowedIds = membership.allowed.map((node) => node.nodeId);
  const listed = membership.priority.filter((id) => allowedIds.includes(id));
  return [...listed, ...allowedIds.filter((id) => !listed.includes(id))];
}

export function findAllowed(membership: Membership, nodeId: string): AllowedNode | undefined {
  return membership.allowed.find((node) => node.nodeId === nodeId);
}

/**
 * The whole order with `nodeId` placed so that it is candidate number `priority`: positions count only the
 * candidates, so the primary or a witness listed earlier never shifts them. Past the end means last.
 */
function placeAmongCandidates(
  membership: Membership,
  nodeId: string,
  priority: number,
  primaryNodeId: string | null = null,
): string[] {
  if (!Number.isInteger(priority) || priority < 1) {
    throw new UsageError(`priority must be a whole number from 1 (promoted first); got ${priority}`);
  }
  const others = effectivePriority(membership).filter((id) => id !== nodeId);
  const candidates = others.filter(isCandidate(membership, primaryNodeId));
  const before = candidates[priority - 1];
  const lastCandidate = candidates[candidates.length - 1];
  const index =
    before !== undefined
      ? others.indexOf(before)
      : lastCandidate !== undefined
        ? others.indexOf(lastCandidate) + 1
        : others.length;
  return [...others.slice(0, index), nodeId, ...others.slice(index)];
}

/** What a membership change would do to a running cluster, as the guard sees it. */
export type MembershipChange =
  | { kind: 'allow'; nodeId: string; address: string; role: AllowedNode['role']; priority?: number }
  | { kind: 'remove'; nodeId: string }
  | { kind: 'set-priority'; nodeId: string; priority: number };

export interface RunningCluster {
  /** The primary of the cluster record. */
  primaryNodeId: string | null;
  /** Nodes whose agent reported recently (cluster-status's judgement: its send time and node timeout). */
  liveNodeIds: ReadonlySet<string>;
}

/**
 * Why a membership change would hurt a running cluster, with the safe way to do it; undefined when it is
 * safe. The CLI refuses unless --force is given. EFM accepts all of these and the cluster then has "no
 * primary", rejected heartbeats or a priority list that means something else than it says.
 */
export function membershipChangeVeto(
  membership: Membership,
  change: MembershipChange,
  cluster: RunningCluster,
): string | undefined {
  const existing = findAllowed(membership, change.nodeId);
  const candidates = membership.allowed.filter(
    (node) => node.role === 'database' && node.nodeId !== cluster.primaryNodeId,
  );
  const priorityRange = (priority: number): string | undefined => {
    // Positions 1..n among the standbys (n + 1 for a node not yet among them): anything else means nothing.
    const most = candidates.length + (candidates.some((node) => node.nodeId === change.nodeId) ? 0 : 1);
    return priority > most
      ? `priority ${priority} is past the end of the list of ${most} standby position(s); give 1 to ${most}`
      : undefined;
  };
  switch (change.kind) {
    case 'remove':
      if (change.nodeId === cluster.primaryNodeId) {
        return `${change.nodeId} is the primary of the cluster: removing it leaves the cluster with no primary it will fail over from. Switch over first (pgfailover switchover --to STANDBY), then remove it`;
      }
      return undefined;
    case 'allow':
      if (existing && existing.address !== change.address && cluster.liveNodeIds.has(change.nodeId)) {
        return `${change.nodeId} is running with address ${existing.address}: changing it to ${change.address} makes its heartbeats be rejected. Change "address" in its agent config and restart the agent, then run this again`;
      }
      if (existing && existing.role !== change.role && cluster.liveNodeIds.has(change.nodeId)) {
        return `${change.nodeId} is running as a ${existing.role} node; stop its agent before changing its role`;
      }
      if (change.priority !== undefined) {
        if (change.nodeId === cluster.primaryNodeId)
          return `${change.nodeId} is the primary: it is not a promotion candidate; give it a priority once it is a standby`;
        return priorityRange(change.priority);
      }
      return undefined;
    case 'set-priority':
      if (existing?.role === 'witness')
        return `${change.nodeId} is a witness: it is never promoted, so it has no place in the priority list`;
      if (change.nodeId === cluster.primaryNodeId)
        return `${change.nodeId} is the primary: it is not a promotion candidate; give it a priority once it is a standby`;
      return priorityRange(change.priority);
  }
}

/**
 * Why a node's heartbeat is not accepted (or undefined when it is): the cluster missing, the node not
 * allowed, or allowed at another address. The agent and check-config say the same thing.
 */
export function heartbeatRejection(
  membership: Membership | undefined,
  node: { cluster: string; nodeId: string; address: string },
): string | undefined {
  if (!membership)
    return `cluster ${node.cluster} does not exist in the state table; create it with: pgfailover init --cluster ${node.cluster}`;
  const allowed = findAllowed(membership, node.nodeId);
  if (!allowed)
    return `node ${node.nodeId} is not in the allowed node list of cluster ${node.cluster}; allow it with: pgfailover allow-node --cluster ${node.cluster} ${node.nodeId} --address ${node.address}`;
  if (allowed.address !== node.address)
    return `node ${node.nodeId} is allowed with address ${allowed.address} but this agent reports ${node.address}; fix "address" in the agent config or re-run allow-node with the right address`;
  return undefined;
}
