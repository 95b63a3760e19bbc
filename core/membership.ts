// EFM's allowed-node and standby-priority semantics as pure functions over the membership record.
// - allow-node adds a node (or updates its address); with a priority it is placed at that position
//   (1 = promoted first among equally up-to-date standbys), without one it goes to the end.
// - Every allowed database node is a promotion candidate: a node cannot be left out of the priority
//   order, only placed in it. A node that must never be promoted runs as a witness.
// - remove-node takes the node out of both lists; its heartbeats are rejected from then on.

import { UsageError } from './errors.ts';
import type { AllowedNode, MembershipRecord } from './records.ts';

export type Membership = Pick<MembershipRecord, 'allowed' | 'priority'>;

export type NodeToAllow = Omit<AllowedNode, 'role'> & { role?: AllowedNode['role'] };

export function allowNode(membership: Membership, nodeToAllow: NodeToAllow, priority?: number): Membership {
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
  const withoutNode = membership.priority.filter((nodeId) => nodeId !== node.nodeId);
  return { allowed, priority: insertAt(withoutNode, node.nodeId, priority) };
}

export function removeNode(membership: Membership, nodeId: string): Membership {
  if (!membership.allowed.some((node) => node.nodeId === nodeId)) {
    throw new UsageError(`node ${nodeId} is not in the allowed node list; nothing to remove (see pgfailover cluster-status)`);
  }
  return {
    allowed: membership.allowed.filter((node) => node.nodeId !== nodeId),
    priority: membership.priority.filter((id) => id !== nodeId),
  };
}

export function setPriority(membership: Membership, nodeId: string, priority: number): Membership {
  if (!membership.allowed.some((node) => node.nodeId === nodeId)) {
    throw new UsageError(`node ${nodeId} is not allowed in this cluster; allow it first with pgfailover allow-node ${nodeId} --address ADDRESS`);
  }
  const withoutNode = membership.priority.filter((id) => id !== nodeId);
  return { allowed: membership.allowed, priority: insertAt(withoutNode, nodeId, priority) };
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

function insertAt(list: string[], nodeId: string, priority: number | undefined): string[] {
  if (priority === undefined) return [...list, nodeId];
  if (!Number.isInteger(priority) || priority < 1) {
    throw new UsageError(`priority must be a whole number from 1 (promoted first); got ${priority}`);
  }
  // A priority past the end means "last", as EFM treats it.
  const index = Math.min(priority - 1, list.length);
  return [...list.slice(0, index), nodeId, ...list.slice(index)];
}
