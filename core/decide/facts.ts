// What the decision is taken on: the cluster's facts gathered from the snapshot, the evaluator's observations
// and its clock (liveness, votes, the lease, fencing proof, the candidate), and the decision's own shape.

import { heartbeatLive } from '../liveness.ts';
import type { Instant } from '../clock.ts';
import { leaseWindowMs } from '../lease-timing.ts';
import { compareLsn, lsnLagBytes, standbyPosition } from '../lsn.ts';
import { effectivePriority } from '../membership.ts';
import { type Notice } from '../notices.ts';
import type { Observations } from '../observations.ts';
import type { AllowedNode, ClusterRecord, HeartbeatRecord, MembershipRecord } from '../records.ts';

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
  /** Some live member says the primary's database does not answer, and none says it does. */
  nobodySeesIt: boolean;
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

/**
 * Which peer's check is a vote on the primary: one from a live member, about the primary recorded now. A
 * dead member's last word ("it answers", "it does not") is history: counted, it would block a failover that
 * fencing has made safe, or confirm one nobody sees. Data, so the simulation's stale-vote mutant can swap it.
 */
export const VOTING = {
  counts: (voter: NodeFacts, primaryNodeId: string | null): boolean =>
    voter.live && voter.heartbeat?.primaryCheck?.primaryNodeId === primaryNodeId,
};

/**
 * A primary that holds its peers' vouches outlives its store lease, and its watchdog with it
 * (docs/peer-leases.md): with peer leases on, the store lease's end proves nothing. Data, so the simulation's
 * mutant can swap it.
 */
export const PEER_LEASE_PROOF = {
  watchdogProves: (policy: Pick<ClusterRecord['policy'], 'peerLeases'>): boolean => !policy.peerLeases,
};

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
    if (facts === primary || !VOTING.counts(facts, cluster.primaryNodeId)) continue;
    const check = facts.heartbeat?.primaryCheck;
    if (check?.status === 'DOWN') unreachableVotes.push(facts.node.nodeId);
    else if (check?.status === 'UP') reachableVotes.push(facts.node.nodeId);
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
    (leaseExpired &&
      cluster.policy.fencing === 'watchdog' &&
      PEER_LEASE_PROOF.watchdogProves(cluster.policy) &&
      primaryBeat?.watchdogArmed === true) ||
    (cluster.policy.fencing === 'ec2-stop' &&
      fence?.nodeId === cluster.primaryNodeId &&
      fence?.term === cluster.term &&
      fence.stoppedAtMs !== null);
  // Healthy means its agent says so and the cluster agrees: a primary that a majority cannot reach is
  // not healthy even while its agent still reports (a partition); only its lease then protects it. Once
  // fencing proves it stopped, the members that are still alive confirm it alone: a standby that died
  // after the primary (a double fault) can no longer vote, and would otherwise leave no primary at all.
  const nobodySeesIt = unreachableVotes.length > 0 && reachableVotes.length === 0;
  const confirmed = unreachableVotes.length >= majority || (stopProven && nobodySeesIt);
  // Nor is one whose lease ran out while no live member sees it: its last report (live for a node timeout
  // after a crash) must not hold up the stop from outside that would prove it down (fencing "ec2-stop").
  const primaryHealthy =
    primaryLive &&
    primaryBeat?.dbStatus === 'UP' &&
    primaryBeat.agentType === 'primary' &&
    !confirmed &&
    !(leaseExpired && nobodySeesIt);
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
    nobodySeesIt,
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
