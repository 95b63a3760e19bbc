// The failover decision: one pure function, cluster snapshot + the evaluator's observations + its clock
// in, the next cluster record + actions + notices + a reason out. No I/O. The evaluator, the switchover
// path and the CLI all call it; every failover rule of the product is in this file.
//
// The cluster record is a goal state (as in pg_auto_failover's monitor): the decision writes who should
// be primary in which term and in which phase; agents converge on it (the candidate promotes, standbys
// repoint, the old primary fences) and report back in their heartbeats; the next decision moves on.

import { heartbeatLive } from './liveness.ts';
import type { Instant } from './clock.ts';
import { leaseWindowMs } from './lease-timing.ts';
import { compareLsn, isLsn, lsnLagBytes, standbyPosition } from './lsn.ts';
import { effectivePriority } from './membership.ts';
import { makeNotice, type Notice } from './notices.ts';
import { replicationTrouble } from './replication-health.ts';
import type { Observations } from './observations.ts';
import type { AllowedNode, ClusterRecord, HeartbeatRecord, MembershipRecord, Severity } from './records.ts';

export interface EvaluationInput {
  cluster: ClusterRecord;
  membership: MembershipRecord;
  heartbeats: readonly HeartbeatRecord[];
  observations: Observations;
}

export type Action =
  { kind: 'move-address'; toNodeId: string; term: number } | { kind: 'fence-node'; nodeId: string; term: number };

/** Every row's id, across the phases' tables below: the history, the logs and the metrics name rules by it. */
export const RULE_IDS = [
  'address-not-on-primary',
  'no-primary-recorded',
  'primary-demoted',
  'switchover-refused',
  'switchover-started',
  'promotion-refused',
  'primary-healthy',
  'primary-db-unknown',
  'primary-agent-left',
  'fence-silent-primary',
  'failure-unconfirmed',
  'paused',
  'lease-valid',
  'auto-failover-off',
  'no-candidate',
  'fence-old-primary',
  'old-primary-unfenced',
  'failover',
  'fence-hook-refused',
  'candidate-promoted',
  'candidate-gone-lease-valid',
  'fence-lost-candidate',
  'candidate-lost-unfenceable',
  'candidate-gone-no-other',
  'failover-retry',
  'awaiting-promotion',
  'failover-completed',
  'awaiting-repoint',
  'demote-failed',
  'switchover-caught-up',
  'switchover-abandoned',
  'awaiting-demotion',
  'halted',
] as const;
export type RuleId = (typeof RULE_IDS)[number];

export interface Decision {
  /** The rule that decided, as named in the tables below. */
  rule: RuleId;
  reason: string;
  /** The record to write, conditioned on `cluster.version` (and the observed lease), or null. */
  next: ClusterRecord | null;
  /** For a failover: the renewal count the lease expiry was judged on; the write must still see it. */
  expectLeaseRenewals: number | null;
  /** Run before the write; idempotent, so a retry by another evaluator does no harm. */
  actions: Action[];
  /** Sent after the write wins, never otherwise, so overlapping evaluators do not double-notify. */
  notices: Notice[];
  /**
   * When the facts alone will change this decision (a lease running out), in ms from now: the evaluator
   * looks again then rather than at its next tick. Null when only new reports can change it.
   */
  recheckInMs: number | null;
}

/** A node allowed this recently that has not reported yet is not alerted on. */
export const NEVER_REPORTED_GRACE_MS = 30_000;

/** How long the evaluator waits for standbys to follow a new primary before calling the failover done. */
export const REPOINT_DEADLINE_MS = 60_000;

// ---------------------------------------------------------------------------------------------------
// Facts: everything the rules look at, derived once.

export interface NodeFacts {
  node: AllowedNode;
  heartbeat: HeartbeatRecord | undefined;
  /** Its agent is UP and its heartbeat changed within its node timeout, on the evaluator's clock. */
  live: boolean;
  silentForMs: number | null;
  witness: boolean;
}

export interface Candidate {
  nodeId: string;
  receivedLsn: string;
  reason: string;
}

export interface Facts {
  /** Wall clock: only for what is written into records. */
  nowMs: number;
  /** The evaluator's monotonic clock: every duration below is measured on it. */
  monoMs: number;
  /** How long the evaluator has seen the cluster in its current term and phase (0 when just seen). */
  phaseAgeMs: number;
  /** When the membership last changed: a node allowed moments ago has not had time to report. */
  membershipChangedAtMs: number;
  cluster: ClusterRecord;
  nodes: NodeFacts[];
  primary: NodeFacts | undefined;
  primaryLive: boolean;
  primaryHealthy: boolean;
  primaryDbStatus: HeartbeatRecord['dbStatus'] | 'SILENT';
  voters: number;
  majority: number;
  /** Members that say the primary's database does not answer (its own agent included). */
  unreachableVotes: string[];
  reachableVotes: string[];
  /**
   * The failure is confirmed: a majority of the members say the primary's database does not answer, or
   * fencing proves it stopped (stopProven) and every live member that checked says it does not answer.
   */
  confirmed: boolean;
  /**
   * The old primary cannot be writable, whatever its agent and its network are doing: it released its lease
   * after fencing itself, or its lease window is over and a watchdog armed with it has fired (fencing
   * "watchdog"), or the evaluator has stopped its instance in this term (fencing "ec2-stop"). Never with
   * fencing "agent": a paused or partitioned agent proves nothing.
   */
  stopProven: boolean;
  leaseExpired: boolean;
  leaseRemainingMs: number;
  candidate: Candidate | undefined;
  vetoes: { nodeId: string; reason: string }[];
  /** Standbys that could be promoted, best first. */
  eligible: string[];
}

export function gatherFacts(input: EvaluationInput, at: Instant): Facts {
  const { cluster, membership, observations } = input;
  const { wallMs: nowMs, monoMs } = at;
  const heartbeatOf = new Map(input.heartbeats.map((heartbeat) => [heartbeat.nodeId, heartbeat]));
  const nodes: NodeFacts[] = membership.allowed.map((node) => {
    const heartbeat = heartbeatOf.get(node.nodeId);
    const seen = observations.nodes[node.nodeId];
    const silentForMs = seen ? monoMs - seen.changedAtMonoMs : null;
    const live = heartbeat !== undefined && heartbeatLive(heartbeat, silentForMs);
    return {
      node,
      heartbeat,
      live,
      silentForMs,
      witness: node.role === 'witness' || heartbeat?.agentType === 'witness',
    };
  });
  const primary = nodes.find((facts) => facts.node.nodeId === cluster.primaryNodeId);
  const primaryLive = primary?.live === true;
  const primaryBeat = primary?.heartbeat;
  const primaryDbStatus = primaryLive && primaryBeat ? primaryBeat.dbStatus : 'SILENT';

  const voters = membership.allowed.length;
  const majority = Math.floor(voters / 2) + 1;
  const unreachableVotes: string[] = [];
  const reachableVotes: string[] = [];
  if (primary && primaryLive && primaryBeat?.dbStatus === 'DOWN') unreachableVotes.push(primary.node.nodeId);
  for (const facts of nodes) {
    if (facts === primary || !facts.live) continue;
    const check = facts.heartbeat?.primaryCheck;
    if (!check || check.primaryNodeId !== cluster.primaryNodeId) continue;
    if (check.status === 'DOWN') unreachableVotes.push(facts.node.nodeId);
    else if (check.status === 'UP') reachableVotes.push(facts.node.nodeId);
  }

  const lease = observations.lease;
  const leaseAgeMs =
    lease && lease.term === cluster.term && lease.renewals === cluster.leaseRenewals
      ? monoMs - lease.changedAtMonoMs
      : 0;
  // The holder may have renewed under a longer lease than the policy now says (set-policy): wait out the longer.
  const windowMs = leaseWindowMs(cluster.policy, cluster.leaseGrantedMs);
  const leaseExpired = cluster.leaseReleased || leaseAgeMs > windowMs;

  const fence = cluster.fence;
  const stopProven =
    cluster.leaseReleased ||
    (leaseExpired && cluster.policy.fencing === 'watchdog' && primaryBeat?.watchdogArmed === true) ||
    (cluster.policy.fencing === 'ec2-stop' &&
      fence?.nodeId === cluster.primaryNodeId &&
      fence?.term === cluster.term &&
      fence.stoppedAtMs !== null);
  // Healthy means its agent says so and the cluster agrees: a primary that a majority cannot reach is
  // not healthy even while its agent still reports (a partition); only its lease then protects it. Once
  // fencing proves it stopped, the members that are still alive confirm it alone: a standby that died
  // after the primary (a double fault) can no longer vote, and would otherwise leave no primary at all.
  const confirmed =
    unreachableVotes.length >= majority || (stopProven && unreachableVotes.length > 0 && reachableVotes.length === 0);
  const primaryHealthy =
    primaryLive && primaryBeat?.dbStatus === 'UP' && primaryBeat.agentType === 'primary' && !confirmed;
  // While promoting, the current candidate is not a candidate for its own replacement.
  const excluded = new Map<string, string>();
  if (cluster.phase === 'promoting' && cluster.failover) {
    excluded.set(cluster.failover.toNodeId, `it is the candidate of term ${cluster.term} that did not promote`);
    if (cluster.failover.fromNodeId)
      excluded.set(cluster.failover.fromNodeId, 'it is the primary this failover replaces');
  }
  const referenceBeat =
    cluster.phase === 'promoting'
      ? nodes.find((n) => n.node.nodeId === cluster.failover?.fromNodeId)?.heartbeat
      : primaryBeat;
  // A manual failover may name its standby, and with --force accept one past the lag limit.
  const promotion = cluster.phase === 'steady' ? cluster.promotion : null;
  const { candidate, vetoes, eligible } = chooseCandidate(cluster, membership, nodes, referenceBeat, excluded, {
    target: promotion?.toNodeId ?? undefined,
    ignoreLag: promotion?.force === true,
    requestedBy: promotion?.requestedBy,
  });
  const phase = observations.phase;
  const phaseAgeMs =
    phase && phase.term === cluster.term && phase.phase === cluster.phase ? monoMs - phase.sinceMonoMs : 0;
  return {
    nowMs,
    monoMs,
    phaseAgeMs,
    membershipChangedAtMs: membership.updatedAtMs,
    cluster,
    nodes,
    primary,
    primaryLive,
    primaryHealthy,
    primaryDbStatus,
    voters,
    majority,
    unreachableVotes,
    reachableVotes,
    confirmed,
    stopProven,
    leaseExpired,
    leaseRemainingMs: leaseExpired ? 0 : windowMs - leaseAgeMs,
    candidate,
    vetoes,
    eligible,
  };
}

/** Why a switchover to `toNodeId` cannot be done now, or undefined when it can. Used by the CLI too. */
export function switchoverVeto(f: Facts, toNodeId: string): string | undefined {
  const target = f.nodes.find((n) => n.node.nodeId === toNodeId);
  if (!target) return `${toNodeId} is not in the allowed node list`;
  if (toNodeId === f.cluster.primaryNodeId) return `${toNodeId} is already the primary`;
  if (target.witness) return `${toNodeId} is a witness and has no database to promote`;
  if (f.cluster.phase !== 'steady')
    return `a ${f.cluster.failover?.kind ?? 'failover'} is in progress (phase ${f.cluster.phase})`;
  if (!f.primaryHealthy)
    return `the primary ${f.cluster.primaryNodeId ?? '(none)'} is not healthy; a switchover needs a running primary to hand over from`;
  const veto = f.vetoes.find((entry) => entry.nodeId === toNodeId);
  if (veto) return `${toNodeId} cannot be promoted: ${veto.reason}`;
  return f.eligible.includes(toNodeId) ? undefined : `${toNodeId} cannot be promoted`;
}

/**
 * Why the manual failover asked for (pgfailover promote) cannot apply, or undefined while it still can.
 * Only what will not change by waiting: a failure not yet confirmed or a lease not yet run out are waited
 * for by the rules, as for an automatic failover.
 */
export function promotionVeto(f: Facts): string | undefined {
  const promotion = f.cluster.promotion;
  if (!promotion) return undefined;
  if (promotion.term !== f.cluster.term)
    return `it was asked for in term ${promotion.term} and the cluster is in term ${f.cluster.term} now`;
  if (f.primaryHealthy)
    return `the primary ${f.cluster.primaryNodeId ?? '?'} is healthy, so a failover would make two primaries; ask for a switchover instead (pgfailover promote --switchover)`;
  const target = promotion.toNodeId;
  if (target !== null) {
    const node = f.nodes.find((n) => n.node.nodeId === target);
    if (!node) return `${target} is not in the allowed node list`;
    if (target === f.cluster.primaryNodeId) return `${target} is the primary that failed`;
    if (node.witness) return `${target} is a witness and has no database to promote`;
    const veto = f.vetoes.find((entry) => entry.nodeId === target);
    if (veto) return `${target} cannot be promoted: ${veto.reason}`;
  } else if (!f.candidate) {
    return `no standby can be promoted: ${f.vetoes.map((v) => `${v.nodeId}: ${v.reason}`).join('; ') || 'there is no standby'}`;
  }
  return undefined;
}

/**
 * Least data loss first: the live standby with the most WAL received, then replayed; ties go to the
 * priority list. A standby further behind the old primary's last known position than maxLagBytes, on
 * another timeline, or not UP is never chosen automatically; each refusal is kept with its reason.
 */
export function chooseCandidate(
  cluster: ClusterRecord,
  membership: MembershipRecord,
  nodes: readonly NodeFacts[],
  primaryBeat: HeartbeatRecord | undefined,
  excluded?: ReadonlyMap<string, string>,
  manual: { target?: string | undefined; ignoreLag?: boolean; requestedBy?: string | undefined } = {},
): { candidate: Candidate | undefined; vetoes: { nodeId: string; reason: string }[]; eligible: string[] } {
  const vetoes: { nodeId: string; reason: string }[] = [];
  const eligible: { nodeId: string; receivedLsn: string; replayedLsn: string; rank: number }[] = [];
  const order = effectivePriority(membership);
  const standbys = nodes.filter((facts) => facts.node.nodeId !== cluster.primaryNodeId && !facts.witness);
  const received = (beat: HeartbeatRecord) => standbyPosition(beat.receivedLsn, beat.replayedLsn);
  // The furthest point anyone is known to have: the old primary's last report, or the best standby.
  const reference = [
    primaryBeat?.currentLsn,
    ...standbys.map((facts) => (facts.heartbeat ? received(facts.heartbeat) : null)),
  ]
    .filter((lsn): lsn is string => typeof lsn === 'string')
    .sort(compareLsn)
    .at(-1);
  for (const facts of standbys) {
    const nodeId = facts.node.nodeId;
    const beat = facts.heartbeat;
    const exclusion = excluded?.get(nodeId);
    if (exclusion) {
      vetoes.push({ nodeId, reason: exclusion });
      continue;
    }
    if (!beat) {
      vetoes.push({ nodeId, reason: 'its agent has never reported' });
      continue;
    }
    if (!facts.live) {
      vetoes.push({ nodeId, reason: 'its agent is not reporting' });
      continue;
    }
    if (beat.dbStatus !== 'UP' || beat.agentType !== 'standby') {
      vetoes.push({
        nodeId,
        reason: `its database is ${beat.dbStatus === 'UP' ? `not a standby (${beat.agentType})` : beat.dbStatus}`,
      });
      continue;
    }
    const lsn = received(beat);
    if (!lsn || !beat.replayedLsn) {
      vetoes.push({ nodeId, reason: 'it reports no WAL position' });
      continue;
    }
    if (primaryBeat?.timeline && beat.timeline && beat.timeline !== primaryBeat.timeline) {
      vetoes.push({ nodeId, reason: `it is on timeline ${beat.timeline}, the primary was on ${primaryBeat.timeline}` });
      continue;
    }
    const subnet = beat.host.subnetId;
    const primarySubnet = primaryBeat?.host.subnetId;
    if (cluster.address.mode === 'secondary-ip' && subnet && primarySubnet && subnet !== primarySubnet) {
      vetoes.push({
        nodeId,
        reason: `it is in subnet ${subnet}; the secondary IP lives in ${primarySubnet} and cannot follow it there`,
      });
      continue;
    }
    const lagBytes = reference ? lsnLagBytes(reference, lsn) : 0;
    if (lagBytes > cluster.policy.maxLagBytes && !manual.ignoreLag) {
      vetoes.push({
        nodeId,
        reason: `it is ${lagBytes} bytes behind, past the ${cluster.policy.maxLagBytes}-byte limit`,
      });
      continue;
    }
    eligible.push({ nodeId, receivedLsn: lsn, replayedLsn: beat.replayedLsn, rank: order.indexOf(nodeId) });
  }
  eligible.sort(
    (a, b) => compareLsn(b.receivedLsn, a.receivedLsn) || compareLsn(b.replayedLsn, a.replayedLsn) || a.rank - b.rank,
  );
  const eligibleIds = eligible.map((entry) => entry.nodeId);
  if (manual.target !== undefined) {
    const chosen = eligible.find((entry) => entry.nodeId === manual.target);
    if (!chosen) return { candidate: undefined, vetoes, eligible: eligibleIds };
    const best = eligible[0];
    const behind = best && best.nodeId !== chosen.nodeId ? `; ${best.nodeId} has more WAL (${best.receivedLsn})` : '';
    const reason = `${chosen.nodeId} named by ${manual.requestedBy ?? 'an administrator'} (received ${chosen.receivedLsn}, replayed ${chosen.replayedLsn})${behind}`;
    return {
      candidate: { nodeId: chosen.nodeId, receivedLsn: chosen.receivedLsn, reason },
      vetoes,
      eligible: eligibleIds,
    };
  }
  const best = eligible[0];
  if (!best) return { candidate: undefined, vetoes, eligible: eligibleIds };
  const tied =
    eligible.filter((other) => other.receivedLsn === best.receivedLsn && other.replayedLsn === best.replayedLsn)
      .length > 1;
  const reason = `${best.nodeId} has the most WAL (received ${best.receivedLsn}, replayed ${best.replayedLsn})${tied ? ', tie broken by the priority list' : ''}`;
  return { candidate: { nodeId: best.nodeId, receivedLsn: best.receivedLsn, reason }, vetoes, eligible: eligibleIds };
}

// ---------------------------------------------------------------------------------------------------
// The rules. Each table is tried top to bottom; the first row whose `when` holds decides.

type Outcome = Omit<Decision, 'notices' | 'next' | 'expectLeaseRenewals' | 'actions' | 'recheckInMs'> & {
  recheckInMs?: number;
  next?: ClusterRecord;
  expectLeaseRenewals?: number;
  actions?: Action[];
  notices?: Notice[];
};

export interface Rule {
  id: RuleId;
  when: (facts: Facts) => boolean;
  then: (facts: Facts) => Outcome;
  /**
   * After this row, the evaluator looks again at its busy pace (a failure suspected, a role change moving):
   * the next step waits on a report it should see soon.
   */
  busy?: true;
  /** This row starts a failover (a new term promoting a standby in place of a failed primary): counted in the metrics. */
  startsFailover?: true;
}

const wait = (rule: RuleId, reason: string): Outcome => ({ rule, reason });

/** The lease counts as expired once its window is strictly past: a look this much later finds it so. */
const leaseRunsOutInMs = (f: Facts): number => f.leaseRemainingMs + 1;

/** A role change: a new term whose primary is `toNodeId`, to be promoted; the lease starts afresh. */
function promoteInNewTerm(
  f: Facts,
  toNodeId: string,
  failover: Pick<NonNullable<ClusterRecord['failover']>, 'kind' | 'fromNodeId' | 'startedAtMs' | 'reason'>,
): ClusterRecord {
  return bump(f, {
    term: f.cluster.term + 1,
    primaryNodeId: toNodeId,
    leaseRenewals: 0,
    leaseReleased: false,
    leaseGrantedMs: null,
    phase: 'promoting',
    switchover: null,
    promotion: null,
    failover: { ...failover, toNodeId, promotedAtMs: null, addressMovedAtMs: null },
  });
}

/**
 * A new term's address goes to its primary-to-be as soon as the term is granted, while it promotes: the
 * old primary cannot be writable by then (its lease window is over, it released the lease or stopped
 * cleanly), so clients reach the candidate, which refuses writes for the few milliseconds until it is
 * promoted, instead of waiting on an address nobody answers. On EC2 the move's API call overlaps
 * pg_promote(). A move that fails is retried once the candidate is promoted (candidate-promoted).
 */
function addressAhead(f: Facts, toNodeId: string): Action[] {
  return addressMovesTo(f, toNodeId) ? [{ kind: 'move-address', toNodeId, term: f.cluster.term + 1 }] : [];
}

/** The cluster has an address to move, and it is not on `toNodeId` (as recorded once a move has happened). */
function addressMovesTo(f: Facts, toNodeId: string | null): boolean {
  return f.cluster.address.mode !== 'none' && f.cluster.address.holderNodeId !== toNodeId;
}

function bump(facts: Facts, changes: Partial<ClusterRecord>): ClusterRecord {
  return { ...facts.cluster, ...changes, version: facts.cluster.version + 1, updatedAtMs: facts.nowMs };
}

/** "3 of 4 members (need 3: db2, db3, witness)": who says the primary's database does not answer. */
const votes = (facts: Facts) => {
  const count = `${facts.unreachableVotes.length} of ${facts.voters} members`;
  const who = facts.unreachableVotes.length ? `: ${facts.unreachableVotes.join(', ')}` : '';
  if (facts.unreachableVotes.length >= facts.majority) return `${count} (need ${facts.majority}${who})`;
  if (facts.confirmed)
    return `${count} (${facts.unreachableVotes.join(', ')}, every live member; the others are silent, and fencing proves the old primary stopped)`;
  return `${count} (need ${facts.majority}${who})`;
};

/** What is wrong with the recorded primary, in words (for a primary that is not healthy). */
export function primaryProblem(facts: Facts): string {
  const id = facts.cluster.primaryNodeId;
  if (facts.primaryLive && facts.primaryDbStatus === 'UP') {
    // Its last report may be seconds old (a dead node is "live" until its node timeout): say how old.
    const age = facts.primary?.silentForMs;
    return `primary ${id} last reported its database UP${age === null || age === undefined ? '' : ` ${age} ms ago`}, but ${facts.unreachableVotes.join(', ')} cannot reach it`;
  }
  if (!facts.primaryLive) {
    const silent = facts.primary?.silentForMs;
    return facts.primary?.heartbeat?.agentStatus === 'EXITED'
      ? `the agent of primary ${id} exited`
      : `primary ${id} has sent no heartbeat for ${silent === null || silent === undefined ? 'ever' : `${silent} ms`}`;
  }
  return `the database of primary ${id} is ${facts.primaryDbStatus}`;
}

/**
 * The address is not on the primary: move it. The write only claims the move (so overlapping evaluators
 * do not both act); the evaluator records the new holder once the move has happened.
 */
function addressNotOnPrimaryRule(primaryServes: (f: Facts) => boolean): Rule {
  return {
    id: 'address-not-on-primary',
    when: (f) => primaryServes(f) && addressMovesTo(f, f.cluster.primaryNodeId),
    then: (f) => {
      const primaryId = f.cluster.primaryNodeId as string;
      const next = bump(f, {});
      return {
        rule: 'address-not-on-primary',
        reason: `the address is on ${f.cluster.address.holderNodeId ?? 'no node'}; moving it to primary ${primaryId}`,
        next,
        actions: [{ kind: 'move-address', toNodeId: primaryId, term: f.cluster.term }],
        notices:
          f.cluster.phase === 'steady'
            ? [
                makeNotice(
                  next,
                  'address-assigned',
                  'INFO',
                  `address ${f.cluster.address.value ?? ''} being assigned to primary ${primaryId}`,
                  { nodeId: primaryId },
                ),
              ]
            : [],
      };
    },
  };
}

/** fencing "ec2-stop": the evaluator has seen `nodeId`'s instance stopped in this term. */
function stoppedByFence(f: Facts, nodeId: string | null | undefined): boolean {
  const fence = f.cluster.fence;
  return !!nodeId && fence?.nodeId === nodeId && fence.term === f.cluster.term && fence.stoppedAtMs !== null;
}

/**
 * fencing "ec2-stop": before anyone is promoted in place of `target`, stop its instance from outside (its
 * agent may be frozen or dead). The write claims the stop for this round; the evaluator records the node
 * stopped once the EC2 API says so, and the next round goes on.
 */
function fenceNodeRule(
  id: RuleId,
  target: (f: Facts) => string | null | undefined,
  needed: (f: Facts) => boolean,
): Rule {
  return {
    id,
    busy: true,
    when: (f) => f.cluster.policy.fencing === 'ec2-stop' && needed(f) && !!target(f) && !stoppedByFence(f, target(f)),
    then: (f) => {
      const nodeId = target(f) as string;
      const already = f.cluster.fence?.nodeId === nodeId && f.cluster.fence.term === f.cluster.term;
      const next = bump(
        f,
        already ? {} : { fence: { nodeId, term: f.cluster.term, requestedAtMs: f.nowMs, stoppedAtMs: null } },
      );
      const reason = `stopping the instance of ${nodeId} (fencing "ec2-stop") before anyone is promoted in its place${already ? '; waiting for it to stop' : ''}`;
      return {
        rule: id,
        reason,
        next,
        actions: [{ kind: 'fence-node', nodeId, term: f.cluster.term }],
        notices: already
          ? []
          : [
              makeNotice(
                next,
                'fence-requested',
                'WARNING',
                `stopping the instance of ${nodeId} before promoting another node`,
                { nodeId, lines: [reason] },
              ),
            ],
      };
    },
  };
}

/** Steady phase: is the primary healthy, and if not, may we fail over? */
export const STEADY_RULES: Rule[] = [
  {
    id: 'no-primary-recorded',
    when: (f) => f.cluster.primaryNodeId === null,
    then: (f) => {
      const writable = f.nodes.filter(
        (n) => n.live && n.heartbeat?.agentType === 'primary' && n.heartbeat.dbStatus === 'UP',
      );
      const only = writable.length === 1 ? writable[0] : undefined;
      if (!only)
        return wait(
          'no-primary-recorded',
          `no primary is recorded and ${writable.length} nodes report a writable database; waiting for exactly one`,
        );
      const next = bump(f, {
        term: f.cluster.term + 1,
        primaryNodeId: only.node.nodeId,
        leaseRenewals: 0,
        leaseReleased: false,
        leaseGrantedMs: null,
      });
      return {
        rule: 'no-primary-recorded',
        reason: `recorded ${only.node.nodeId} as primary: the only node with a writable database`,
        next,
        notices: [
          makeNotice(
            next,
            'primary-recorded',
            'INFO',
            `${only.node.nodeId} recorded as the primary of ${f.cluster.cluster}`,
            { nodeId: only.node.nodeId },
          ),
        ],
      };
    },
  },
  {
    // A switchover abandoned after its primary had stopped cleanly and restarted as a standby (its target
    // died, or the abandonment raced the stop): it has every byte it ever wrote, so it becomes the primary
    // again, in a new term, as a planned role change (no lease to wait out: its own live agent stopped it).
    id: 'primary-demoted',
    busy: true,
    when: (f) => {
      const beat = f.primary?.heartbeat;
      return (
        f.cluster.switchover === null &&
        f.primaryLive &&
        demotedAt(f) !== null &&
        beat?.agentType === 'standby' &&
        beat.dbStatus === 'UP'
      );
    },
    then: (f) => {
      const primaryId = f.cluster.primaryNodeId as string;
      const stoppedAt = demotedAt(f) ?? '?';
      const reason = `${primaryId} stopped cleanly at ${stoppedAt} for a switchover that was abandoned, and runs as a standby: promoting it back, it has all of its own WAL`;
      const next = promoteInNewTerm(f, primaryId, {
        kind: 'switchover',
        fromNodeId: primaryId,
        startedAtMs: f.nowMs,
        reason,
      });
      return {
        rule: 'primary-demoted',
        reason,
        next,
        expectLeaseRenewals: f.cluster.leaseRenewals,
        actions: addressAhead(f, primaryId),
        notices: [
          makeNotice(
            next,
            'primary-restored',
            'WARNING',
            `${primaryId} is promoted back after an abandoned switchover`,
            {
              nodeId: primaryId,
              lines: [reason],
            },
          ),
        ],
      };
    },
  },
  {
    id: 'switchover-refused',
    when: (f) => f.cluster.switchover !== null && switchoverVeto(f, f.cluster.switchover.toNodeId) !== undefined,
    then: (f) => {
      const reason = `switchover to ${f.cluster.switchover?.toNodeId ?? '?'} refused: ${switchoverVeto(f, f.cluster.switchover?.toNodeId ?? '') ?? ''}`;
      const next = bump(f, { switchover: null });
      return {
        rule: 'switchover-refused',
        reason,
        next,
        notices: [
          makeNotice(next, 'switchover-refused', 'WARNING', reason, { nodeId: f.cluster.switchover?.toNodeId ?? null }),
        ],
      };
    },
  },
  {
    id: 'switchover-started',
    busy: true,
    when: (f) => f.cluster.switchover !== null,
    then: (f) => {
      const toNodeId = f.cluster.switchover?.toNodeId ?? '?';
      const next = bump(f, { phase: 'demoting' });
      const reason = `switchover from ${f.cluster.primaryNodeId ?? '?'} to ${toNodeId} requested by ${f.cluster.switchover?.requestedBy ?? '?'}: demoting ${f.cluster.primaryNodeId ?? '?'} cleanly first`;
      return {
        rule: 'switchover-started',
        reason,
        next,
        notices: [
          makeNotice(
            next,
            'switchover-started',
            'INFO',
            `switchover started: ${f.cluster.primaryNodeId ?? '?'} -> ${toNodeId}`,
            { nodeId: toNodeId, lines: [reason] },
          ),
        ],
      };
    },
  },
  {
    id: 'promotion-refused',
    when: (f) => promotionVeto(f) !== undefined,
    then: (f) => {
      const promotion = f.cluster.promotion;
      const reason = `manual failover${promotion?.toNodeId ? ` to ${promotion.toNodeId}` : ''} asked for by ${promotion?.requestedBy ?? '?'} refused: ${promotionVeto(f) ?? ''}`;
      const next = bump(f, { promotion: null });
      return {
        rule: 'promotion-refused',
        reason,
        next,
        notices: [makeNotice(next, 'promotion-refused', 'WARNING', reason, { nodeId: promotion?.toNodeId ?? null })],
      };
    },
  },
  addressNotOnPrimaryRule((f) => f.primaryHealthy),
  {
    id: 'primary-healthy',
    when: (f) => f.primaryHealthy,
    then: (f) => wait('primary-healthy', `primary ${f.cluster.primaryNodeId} is healthy`),
  },
  {
    // Three-valued health: an UNKNOWN database (a check in progress, a refused login) is never failed over.
    id: 'primary-db-unknown',
    busy: true,
    when: (f) => f.primaryLive && f.primaryDbStatus === 'UNKNOWN',
    then: (f) =>
      wait(
        'primary-db-unknown',
        `${primaryProblem(f)} (${f.primary?.heartbeat?.dbInfo ?? ''}); never failing over on unknown`,
      ),
  },
  {
    // EFM: an agent that dies while its database still answers the peers is not a failover.
    id: 'primary-agent-left',
    when: (f) => !f.primaryLive && !f.confirmed && f.reachableVotes.length > 0,
    then: (f) =>
      wait(
        'primary-agent-left',
        `${primaryProblem(f)}, but its database still answers ${f.reachableVotes.join(', ')}: no failover`,
      ),
  },
  // fencing "ec2-stop": a silent primary whose lease is over, that no live member can reach and none says
  // answers, is stopped from outside even when too few members are alive to confirm it (a double fault);
  // the stop then proves it (stopProven).
  fenceNodeRule(
    'fence-silent-primary',
    (f) => f.cluster.primaryNodeId,
    (f) =>
      !f.confirmed &&
      f.leaseExpired &&
      !f.primaryLive &&
      f.unreachableVotes.length > 0 &&
      f.reachableVotes.length === 0 &&
      f.cluster.pause === null &&
      f.cluster.policy.autoFailover,
  ),
  {
    id: 'failure-unconfirmed',
    busy: true,
    when: (f) => !f.confirmed,
    then: (f) =>
      wait(
        'failure-unconfirmed',
        `${primaryProblem(f)}; failure not confirmed: ${votes(f)} say its database does not answer${f.cluster.policy.fencing === 'agent' && f.unreachableVotes.length > 0 && f.reachableVotes.length === 0 ? '; with fencing "agent" nothing proves a silent primary stopped, so only a majority can confirm' : ''}`,
      ),
  },
  {
    // Maintenance: the failure is reported, nobody is promoted unless a person asks (pgfailover promote).
    id: 'paused',
    when: (f) => f.cluster.pause !== null && f.cluster.promotion === null,
    then: (f) =>
      wait(
        'paused',
        `${primaryProblem(f)}, confirmed by ${votes(f)}; the cluster is paused (${f.cluster.pause?.reason ?? ''}): no automatic failover; pgfailover resume ends the pause, pgfailover promote fails over now${f.candidate ? ` (best candidate ${f.candidate.nodeId})` : ''}`,
      ),
  },
  {
    id: 'lease-valid',
    busy: true,
    when: (f) => !f.leaseExpired,
    then: (f) => ({
      ...wait(
        'lease-valid',
        `${primaryProblem(f)}, confirmed by ${votes(f)}; its lease may still be valid for ${f.leaseRemainingMs} ms`,
      ),
      recheckInMs: leaseRunsOutInMs(f),
    }),
  },
  {
    id: 'auto-failover-off',
    when: (f) => !f.cluster.policy.autoFailover && f.cluster.promotion === null,
    then: (f) =>
      wait(
        'auto-failover-off',
        `${primaryProblem(f)}, confirmed; automatic failover is off: manual failover required${f.candidate ? ` (best candidate ${f.candidate.nodeId})` : ''}`,
      ),
  },
  {
    id: 'no-candidate',
    when: (f) => f.candidate === undefined,
    then: (f) =>
      wait(
        'no-candidate',
        `${primaryProblem(f)}, confirmed, but no standby can be promoted: ${f.vetoes.map((v) => `${v.nodeId}: ${v.reason}`).join('; ') || 'there is no standby'}`,
      ),
  },
  // Its own live agent fences a primary whose database it reports DOWN; otherwise stop the instance.
  fenceNodeRule(
    'fence-old-primary',
    (f) => f.cluster.primaryNodeId,
    (f) => !f.cluster.leaseReleased && !(f.primaryLive && f.primaryDbStatus === 'DOWN'),
  ),
  {
    // With watchdog fencing, the lease proves the old primary stopped only if a watchdog backed it (or
    // its own live agent says its server is down): an agent stopped on purpose, or one that could not
    // arm its watchdog, leaves a server nobody can stop.
    id: 'old-primary-unfenced',
    when: (f) =>
      f.cluster.policy.fencing === 'watchdog' &&
      f.cluster.promotion?.force !== true &&
      !f.cluster.leaseReleased &&
      f.primary?.heartbeat?.watchdogArmed !== true &&
      !(f.primaryLive && f.primaryDbStatus === 'DOWN'),
    then: (f) =>
      wait(
        'old-primary-unfenced',
        `${primaryProblem(f)}, confirmed; but its last report says no watchdog protects it (its agent was stopped or could not arm one), so it may still be writable: manual failover required${f.candidate ? ` (best candidate ${f.candidate.nodeId})` : ''}`,
      ),
  },
  {
    id: 'failover',
    busy: true,
    startsFailover: true,
    when: () => true,
    then: (f) => {
      const candidate = f.candidate as Candidate;
      const promotion = f.cluster.promotion;
      const manual = promotion
        ? `manual failover asked for by ${promotion.requestedBy}${promotion.force ? ' (forced)' : ''}; `
        : '';
      const reason = `${manual}${primaryProblem(f)}; confirmed by ${votes(f)}; lease ${f.cluster.leaseReleased ? 'released by the old primary' : 'expired'}; promoting ${candidate.nodeId}: ${candidate.reason}`;
      const next = promoteInNewTerm(f, candidate.nodeId, {
        kind: 'failover',
        fromNodeId: f.cluster.primaryNodeId,
        startedAtMs: f.nowMs,
        reason,
      });
      return {
        rule: 'failover',
        reason,
        next,
        expectLeaseRenewals: f.cluster.leaseRenewals,
        actions: addressAhead(f, candidate.nodeId),
        notices: [
          makeNotice(
            next,
            'failover-started',
            'WARNING',
            `failover started: promoting ${candidate.nodeId} to replace ${f.cluster.primaryNodeId ?? 'none'}`,
            {
              nodeId: candidate.nodeId,
              lines: [reason, ...f.vetoes.map((v) => `Not chosen: ${v.nodeId}: ${v.reason}`)],
            },
          ),
        ],
      };
    },
  },
];

function candidateFacts(f: Facts): NodeFacts | undefined {
  return f.nodes.find((n) => n.node.nodeId === f.cluster.failover?.toNodeId);
}

/** The candidate of the current failover, if it has given up or gone away, with why. */
export function candidateGone(f: Facts): string | undefined {
  const candidate = candidateFacts(f);
  const toNodeId = f.cluster.failover?.toNodeId ?? '?';
  const action = candidate?.heartbeat?.action;
  if (action && action.term === f.cluster.term && action.step === 'promote-failed')
    return `candidate ${toNodeId} could not promote: ${action.detail}`;
  const timeoutMs = candidate?.heartbeat?.timeouts.nodeTimeoutMs ?? 0;
  // Measured from when this evaluator saw the phase begin, so a fresh evaluator waits a whole timeout.
  if (candidate?.live !== true && f.phaseAgeMs > timeoutMs)
    return `candidate ${toNodeId} stopped reporting before it was promoted`;
  // Its node came back without its server (a host restarted after a crash): nothing will start it as a
  // primary, and its agent promotes only a running server, so waiting for it would wait for ever.
  if (candidate?.live === true && candidate.heartbeat?.dbStatus === 'DOWN')
    return `the database of candidate ${toNodeId} is DOWN`;
  return undefined;
}

/**
 * Promoting phase: the candidate runs the fencing hook, takes the lease and calls pg_promote(); then the
 * address moves. A candidate that fails or goes away is replaced by the next eligible standby in a new
 * term, but only once it cannot still become writable: its lease (taken before pg_promote) has run out,
 * and either its watchdog has fired by then or its agent is alive to fence it (agent-only fencing cannot
 * stop a silent candidate, so that case waits for a person).
 */
export const PROMOTING_RULES: Rule[] = [
  {
    id: 'fence-hook-refused',
    when: (f) => {
      const action = candidateFacts(f)?.heartbeat?.action;
      return action?.term === f.cluster.term && action.step === 'fence-hook-failed';
    },
    then: (f) => {
      const candidate = candidateFacts(f) as NodeFacts;
      const detail = candidate.heartbeat?.action?.detail ?? '';
      const next = bump(f, { phase: 'halted' });
      return {
        rule: 'fence-hook-refused',
        reason: `failover aborted: on ${candidate.node.nodeId} the fencing hook failed: ${detail}`,
        next,
        notices: [
          makeNotice(
            next,
            'failover-aborted',
            'SEVERE',
            `failover aborted: the fencing hook failed on ${candidate.node.nodeId}`,
            {
              nodeId: candidate.node.nodeId,
              lines: [
                detail,
                `No node was promoted: the fencing hook could not prove the old primary stopped. Make sure it is, then run: pgfailover resume --cluster ${f.cluster.cluster}`,
              ],
            },
          ),
        ],
      };
    },
  },
  {
    id: 'candidate-promoted',
    busy: true,
    when: (f) => {
      const beat = candidateFacts(f)?.heartbeat;
      return (
        candidateFacts(f)?.live === true &&
        beat?.agentType === 'primary' &&
        beat.dbStatus === 'UP' &&
        beat.term >= f.cluster.term
      );
    },
    then: (f) => {
      const toNodeId = f.cluster.failover?.toNodeId as string;
      // Moved when the term was granted (addressAhead), unless that move failed.
      const moves = addressMovesTo(f, toNodeId);
      // The holder is recorded only once the move has happened (after this write wins).
      const next = bump(f, {
        phase: 'promoted',
        failover: f.cluster.failover && { ...f.cluster.failover, promotedAtMs: f.nowMs },
      });
      return {
        rule: 'candidate-promoted',
        reason: `${toNodeId} is promoted and writable${moves ? `; moving address ${f.cluster.address.value ?? ''} to it` : ''}`,
        next,
        actions: moves ? [{ kind: 'move-address', toNodeId, term: f.cluster.term }] : [],
        notices: [
          makeNotice(next, 'standby-promoted', 'INFO', `${toNodeId} promoted to primary`, {
            nodeId: toNodeId,
            lines: moves ? [`The address is being moved to ${toNodeId}.`] : [],
          }),
        ],
      };
    },
  },
  {
    id: 'candidate-gone-lease-valid',
    when: (f) => candidateGone(f) !== undefined && !f.leaseExpired,
    then: (f) => ({
      ...wait(
        'candidate-gone-lease-valid',
        `${candidateGone(f) ?? ''}; waiting ${f.leaseRemainingMs} ms for the lease it may hold to run out before choosing another`,
      ),
      recheckInMs: leaseRunsOutInMs(f),
    }),
  },
  fenceNodeRule(
    'fence-lost-candidate',
    (f) => f.cluster.failover?.toNodeId,
    (f) => candidateGone(f) !== undefined && candidateFacts(f)?.live !== true,
  ),
  {
    id: 'candidate-lost-unfenceable',
    when: (f) =>
      candidateGone(f) !== undefined && candidateFacts(f)?.live !== true && f.cluster.policy.fencing === 'agent',
    then: (f) => {
      const toNodeId = f.cluster.failover?.toNodeId ?? '?';
      const next = bump(f, { phase: 'halted' });
      const reason = `failover halted: ${candidateGone(f) ?? ''}; with fencing "agent" nothing can stop it if it is only paused, so no other standby is promoted`;
      return {
        rule: 'candidate-lost-unfenceable',
        reason,
        next,
        notices: [
          makeNotice(next, 'failover-aborted', 'SEVERE', `failover halted: candidate ${toNodeId} stopped reporting`, {
            nodeId: toNodeId,
            lines: [
              reason,
              `Check ${toNodeId}: stop its PostgreSQL or make sure it is not writable, then run: pgfailover resume --cluster ${f.cluster.cluster}. With fencing "watchdog" or "ec2-stop" the next standby is promoted automatically.`,
            ],
          }),
        ],
      };
    },
  },
  {
    id: 'candidate-gone-no-other',
    when: (f) => candidateGone(f) !== undefined && f.candidate === undefined,
    then: (f) =>
      wait(
        'candidate-gone-no-other',
        `${candidateGone(f) ?? ''}; no other standby can be promoted: ${f.vetoes.map((v) => `${v.nodeId}: ${v.reason}`).join('; ') || 'there is none'}`,
      ),
  },
  {
    id: 'failover-retry',
    busy: true,
    startsFailover: true,
    when: (f) => candidateGone(f) !== undefined,
    then: (f) => {
      const candidate = f.candidate as Candidate;
      const previous = f.cluster.failover;
      const reason = `${candidateGone(f) ?? ''}; its lease has run out, so it cannot become writable; promoting ${candidate.nodeId} in term ${f.cluster.term + 1}: ${candidate.reason}`;
      const next = promoteInNewTerm(f, candidate.nodeId, {
        kind: 'failover',
        fromNodeId: previous?.fromNodeId ?? null,
        startedAtMs: previous?.startedAtMs ?? f.nowMs,
        reason,
      });
      return {
        rule: 'failover-retry',
        reason,
        next,
        expectLeaseRenewals: f.cluster.leaseRenewals,
        actions: addressAhead(f, candidate.nodeId),
        notices: [
          makeNotice(
            next,
            'failover-retried',
            'WARNING',
            `failover continues: promoting ${candidate.nodeId} instead of ${previous?.toNodeId ?? '?'}`,
            { nodeId: candidate.nodeId, lines: [reason] },
          ),
        ],
      };
    },
  },
  {
    id: 'awaiting-promotion',
    busy: true,
    when: () => true,
    then: (f) =>
      wait(
        'awaiting-promotion',
        `waiting for ${f.cluster.failover?.toNodeId ?? '?'} to promote (term ${f.cluster.term})`,
      ),
  },
];

function notFollowing(f: Facts): string[] {
  const primaryId = f.cluster.primaryNodeId;
  return (
    f.nodes
      // After a failover the old primary is fenced and stays down; after a switchover it follows too.
      // A standby whose database is down cannot follow anyone; it is reported as down, not waited for.
      .filter(
        (n) =>
          n.live &&
          !n.witness &&
          n.heartbeat?.dbStatus !== 'DOWN' &&
          n.node.nodeId !== primaryId &&
          (f.cluster.failover?.kind === 'switchover' || n.node.nodeId !== f.cluster.failover?.fromNodeId),
      )
      .filter(
        (n) =>
          !(
            n.heartbeat &&
            n.heartbeat.term >= f.cluster.term &&
            n.heartbeat.action?.term === f.cluster.term &&
            n.heartbeat.action.step === 'repointed' &&
            n.heartbeat.agentType === 'standby'
          ),
      )
      .map((n) => n.node.nodeId)
  );
}

/** Promoted phase: the standbys repoint to the new primary; then the failover is complete. */
export const PROMOTED_RULES: Rule[] = [
  addressNotOnPrimaryRule((f) => {
    const beat = f.primary?.heartbeat;
    return f.primary?.live === true && beat?.agentType === 'primary' && beat.dbStatus === 'UP';
  }),
  {
    id: 'failover-completed',
    when: (f) => notFollowing(f).length === 0 || f.phaseAgeMs > REPOINT_DEADLINE_MS,
    then: (f) => {
      const stragglers = notFollowing(f);
      const failover = f.cluster.failover;
      const next = bump(f, { phase: 'steady' });
      const took = failover ? f.nowMs - failover.startedAtMs : 0;
      return {
        rule: 'failover-completed',
        reason: `${failover?.kind ?? 'failover'} to ${f.cluster.primaryNodeId ?? '?'} completed ${took} ms after it was decided${stragglers.length ? `; not yet following: ${stragglers.join(', ')}` : ''}`,
        next,
        notices: [
          makeNotice(
            next,
            failover?.kind === 'switchover' ? 'switchover-completed' : 'failover-completed',
            failover?.kind === 'switchover' ? 'INFO' : 'WARNING',
            `${failover?.kind ?? 'failover'} completed: ${f.cluster.primaryNodeId ?? '?'} is the primary of ${f.cluster.cluster}`,
            {
              nodeId: f.cluster.primaryNodeId,
              lines: [
                failover?.kind === 'switchover'
                  ? `Old primary: ${failover.fromNodeId ?? '(none)'} (demoted cleanly; now a standby of the new primary).`
                  : `Old primary: ${failover?.fromNodeId ?? '(none)'} (fenced: it can only return as a standby).`,
                `Why: ${failover?.reason ?? ''}`,
                ...(stragglers.length
                  ? [`Standbys not yet following the new primary: ${stragglers.join(', ')}.`]
                  : ['Every running standby follows the new primary.']),
              ],
            },
          ),
        ],
      };
    },
  },
  {
    id: 'awaiting-repoint',
    busy: true,
    when: () => true,
    then: (f) =>
      wait('awaiting-repoint', `waiting for ${notFollowing(f).join(', ')} to follow ${f.cluster.primaryNodeId ?? '?'}`),
  },
];

/** How long a switchover may take from request to the old primary's clean stop and the target catching up. */
export const SWITCHOVER_DEADLINE_MS = 60_000;

/**
 * Where the primary's clean stop for this term's switchover ended, once its agent has reported it demoted;
 * null before. Agents before 0.2 carried the position as the report's text.
 */
export function demotedAt(f: Facts): string | null {
  const action = f.primary?.heartbeat?.action;
  if (action?.term !== f.cluster.term || action.step !== 'demoted') return null;
  return action.stoppedAtLsn ?? (isLsn(action.detail) ? action.detail : null);
}

/** Why a switchover under way cannot finish, or undefined while it still may. */
export function switchoverTrouble(f: Facts): string | undefined {
  const toNodeId = f.cluster.switchover?.toNodeId ?? '?';
  const target = f.nodes.find((n) => n.node.nodeId === toNodeId);
  if (!target?.live) return `its target ${toNodeId} stopped reporting`;
  if (target.heartbeat?.dbStatus === 'DOWN') return `the database of its target ${toNodeId} is DOWN`;
  if (!f.primaryLive) return `${primaryProblem(f)} while it was being demoted`;
  // A demoting primary renews its lease until its clean stop is over; one whose database is down with its
  // lease over stopped some other way (it fenced itself, cut off mid-switchover) and will never report a
  // clean stop: waiting out the deadline would leave the cluster without a primary (found by sim/).
  if (demotedAt(f) === null && f.primaryDbStatus === 'DOWN' && f.leaseExpired)
    return `${f.cluster.primaryNodeId ?? '?'} stopped without a clean demotion (its database is DOWN and its lease is over)`;
  if (f.phaseAgeMs > SWITCHOVER_DEADLINE_MS) return `it did not complete within ${SWITCHOVER_DEADLINE_MS} ms`;
  return undefined;
}

/** Demoting phase (switchover): the primary stops cleanly, the target receives every last byte, then it is promoted. */
export const DEMOTING_RULES: Rule[] = [
  {
    id: 'demote-failed',
    when: (f) =>
      f.primary?.heartbeat?.action?.term === f.cluster.term && f.primary.heartbeat.action.step === 'demote-failed',
    then: (f) => {
      const detail = f.primary?.heartbeat?.action?.detail ?? '';
      const next = bump(f, { phase: 'steady', switchover: null });
      return {
        rule: 'demote-failed',
        reason: `switchover abandoned: ${f.cluster.primaryNodeId ?? '?'} could not be demoted: ${detail}`,
        next,
        notices: [
          makeNotice(
            next,
            'switchover-failed',
            'SEVERE',
            `switchover failed: ${f.cluster.primaryNodeId ?? '?'} could not be demoted`,
            { nodeId: f.cluster.primaryNodeId, lines: [detail] },
          ),
        ],
      };
    },
  },
  {
    id: 'switchover-caught-up',
    busy: true,
    when: (f) => {
      const stoppedAt = demotedAt(f);
      const target = f.nodes.find((n) => n.node.nodeId === f.cluster.switchover?.toNodeId)?.heartbeat;
      const received = target ? standbyPosition(target.receivedLsn, target.replayedLsn) : null;
      return stoppedAt !== null && received !== null && received !== undefined && compareLsn(received, stoppedAt) >= 0;
    },
    then: (f) => {
      const toNodeId = f.cluster.switchover?.toNodeId as string;
      const finalLsn = demotedAt(f) ?? '';
      const reason = `switchover: ${f.cluster.primaryNodeId ?? '?'} stopped cleanly at ${finalLsn} and ${toNodeId} has received all of it; promoting ${toNodeId}`;
      const next = promoteInNewTerm(f, toNodeId, {
        kind: 'switchover',
        fromNodeId: f.cluster.primaryNodeId,
        startedAtMs: f.cluster.switchover?.requestedAtMs ?? f.nowMs,
        reason,
      });
      return {
        rule: 'switchover-caught-up',
        reason,
        next,
        expectLeaseRenewals: f.cluster.leaseRenewals,
        actions: addressAhead(f, toNodeId),
        notices: [],
      };
    },
  },
  {
    // The target or the old primary went away, or it took too long: back to steady in the same term, where
    // the usual rules take over. A primary still serving keeps serving; one that stopped cleanly is promoted
    // back (primary-demoted); a silent one is failed over like any failed primary once confirmed and its
    // lease is over (or fencing proves it stopped). Nothing here needs a person.
    id: 'switchover-abandoned',
    busy: true,
    when: (f) => switchoverTrouble(f) !== undefined,
    then: (f) => {
      const toNodeId = f.cluster.switchover?.toNodeId ?? '?';
      const primaryId = f.cluster.primaryNodeId ?? '?';
      const stoppedAt = demotedAt(f);
      const next = bump(f, { phase: 'steady', switchover: null });
      const then = !f.primaryLive
        ? `${primaryId} is failed over as a failed primary once the failure is confirmed and its lease is over`
        : stoppedAt !== null
          ? `${primaryId} stopped cleanly at ${stoppedAt} and is promoted back`
          : `${primaryId} keeps serving as the primary`;
      const reason = `switchover to ${toNodeId} abandoned: ${switchoverTrouble(f) ?? ''}; ${then}`;
      return {
        rule: 'switchover-abandoned',
        reason,
        next,
        notices: [makeNotice(next, 'switchover-failed', 'SEVERE', reason, { nodeId: toNodeId })],
      };
    },
  },
  {
    id: 'awaiting-demotion',
    busy: true,
    when: () => true,
    then: (f) =>
      wait(
        'awaiting-demotion',
        `waiting for ${f.cluster.primaryNodeId ?? '?'} to stop cleanly and ${f.cluster.switchover?.toNodeId ?? '?'} to catch up`,
      ),
  },
];

export const HALTED_RULES: Rule[] = [
  {
    id: 'halted',
    when: () => true,
    then: (f) => wait('halted', `a failover was aborted in term ${f.cluster.term}; waiting for an administrator`),
  },
];

const RULES_BY_PHASE: Record<ClusterRecord['phase'], Rule[]> = {
  steady: STEADY_RULES,
  demoting: DEMOTING_RULES,
  promoting: PROMOTING_RULES,
  promoted: PROMOTED_RULES,
  halted: HALTED_RULES,
};

const ALL_RULES = Object.values(RULES_BY_PHASE).flat();
/** Rules after which the evaluator looks again at its busy pace (read from the rows' `busy`). */
export const BUSY_RULE_IDS: ReadonlySet<RuleId> = new Set(ALL_RULES.filter((row) => row.busy).map((row) => row.id));
/** Rules that start a failover (read from the rows' `startsFailover`). */
export const FAILOVER_RULE_IDS: ReadonlySet<RuleId> = new Set(
  ALL_RULES.filter((row) => row.startsFailover).map((row) => row.id),
);

// ---------------------------------------------------------------------------------------------------
// Standing conditions: raised once, resolved once, kept in the cluster record.

interface DesiredAlert {
  key: string;
  severity: Severity;
  subject: string;
  nodeId: string | null;
  lines: string[];
}

export function desiredAlerts(f: Facts, rule: RuleId, reason: string): DesiredAlert[] {
  const alerts: DesiredAlert[] = [];
  const primaryId = f.cluster.primaryNodeId;
  if (f.cluster.phase === 'steady' && primaryId) {
    if (rule === 'primary-agent-left')
      alerts.push({
        key: `primary-agent-left:${primaryId}`,
        severity: 'WARNING',
        subject: `the agent of primary ${primaryId} left; its database still answers, no failover`,
        nodeId: primaryId,
        lines: [reason],
      });
    // While a new cluster is being set up (its primary has never reported), nothing pages anyone.
    const settingUp = f.primary?.heartbeat === undefined;
    if (!settingUp && (rule === 'failure-unconfirmed' || rule === 'lease-valid' || rule === 'primary-db-unknown'))
      alerts.push({
        key: `primary-suspect:${primaryId}`,
        severity: 'WARNING',
        subject: `primary ${primaryId} may have failed; confirming`,
        nodeId: primaryId,
        lines: [reason],
      });
    if (rule === 'old-primary-unfenced')
      alerts.push({
        key: `manual-failover-required:${primaryId}`,
        severity: 'SEVERE',
        subject: `primary ${primaryId} failed and cannot be proven stopped: manual failover required`,
        nodeId: primaryId,
        lines: [reason],
      });
    // A planned restart during maintenance looks the same as a crash: worth a warning, not a page.
    if (rule === 'paused')
      alerts.push({
        key: `paused-primary-down:${primaryId}`,
        severity: 'WARNING',
        subject: `primary ${primaryId} is down while the cluster is paused: no failover; pgfailover promote if it is not coming back`,
        nodeId: primaryId,
        lines: [reason],
      });
    if (rule === 'auto-failover-off')
      alerts.push({
        key: `manual-failover-required:${primaryId}`,
        severity: 'SEVERE',
        subject: `primary ${primaryId} failed: manual failover required (automatic failover is off)`,
        nodeId: primaryId,
        lines: [reason],
      });
    if (rule === 'no-candidate')
      alerts.push({
        key: `no-candidate:${primaryId}`,
        severity: 'SEVERE',
        subject: `primary ${primaryId} failed and no standby can be promoted`,
        nodeId: primaryId,
        lines: [reason],
      });
    const beat = f.primary?.heartbeat;
    if (f.primaryLive && beat?.agentType === 'primary' && beat.dbStatus === 'UP') {
      const since = new Map(f.cluster.alerts.map((alert) => [alert.key, alert.sinceMs]));
      const trouble = replicationTrouble({
        primaryId,
        beat,
        // Standbys that have reported at least once: a cluster being set up is not alerted on.
        standbyIds: f.nodes
          .filter((n) => !n.witness && n.node.nodeId !== primaryId && n.heartbeat !== undefined)
          .map((n) => n.node.nodeId),
        standingSinceMs: (key) => since.get(key),
        nowMs: f.nowMs,
        roleChangedAtMs: f.cluster.failover
          ? (f.cluster.failover.promotedAtMs ?? f.cluster.failover.startedAtMs)
          : null,
      });
      alerts.push(...trouble.map((t) => ({ ...t, nodeId: primaryId })));
    }
  }
  const pause = f.cluster.pause;
  if (pause) {
    // Wall clock on purpose: a reminder spans evaluator lifetimes, and a clock step only moves its timing.
    const lines = [`Why: ${pause.reason}`, `Since: ${new Date(pause.sinceMs).toISOString()}`];
    alerts.push({
      key: 'paused',
      severity: 'WARNING',
      subject: `cluster paused by ${pause.by}: no automatic failover until pgfailover resume`,
      nodeId: null,
      lines,
    });
    if (f.nowMs - pause.sinceMs > f.cluster.policy.pauseReminderMs)
      alerts.push({
        key: 'paused-too-long',
        severity: 'SEVERE',
        subject: `cluster paused for over ${Math.round(f.cluster.policy.pauseReminderMs / 60_000)} min: still no automatic failover; end it with pgfailover resume`,
        nodeId: null,
        lines,
      });
  }
  if (f.cluster.phase === 'halted')
    alerts.push({
      key: `halted:${f.cluster.term}`,
      severity: 'SEVERE',
      subject: `failover halted in term ${f.cluster.term}: the cluster needs an administrator`,
      nodeId: null,
      lines: [reason],
    });
  for (const n of f.nodes) {
    const id = n.node.nodeId;
    // The old primary is the failover's business while it runs; once done, it is a standby like the
    // others (a down one until it is re-attached), and is reported as such.
    if (id === primaryId || (id === f.cluster.failover?.fromNodeId && f.cluster.phase !== 'steady')) continue;
    const kind = n.witness ? 'witness' : 'standby';
    const justAllowed = !n.heartbeat && f.nowMs - f.membershipChangedAtMs < NEVER_REPORTED_GRACE_MS;
    if (!n.live && !justAllowed) {
      alerts.push({
        key: `${kind}-agent-down:${id}`,
        severity: 'WARNING',
        subject: `${kind} ${id}: agent not reporting${kind === 'standby' ? '; excluded from promotion' : ''}`,
        nodeId: id,
        lines: [],
      });
    } else if (!n.witness && n.heartbeat?.dbStatus === 'DOWN') {
      alerts.push({
        key: `standby-db-down:${id}`,
        severity: 'WARNING',
        subject: `standby ${id}: database DOWN; excluded from promotion`,
        nodeId: id,
        lines: [n.heartbeat.dbInfo],
      });
    }
  }
  // A site script that failed (EFM sends its exit code and output in a notification): until it succeeds.
  for (const n of f.nodes) {
    for (const failure of n.heartbeat?.hookFailures ?? []) {
      alerts.push({
        key: `hook-failed:${n.node.nodeId}:${failure.hook}`,
        severity: 'WARNING',
        subject: `${failure.hook} hook failed on ${n.node.nodeId} (${failure.exitCode === null ? 'no exit code' : `exit code ${failure.exitCode}`})`,
        nodeId: n.node.nodeId,
        lines: [failure.detail],
      });
    }
  }
  if (f.voters < 3 && f.primary?.heartbeat !== undefined)
    alerts.push({
      key: 'reduced-protection',
      severity: 'WARNING',
      subject: `only ${f.voters} member(s): failover protection is reduced; add a standby or a witness`,
      nodeId: null,
      lines: [],
    });
  return alerts;
}

function reconcileAlerts(
  f: Facts,
  desired: DesiredAlert[],
  base: ClusterRecord,
  rule: RuleId,
): { alerts: ClusterRecord['alerts']; notices: Notice[] } {
  const current = new Map(f.cluster.alerts.map((alert) => [alert.key, alert]));
  const wanted = new Map(desired.map((alert) => [alert.key, alert]));
  const notices: Notice[] = [];
  for (const alert of desired) {
    if (!current.has(alert.key))
      notices.push(
        makeNotice(base, alert.key.split(':')[0] ?? alert.key, alert.severity, alert.subject, {
          nodeId: alert.nodeId,
          lines: alert.lines,
        }),
      );
  }
  // A suspicion that ends because a failover starts is not resolved: "failover-started" says what became of it.
  const supersededByFailover = FAILOVER_RULE_IDS.has(rule);
  for (const alert of f.cluster.alerts) {
    if (wanted.has(alert.key)) continue;
    if (supersededByFailover && alert.key.startsWith('primary-suspect:')) continue;
    notices.push(
      makeNotice(base, 'resolved', 'INFO', `resolved: ${alert.subject}`, {
        lines: [`Raised at ${new Date(alert.sinceMs).toISOString()}.`],
      }),
    );
  }
  const alerts = desired.map((alert) => ({
    key: alert.key,
    severity: alert.severity,
    subject: alert.subject,
    sinceMs: current.get(alert.key)?.sinceMs ?? f.nowMs,
  }));
  return { alerts, notices };
}

// ---------------------------------------------------------------------------------------------------

export function decide(input: EvaluationInput, at: Instant): Decision {
  return decideOn(gatherFacts(input, at));
}

/** The decision on facts already gathered (the evaluator also reports them as metrics). */
export function decideOn(facts: Facts): Decision {
  const rules = RULES_BY_PHASE[facts.cluster.phase];
  const rule = rules.find((candidate) => candidate.when(facts)) as Rule;
  const outcome = rule.then(facts);
  const base = outcome.next ?? facts.cluster;
  // Standing conditions are judged in the phase the decision leads to.
  const factsAfter = { ...facts, cluster: { ...facts.cluster, phase: base.phase } };
  const { alerts, notices: alertNotices } = reconcileAlerts(
    factsAfter,
    desiredAlerts(factsAfter, outcome.rule, outcome.reason),
    base,
    outcome.rule,
  );
  const alertsChanged =
    JSON.stringify(alerts.map((a) => a.key)) !== JSON.stringify(facts.cluster.alerts.map((a) => a.key));
  const next = outcome.next || alertsChanged ? { ...(outcome.next ?? bump(facts, {})), alerts } : null;
  return {
    rule: outcome.rule,
    reason: outcome.reason,
    next,
    expectLeaseRenewals: outcome.expectLeaseRenewals ?? null,
    actions: outcome.actions ?? [],
    notices: next ? [...(outcome.notices ?? []), ...alertNotices] : [],
    recheckInMs: outcome.recheckInMs ?? null,
  };
}
