// Demoting phase (switchover) and halted.

import { compareLsn, isLsn, standbyPosition } from '../lsn.ts';
import { makeNotice } from '../notices.ts';
import { type Facts } from './facts.ts';
import { type Rule, addressAhead, bump, primaryProblem, promoteInNewTerm, wait } from './rule-kit.ts';

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
