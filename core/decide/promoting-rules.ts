// Promoting and promoted phases: the candidate promotes (or is replaced in a new term), then the others follow.

import { makeNotice } from '../notices.ts';
import { type Candidate, type Facts, type NodeFacts, REPOINT_DEADLINE_MS } from './facts.ts';
import {
  type Rule,
  addressAhead,
  addressMovesTo,
  addressNotOnPrimaryRule,
  bump,
  fenceNodeRule,
  leaseRunsOutInMs,
  promoteInNewTerm,
  wait,
} from './rule-kit.ts';

export function candidateFacts(f: Facts): NodeFacts | undefined {
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

export function notFollowing(f: Facts): string[] {
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
