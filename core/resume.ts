// `pgfailover resume`: a halted cluster back to steady, without a hand edit of the state table, after
// checking what made it halt. Pure: the snapshot and the time in, the record to write (or why not) out.
//
// Halted means a failover stopped for a person (a fencing hook that said no, a silent candidate nothing
// could fence). Resuming is safe only when it cannot create a second writable primary:
// - exactly one node reports a writable database: it becomes the primary of a new term;
// - no node reports one: the failed primary is recorded again in a new term, so the evaluator confirms
//   its failure and fails over afresh (running the fencing hook again);
// - more than one, or a node whose agent is silent (its database might be writable, unseen): refused.

import { liveAsSent } from './liveness.ts';
import type { ClusterRecord } from './records.ts';
import type { ClusterSnapshot } from './state-store.ts';

export type ResumePlan = { ok: true; next: ClusterRecord; summary: string } | { ok: false; reason: string };

export function planResume(snapshot: ClusterSnapshot, nowMs: number, force: boolean): ResumePlan {
  const { cluster } = snapshot;
  if (cluster.phase !== 'halted')
    return {
      ok: false,
      reason: `cluster ${cluster.cluster} is not halted (phase ${cluster.phase}); there is nothing to resume`,
    };
  const reporting = snapshot.heartbeats.filter((beat) => liveAsSent(beat, nowMs));
  const databases = snapshot.membership.allowed.filter((node) => node.role === 'database').map((node) => node.nodeId);
  const silent = databases.filter((nodeId) => !reporting.some((beat) => beat.nodeId === nodeId));
  const writable = reporting
    .filter((beat) => beat.agentType === 'primary' && beat.dbStatus === 'UP')
    .map((beat) => beat.nodeId);
  if (writable.length > 1) {
    return {
      ok: false,
      reason: `${writable.join(' and ')} both report a writable database: stop all but one (pg_ctl stop -m fast), then resume`,
    };
  }
  if (silent.length > 0 && !force) {
    return {
      ok: false,
      reason: `the agents of ${silent.join(', ')} are not reporting, so their databases may be writable unseen: start those agents (or make sure those servers are stopped), then resume; --force resumes anyway`,
    };
  }
  const base = {
    ...cluster,
    version: cluster.version + 1,
    updatedAtMs: nowMs,
    term: cluster.term + 1,
    phase: 'steady' as const,
    leaseRenewals: 0,
    leaseReleased: false,
    leaseGrantedMs: null,
    switchover: null,
    promotion: null,
    failover: null,
    fence: null,
  };
  const only = writable[0];
  if (only) {
    return {
      ok: true,
      next: { ...base, primaryNodeId: only },
      summary: `${only} is the only writable database: recorded as the primary of term ${base.term}`,
    };
  }
  // Nobody writable: record the primary that failed, so that the evaluator confirms it and fails over anew.
  const failed = cluster.failover?.fromNodeId ?? cluster.primaryNodeId;
  return {
    ok: true,
    next: { ...base, primaryNodeId: failed },
    summary: `no database is writable: ${failed ?? '(none)'} recorded as the failed primary of term ${base.term}; the evaluator confirms its failure and fails over again (running the fencing hook again)`,
  };
}
