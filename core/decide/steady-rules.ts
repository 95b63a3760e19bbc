// Steady phase: a healthy primary is left alone; a failed one is replaced once its failure is confirmed and
// its lease is over (or fencing proves it stopped); switchovers and manual failovers start here.

import { makeNotice } from '../notices.ts';
import { type Candidate, type Facts, PEER_LEASE_PROOF, promotionVeto, switchoverVeto } from './facts.ts';
import {
  type Rule,
  addressAhead,
  addressNotOnPrimaryRule,
  bump,
  fenceNodeRule,
  leaseRunsOutInMs,
  primaryProblem,
  promoteInNewTerm,
  votes,
  wait,
} from './rule-kit.ts';
import { demotedAt } from './demoting-rules.ts';

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
      !f.confirmed && f.leaseExpired && f.nobodySeesIt && f.cluster.pause === null && f.cluster.policy.autoFailover,
  ),
  {
    id: 'failure-unconfirmed',
    busy: true,
    when: (f) => !f.confirmed,
    then: (f) =>
      wait(
        'failure-unconfirmed',
        `${primaryProblem(f)}; failure not confirmed: ${votes(f)} say its database does not answer${f.nobodySeesIt ? unprovenStop(f) : ''}`,
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

/** Why nothing but a majority can confirm a silent primary's failure under this policy, or ''. */
function unprovenStop(f: Facts): string {
  const { fencing } = f.cluster.policy;
  if (fencing === 'agent')
    return '; with fencing "agent" nothing proves a silent primary stopped, so only a majority can confirm';
  if (fencing === 'watchdog' && !PEER_LEASE_PROOF.watchdogProves(f.cluster.policy))
    return "; peer leases are on: a watchdog proves nothing, so only a majority can confirm (a primary holding its peers' vouches outlives its store lease)";
  return '';
}
