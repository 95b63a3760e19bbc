// What a node does about the goal the evaluator wrote: every rule of the agent, as data, in one table.
// Pure: a view of the node (its database, its lease, its progress in the current term) in, the next
// step and why out. The agent (agent/agent.ts) builds the view, carries the step out through its ports,
// and records the step in its progress, which it keeps on disk per term (pg_auto_failover's keeper keeps
// its state file the same way), so that a restart neither repeats a step nor forgets one.

import type { ClusterRecord } from './records.ts';

/** The steps a node can take; each is carried out by the agent's executor. */
export type AgentStep =
  | 'self-fence'
  | 'demote'
  | 'promote'
  | 'post-promotion-hook'
  | 'fence-and-release'
  | 'fence'
  | 'mark-standby'
  | 'rejoin'
  | 'repoint'
  | 'report-repointed';

/** Steps done in one term, as kept in the agent's state file. */
export interface AgentProgress {
  term: number;
  done: AgentStep[];
}

export interface AgentView {
  witness: boolean;
  nodeId: string;
  /** The newest goal this agent has read, or null before the first. */
  goal:
    | (Pick<ClusterRecord, 'term' | 'phase' | 'primaryNodeId' | 'leaseReleased'> & {
        switchoverTo: string | null;
        /** The cluster is paused for maintenance (pgfailover pause). */
        paused: boolean;
        /** An administrator asked for a manual failover (pgfailover promote). */
        promotionAsked: boolean;
        /** The cluster's policy: a stopped non-primary database rejoins by itself. */
        autoRejoin: boolean;
      })
    | null;
  /** The highest term this agent has seen: older goals are ignored. */
  seenTerm: number;
  db: {
    status: 'UP' | 'DOWN' | 'UNKNOWN';
    /** Known only while UP. */
    writable: boolean;
    inRecovery: boolean;
    /**
     * What the last check that could read the server's role found (true: in recovery), kept while later
     * checks cannot read it (UNKNOWN: a full server, a locked-out role, a check under way); null before any.
     */
    lastSeenInRecovery: boolean | null;
    /** Where its WAL receiver streams from ("host:port"). */
    upstream: string | null;
  };
  /** "host:port" of the goal's primary, when it is in the membership. */
  primaryAddress: string | null;
  /** standby.signal is in the data directory. */
  markedStandby: boolean;
  /**
   * A rejoin (pgfailover rejoin, local heal, or this agent's own) holds the data directory's rejoin lock: it
   * takes standby.signal away for pg_rewind's crash recovery, which refuses one, and puts it back itself.
   */
  rejoinUnderWay: boolean;
  /** This term's switchover has stopped this primary's server cleanly (the demote step's stop is over). */
  demoteStopped: boolean;
  /** This agent's own remote check finds the goal's primary database answering. */
  primaryAnswers: boolean;
  /**
   * The lease this node's server may hold, on the host's monotonic clock: ms left (negative once over), or
   * null when it holds none: never taken, or given up by a fence or a clean stop since. An agent restarted
   * beside a running server starts from the lease its predecessor recorded (agent/lease-file.ts).
   */
  leaseRemainingMs: number | null;
  /** EFM's stop.isolated.primary, and whether a lease may be expected (one is recorded, or the first heartbeat was attempted). */
  selfFenceEnabled: boolean;
  /** How long before the lease ends a primary stops its database. */
  fenceLeadMs: number;
  hasPostPromotionHook: boolean;
  progress: AgentProgress;
}

export interface AgentRule {
  id: string;
  when: (view: AgentView) => boolean;
  /** null: nothing to do now. */
  step: AgentStep | null;
  reason: (view: AgentView) => string;
}

const done = (view: AgentView, step: AgentStep): boolean =>
  view.goal !== null && view.progress.term === view.goal.term && view.progress.done.includes(step);
const mine = (view: AgentView): boolean => view.goal?.primaryNodeId === view.nodeId;
const phase = (view: AgentView): ClusterRecord['phase'] | undefined => view.goal?.phase;

/** Paused, and nobody asked for a manual failover (which ends the leniency for the failed primary). */
const maintenance = (view: AgentView): boolean => view.goal?.paused === true && !view.goal.promotionAsked;

/**
 * The server may be accepting writes: the latest check did not see it in recovery. UNKNOWN and DOWN count
 * as writable here, the safe side for a fence: a full server, a locked-out monitoring role or a hung check
 * says nothing about whether clients commit on the sessions they hold, and stopping a stopped server is
 * harmless.
 */
export function mayBeWritable(view: AgentView): boolean {
  return !(view.db.status === 'UP' && view.db.inRecovery);
}

/**
 * A server that answers its checks with its role unknown (a login refused for a full server or a locked-out
 * role, a check that failed once and awaits its final one) and was not last seen in recovery: still the
 * primary as far as anyone knows. Never fail over on unknown, so such a primary keeps its lease.
 */
function unknownButPrimary(view: AgentView): boolean {
  return view.db.status === 'UNKNOWN' && view.db.lastSeenInRecovery !== true;
}

/**
 * The self-fence is due: the server may be writable and its lease ends within the fence lead (or a server
 * known writable holds none at all). An UNKNOWN server never postpones it: the immediate-shutdown signal
 * needs no connection.
 */
function leaseEnding(view: AgentView): boolean {
  if (!view.selfFenceEnabled || !mayBeWritable(view)) return false;
  return view.leaseRemainingMs === null ? view.db.writable : view.leaseRemainingMs <= view.fenceLeadMs;
}

/**
 * Whether this node renews the primary's lease now: a writable primary of the current term does; so does
 * a paused cluster's primary whose database is stopped for maintenance, so that it may come back as the
 * primary (its lease never lapses) and nobody may be promoted in its place meanwhile. A manual failover
 * asked for ends that: the primary then fences and releases, as without the pause.
 */
export function renewsLease(view: AgentView): boolean {
  return (RENEWAL_RULES.find((row) => row.when(view)) as RenewalRule).renews(view);
}

export interface RenewalRule {
  id: string;
  when: (view: AgentView) => boolean;
  renews: (view: AgentView) => boolean;
}

/** renewsLease's table: the first row whose `when` holds decides. */
export const RENEWAL_RULES: RenewalRule[] = [
  {
    id: 'not-the-primary-of-this-term',
    when: (v) => !mine(v) || v.goal === null || v.goal.term !== v.seenTerm,
    renews: () => false,
  },
  {
    // A switchover's clean stop is under this agent's own hand, and its checks see the server go: the lease
    // is kept until the server has exited, and given up then.
    id: 'demoting',
    when: (v) => phase(v) === 'demoting' && done(v, 'demote'),
    renews: (v) => !v.demoteStopped,
  },
  {
    // Never fail over on unknown: a server that answers only to refuse a check keeps its lease.
    id: 'may-be-writable',
    when: (v) => v.db.writable || unknownButPrimary(v),
    renews: () => true,
  },
  {
    id: 'maintenance',
    when: () => true,
    renews: (v) => maintenance(v) && phase(v) === 'steady' && v.db.status !== 'UP' && v.goal?.leaseReleased === false,
  },
];

/** Tried top to bottom; the first row whose `when` holds decides. */
export const AGENT_RULES: AgentRule[] = [
  {
    // First, whatever else is going on: a server that may be writable and whose lease is running out stops
    // itself, whether or not its checks can tell its role (mayBeWritable).
    id: 'lease-expiring',
    when: leaseEnding,
    step: 'self-fence',
    reason: (v) =>
      `the lease ${v.leaseRemainingMs === null ? 'is not held' : `has ${v.leaseRemainingMs} ms left`} and could not be renewed: stop the database before it runs out`,
  },
  { id: 'witness', when: (v) => v.witness, step: null, reason: () => 'a witness has no database to act on' },
  { id: 'no-goal', when: (v) => v.goal === null, step: null, reason: () => 'no goal read yet' },
  {
    id: 'stale-goal',
    when: (v) => (v.goal?.term ?? 0) < v.seenTerm,
    step: null,
    reason: (v) => `goal of term ${v.goal?.term ?? 0} is older than term ${v.seenTerm}, already seen`,
  },
  {
    id: 'demote-for-switchover',
    when: (v) =>
      mine(v) && phase(v) === 'demoting' && v.goal?.switchoverTo !== null && v.db.writable && !done(v, 'demote'),
    step: 'demote',
    reason: (v) => `switchover to ${v.goal?.switchoverTo ?? '?'}: stop cleanly and follow it`,
  },
  {
    id: 'promote',
    when: (v) => mine(v) && phase(v) === 'promoting' && v.db.status === 'UP' && !done(v, 'promote'),
    step: 'promote',
    reason: (v) => `chosen to be the primary of term ${v.goal?.term ?? '?'}`,
  },
  {
    id: 'post-promotion-hook',
    when: (v) =>
      mine(v) &&
      (phase(v) === 'promoted' || phase(v) === 'steady') &&
      done(v, 'promote') &&
      v.hasPostPromotionHook &&
      !done(v, 'post-promotion-hook'),
    step: 'post-promotion-hook',
    reason: () => 'promoted, and the address has moved: run the post-promotion hook',
  },
  {
    // Maintenance: the DBA stopped it to restart or upgrade it; it keeps its lease (renewsLease) and role.
    id: 'paused-database-down',
    when: (v) =>
      mine(v) && phase(v) === 'steady' && v.db.status === 'DOWN' && maintenance(v) && v.goal?.leaseReleased === false,
    step: null,
    reason: () =>
      'the cluster is paused: the primary database is down and left alone (no fence); its lease is kept so nobody is promoted in its place',
  },
  {
    id: 'own-database-down',
    when: (v) => mine(v) && phase(v) === 'steady' && v.db.status === 'DOWN' && v.goal?.leaseReleased === false,
    step: 'fence-and-release',
    reason: () => 'the primary database is down: fence it, then release the lease so nobody waits it out',
  },
  { id: 'primary-nothing-to-do', when: (v) => mine(v), step: null, reason: () => 'the primary of the current term' },
  {
    id: 'primary-unknown',
    when: (v) => v.goal?.primaryNodeId === null || v.primaryAddress === null,
    step: null,
    reason: () => 'no primary, or its address is unknown',
  },
  {
    id: 'second-primary',
    when: (v) => v.db.writable && !done(v, 'fence'),
    step: 'fence',
    reason: (v) =>
      `${v.goal?.primaryNodeId ?? '?'} is the primary of term ${v.goal?.term ?? '?'}; this writable database must stop and return only as its standby`,
  },
  {
    // After second-primary (a rejoin never leaves a writable server), before down-not-marked: writing
    // standby.signal under a running pg_rewind makes its crash recovery fail and the rejoin copy afresh.
    id: 'rejoin-under-way',
    when: (v) => v.rejoinUnderWay,
    step: null,
    reason: () => 'a rejoin of this database is under way: its data directory is left to it',
  },
  {
    id: 'down-not-marked',
    when: (v) => v.db.status === 'DOWN' && !v.markedStandby && !done(v, 'fence'),
    step: 'mark-standby',
    reason: (v) =>
      `${v.goal?.primaryNodeId ?? '?'} is the primary of term ${v.goal?.term ?? '?'}; write standby.signal so whatever restarts this node brings it back as a standby`,
  },
  {
    // After down-not-marked, so that whatever happens it comes back as a standby; once per term, so a
    // rejoin that failed is left to a person (pgfailover rejoin) rather than retried in a loop.
    id: 'auto-rejoin',
    when: (v) =>
      v.goal?.autoRejoin === true &&
      !v.goal.paused &&
      phase(v) === 'steady' &&
      v.db.status === 'DOWN' &&
      v.markedStandby &&
      v.primaryAnswers &&
      !done(v, 'rejoin'),
    step: 'rejoin',
    reason: (v) =>
      `automatic rejoin: this database is stopped and ${v.goal?.primaryNodeId ?? '?'} is the primary; rewind (or copy) it from there and start it as its standby`,
  },
  {
    id: 'streams-from-new-primary',
    when: (v) =>
      v.db.status === 'UP' &&
      v.db.inRecovery &&
      (phase(v) === 'promoted' || phase(v) === 'steady') &&
      v.db.upstream === v.primaryAddress &&
      !done(v, 'report-repointed'),
    step: 'report-repointed',
    reason: (v) => `streaming from ${v.goal?.primaryNodeId ?? '?'} at ${v.primaryAddress ?? '?'}`,
  },
  {
    id: 'repoint',
    when: (v) =>
      v.db.status === 'UP' &&
      v.db.inRecovery &&
      (phase(v) === 'promoted' || phase(v) === 'steady') &&
      v.db.upstream !== v.primaryAddress &&
      !done(v, 'repoint') &&
      !done(v, 'report-repointed'),
    step: 'repoint',
    reason: (v) => `follow ${v.goal?.primaryNodeId ?? '?'} at ${v.primaryAddress ?? '?'}`,
  },
  { id: 'standby-nothing-to-do', when: () => true, step: null, reason: () => 'nothing to do' },
];

/**
 * The lease watch's question, the table's first row alone: is the self-fence due now, and why? It reads no
 * file (the view's files are read only when a row asks), so it may be asked at every tick.
 */
export function selfFenceDue(view: AgentView): string | undefined {
  const row = AGENT_RULES[0] as AgentRule;
  return row.when(view) ? row.reason(view) : undefined;
}

export function nextStep(view: AgentView): { rule: string; step: AgentStep | null; reason: string } {
  const rule = AGENT_RULES.find((candidate) => candidate.when(view)) as AgentRule;
  return { rule: rule.id, step: rule.step, reason: rule.reason(view) };
}

/** The progress with `step` not done: it was refused before it touched anything, and may be tried again. */
export function withoutStep(progress: AgentProgress, step: AgentStep): AgentProgress {
  return { term: progress.term, done: progress.done.filter((done) => done !== step) };
}

/** The progress after `step` was done in `term` (a newer term starts afresh). */
export function recordStep(progress: AgentProgress, term: number, step: AgentStep): AgentProgress {
  const base = progress.term === term ? progress : { term, done: [] };
  return base.done.includes(step) ? base : { term, done: [...base.done, step] };
}
