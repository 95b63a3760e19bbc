// What the rule tables are made of: a rule row, its outcomes, and the pieces several phases' rows share.

import { makeNotice, type Notice } from '../notices.ts';
import type { ClusterRecord } from '../records.ts';
import { type Action, type Decision, type Facts, type RuleId } from './facts.ts';

export type Outcome = Omit<Decision, 'notices' | 'next' | 'expectLeaseRenewals' | 'actions' | 'recheckInMs'> & {
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

export const wait = (rule: RuleId, reason: string): Outcome => ({ rule, reason });

/** The lease counts as expired once its window is strictly past: a look this much later finds it so. */
export const leaseRunsOutInMs = (f: Facts): number => f.leaseRemainingMs + 1;

/** A role change: a new term whose primary is `toNodeId`, to be promoted; the lease starts afresh. */
export function promoteInNewTerm(
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
export function addressAhead(f: Facts, toNodeId: string): Action[] {
  return addressMovesTo(f, toNodeId) ? [{ kind: 'move-address', toNodeId, term: f.cluster.term + 1 }] : [];
}

/** The cluster has an address to move, and it is not on `toNodeId` (as recorded once a move has happened). */
export function addressMovesTo(f: Facts, toNodeId: string | null): boolean {
  return f.cluster.address.mode !== 'none' && f.cluster.address.holderNodeId !== toNodeId;
}

export function bump(facts: Facts, changes: Partial<ClusterRecord>): ClusterRecord {
  return { ...facts.cluster, ...changes, version: facts.cluster.version + 1, updatedAtMs: facts.nowMs };
}

/** "3 of 4 members (need 3: db2, db3, witness)": who says the primary's database does not answer. */
export const votes = (facts: Facts) => {
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
export function addressNotOnPrimaryRule(primaryServes: (f: Facts) => boolean): Rule {
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
export function stoppedByFence(f: Facts, nodeId: string | null | undefined): boolean {
  const fence = f.cluster.fence;
  return !!nodeId && fence?.nodeId === nodeId && fence.term === f.cluster.term && fence.stoppedAtMs !== null;
}

/**
 * fencing "ec2-stop": before anyone is promoted in place of `target`, stop its instance from outside (its
 * agent may be frozen or dead). The write claims the stop for this round; the evaluator records the node
 * stopped once the EC2 API says so, and the next round goes on.
 */
export function fenceNodeRule(
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
