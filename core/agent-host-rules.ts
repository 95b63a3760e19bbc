// Two more of the agent's decisions, as rows: when PostgreSQL may start on this host (the boot-time fence,
// systemd Type=notify), and when the cluster's secondary IP is on this host's interface. Pure; the agent
// (agent/agent.ts) builds the view and carries the answer out.

import type { ClusterRecord } from './records.ts';

export interface HostRow<V, A> {
  id: string;
  when: (view: V) => boolean;
  answer: (view: V) => A;
}

function firstRow<V, A>(rows: readonly HostRow<V, A>[], view: V): { rule: string; answer: A } {
  const row = rows.find((candidate) => candidate.when(view)) as HostRow<V, A>;
  return { rule: row.id, answer: row.answer(view) };
}

// ---- boot safety ----------------------------------------------------------------------------------

export interface BootView {
  witness: boolean;
  nodeId: string;
  /** The newest goal read, or null before the first. */
  goal: (Pick<ClusterRecord, 'term' | 'primaryNodeId'> & { failoverRecorded: boolean }) | null;
  seenTerm: number;
  /** standby.signal is in the data directory (read only when a row asks). */
  readonly markedStandby: boolean;
}

/**
 * Why starting PostgreSQL now cannot make a second writable primary, or undefined while it might (PostgreSQL
 * waits). The last row always holds.
 */
export const BOOT_RULES: readonly HostRow<BootView, string | undefined>[] = [
  { id: 'witness-reads-goal', when: (v) => v.witness && v.goal !== null, answer: () => 'a witness has no database' },
  { id: 'witness-before-goal', when: (v) => v.witness, answer: () => undefined },
  {
    id: 'marked-standby',
    when: (v) => v.markedStandby,
    answer: () => 'standby.signal is in the data directory: PostgreSQL can only start as a standby',
  },
  {
    id: 'primary-of-term',
    when: (v) => v.goal !== null && v.goal.term === v.seenTerm && v.goal.primaryNodeId === v.nodeId,
    answer: (v) => `this node is the primary of term ${v.goal?.term ?? '?'}`,
  },
  {
    // A new cluster whose primary the evaluator has not recorded yet (never a role change): its standbys hold
    // standby.signal from their base backup, so the one unmarked server is the primary-to-be; the evaluator
    // records it only when exactly one node is writable.
    id: 'new-cluster',
    when: (v) => v.goal !== null && v.goal.primaryNodeId === null && !v.goal.failoverRecorded && v.goal.term <= 1,
    answer: () => 'a new cluster with no primary recorded yet: the evaluator records the only writable node',
  },
  { id: 'might-be-second-primary', when: () => true, answer: () => undefined },
];

export function bootSafety(view: BootView): string | undefined {
  return firstRow(BOOT_RULES, view).answer;
}

// ---- the boot gate: PostgreSQL's own unit asks before its server starts ----------------------------------

export interface GateView {
  nodeId: string;
  /** The cluster record just read (consistently), or null when the store holds none for this cluster. */
  goal: (Pick<ClusterRecord, 'term' | 'primaryNodeId'> & { failoverRecorded: boolean }) | null;
  /** standby.signal is in the data directory. */
  readonly markedStandby: boolean;
}

export type GateAnswer =
  | { start: true; why: string }
  /** Write standby.signal (following `primaryNodeId`, when there is one) first; then the server may start. */
  | { start: false; markStandby: true; primaryNodeId: string | null; why: string };

/**
 * The drop-in's ExecStartPre (pgfailover-agent --boot-gate) runs in PostgreSQL's unit, so every start of the
 * server (a boot, systemctl start, a restart the agent asks for) passes it, while the agent's own restarts
 * never touch the server. It reads the term itself rather than wait on the agent; where the agent would mark
 * a stopped old primary a standby (bootSafety finds no reason to start), the gate does, and lets it start.
 */
export function bootGate(view: GateView): { rule: string; answer: GateAnswer } {
  if (view.goal === null)
    return {
      rule: 'no-cluster-record',
      answer: {
        start: true,
        why: 'the store holds no record of this cluster: nobody can have been promoted in its place',
      },
    };
  const why = bootSafety({
    witness: false,
    nodeId: view.nodeId,
    goal: view.goal,
    seenTerm: view.goal.term,
    markedStandby: view.markedStandby,
  });
  if (why) return { rule: 'safe', answer: { start: true, why } };
  const primary = view.goal.primaryNodeId;
  return {
    rule: 'mark-standby',
    answer: {
      start: false,
      markStandby: true,
      primaryNodeId: primary,
      why: `term ${view.goal.term} names ${primary ?? 'no primary'}, not ${view.nodeId}: it comes back as a standby${primary ? ` of ${primary}` : ''} (pgfailover rejoin if it has diverged)`,
    },
  };
}

// ---- the secondary IP on this host ----------------------------------------------------------------

export interface AddressView {
  /** The cluster's secondary IP, or null when the cluster's address is not one (nothing on the interface). */
  ip: string | null;
  /** The goal names this node primary, in the term this agent has seen. */
  primaryOfTerm: boolean;
  phase: ClusterRecord['phase'];
  /** This term's switchover has stopped this node's server. */
  demoteStopped: boolean;
  writable: boolean;
  /** The address this host holds now, or null. */
  holding: string | null;
  /** This node is promoting in this term (just before and during pg_promote()). */
  promotingNow: boolean;
}

/**
 * Whether the address is on this host's interface. Taken when the server is writable, or just before
 * pg_promote(); then kept while this node is the primary of the term, its server down or not: until the
 * address moves, a client sent here is refused at once rather than dropped. Holding it where the network
 * does not send it is harmless (the network delivers it to the holder of record only).
 */
export const ADDRESS_RULES: readonly HostRow<AddressView, boolean>[] = [
  { id: 'no-secondary-ip', when: (v) => v.ip === null, answer: () => false },
  { id: 'not-the-primary', when: (v) => !v.primaryOfTerm, answer: () => false },
  { id: 'halted', when: (v) => v.phase === 'halted', answer: () => false },
  // A switchover's primary lets it go once its server has exited (not during the shutdown, which would cut
  // handshakes in half and leave a child the fast shutdown waits for).
  { id: 'switchover-stopped', when: (v) => v.demoteStopped, answer: () => false },
  { id: 'writable', when: (v) => v.writable, answer: () => true },
  { id: 'already-held', when: (v) => v.holding !== null && v.holding === v.ip, answer: () => true },
  { id: 'promoting', when: (v) => v.phase === 'promoting' && v.promotingNow, answer: () => true },
  { id: 'not-yet', when: () => true, answer: () => false },
];

export function holdsAddress(view: AddressView): boolean {
  return firstRow(ADDRESS_RULES, view).answer;
}
