// cluster-status: the EFM report brought up to date, computed purely from a snapshot of the state table
// and the reader's clock. The same report feeds the text view, the JSON view (docs/cluster-status-json.md)
// and the exit code.
//
// Liveness here compares an agent's send time with the reader's clock against that node's own node
// timeout: a display judgement that tolerates skew up to the node timeout. Failover decisions never
// rely on it; the evaluator times heartbeats on its own clock.

import { heartbeatStale } from './liveness.ts';
import { describePeer, replicationTrouble, streams } from './replication-health.ts';
import { lsnLagBytes, standbyPosition } from './lsn.ts';
import { promotionOrder } from './membership.ts';
import type { AgentType, AllowedNode, ClusterRecord, DbStatus, HeartbeatRecord } from './records.ts';
import type { Facts } from './decide.ts';
import { readerFacts } from './reader-facts.ts';
import type { ClusterSnapshot } from './state-store.ts';
import { layoutNotes, policyWarnings, primaryProblems } from './cluster-status-problems.ts';

import { formatSeconds } from './cluster-status-format.ts';

export { formatClusterStatus } from './cluster-status-format.ts';

export const CLUSTER_STATUS_SCHEMA_VERSION = 1;

export type AgentLiveness = 'UP' | 'DOWN' | 'EXITED' | 'UNKNOWN';

export interface NodeStatus {
  nodeId: string;
  address: string;
  agentType: AgentType | 'unknown';
  agentStatus: AgentLiveness;
  dbStatus: DbStatus;
  info: string;
  holdsAddress: boolean;
  timeline: number | null;
  currentLsn: string | null;
  receivedLsn: string | null;
  replayedLsn: string | null;
  heartbeatAgeMs: number | null;
  seq: number | null;
}

export interface PromoteStandby {
  nodeId: string;
  receivedLsn: string | null;
  replayedLsn: string | null;
  /** Bytes of WAL the primary has written that this standby has not received; null when unknown. */
  lagBytes: number | null;
  inSync: boolean;
  info: string;
  /** This standby as the primary's pg_stat_replication lists it (state, sync state, last reply), or null. */
  replication: string | null;
}

export interface ClusterStatusReport {
  schemaVersion: typeof CLUSTER_STATUS_SCHEMA_VERSION;
  cluster: string;
  generatedAtMs: number;
  term: number;
  /** steady, or a role change under way (demoting, promoting, promoted), or halted (needs a person). */
  phase: ClusterRecord['phase'];
  /** The cluster's fencing policy: what stops an old primary whose agent is frozen or dead. */
  fencing: ClusterRecord['policy']['fencing'];
  recordedPrimary: string | null;
  autoFailover: boolean;
  maxLagBytes: number;
  address: { mode: string; value: string | null; holderNodeId: string | null };
  nodes: NodeStatus[];
  allowedNodes: AllowedNode[];
  standbyPriority: string[];
  promoteStatus: {
    primary: { nodeId: string; currentLsn: string | null; timeline: number | null } | null;
    standbys: PromoteStandby[];
    safeToPromote: boolean;
    /** The standby a failover now would promote, chosen by the evaluator's own rule (chooseCandidate). */
    candidate: { nodeId: string; reason: string } | null;
    /** Standbys a failover now would not promote, each with the evaluator's reason. */
    notChosen: { nodeId: string; reason: string }[];
    verdict: string;
  };
  /** A pause for maintenance (pgfailover pause), or null. */
  pause: { sinceMs: number; by: string; reason: string } | null;
  /** A manual failover asked for and not yet carried out (pgfailover promote), or null. */
  promotion: { toNodeId: string | null; requestedBy: string; requestedAtMs: number; force: boolean } | null;
  rejectedNodes: { nodeId: string; address: string; reason: string; attempts: number; lastAtMs: number }[];
  /** Each one makes the exit code non-zero. */
  problems: string[];
  /** Worth a look, but the cluster is serving and protected. */
  warnings: string[];
  healthy: boolean;
}

export function buildClusterStatus(snapshot: ClusterSnapshot, nowMs: number): ClusterStatusReport {
  const { cluster, membership } = snapshot;
  // The evaluator's facts, as a reader can know them: one candidate choice for the report and decide().
  const facts = readerFacts(snapshot, nowMs);
  const problems: string[] = [];
  const warnings: string[] = [];
  const heartbeatOf = new Map(snapshot.heartbeats.map((heartbeat) => [heartbeat.nodeId, heartbeat]));

  for (const item of snapshot.invalid) {
    problems.push(`item ${item.sk} in the state table is not valid and was ignored: ${item.problems.join('; ')}`);
  }

  const nodes = membership.allowed.map((allowed) =>
    nodeStatus(allowed, heartbeatOf.get(allowed.nodeId), nowMs, cluster),
  );
  for (const node of nodes) {
    const where = `${node.nodeId} (${node.address})`;
    if (node.agentStatus !== 'UP') {
      problems.push(`agent on ${where} is ${node.agentStatus}: ${node.info}`);
      continue;
    }
    if (node.agentType === 'witness') continue;
    if (node.dbStatus === 'DOWN') problems.push(`database on ${where} is DOWN: ${node.info}`);
    else if (node.dbStatus === 'UNKNOWN') problems.push(`database on ${where} is UNKNOWN: ${node.info}`);
  }

  const live = nodes.filter((node) => node.agentStatus === 'UP' && node.dbStatus === 'UP');
  const primaries = live.filter((node) => node.agentType === 'primary');
  const standbys = live.filter((node) => node.agentType === 'standby');
  const primary = primaries.length === 1 ? primaries[0] : undefined;

  primaryProblems(snapshot, nodes, primaries, standbys, problems, warnings);
  policyWarnings(cluster, warnings);
  const primaryHeartbeat = primary ? heartbeatOf.get(primary.nodeId) : undefined;
  const promoteStandbys = standbys.map((standby) =>
    promoteStandby(standby, primary, primaryHeartbeat, cluster.policy.maxLagBytes),
  );
  for (const standby of promoteStandbys) {
    if (!standby.inSync) problems.push(`standby ${standby.nodeId} is not in sync with the primary: ${standby.info}`);
  }
  // Commits that cannot be acknowledged, or a primary nobody streams from: the evaluator's rules, read here.
  if (primary && primaryHeartbeat) {
    const since = new Map(cluster.alerts.map((alert) => [alert.key, alert.sinceMs]));
    const trouble = replicationTrouble({
      primaryId: primary.nodeId,
      beat: primaryHeartbeat,
      standbyIds: membership.allowed
        .filter((node) => node.role === 'database' && node.nodeId !== primary.nodeId && heartbeatOf.has(node.nodeId))
        .map((node) => node.nodeId),
      standingSinceMs: (key) => since.get(key),
      nowMs,
      roleChangedAtMs: cluster.failover ? (cluster.failover.promotedAtMs ?? cluster.failover.startedAtMs) : null,
    });
    for (const t of trouble) problems.push(`${t.subject} (${t.lines.slice(1).join('; ') || t.lines.join('')})`);
  }

  layoutNotes(snapshot, problems, warnings);
  const rejectedNodes = [
    ...snapshot.rejected.map((rejected) => ({
      nodeId: rejected.nodeId,
      address: rejected.address,
      reason: rejected.reason,
      attempts: rejected.attempts,
      lastAtMs: rejected.lastAtMs,
    })),
  ];
  for (const rejected of rejectedNodes) {
    warnings.push(`heartbeats from ${rejected.nodeId} (${rejected.address}) are rejected: ${rejected.reason}`);
  }

  return {
    schemaVersion: CLUSTER_STATUS_SCHEMA_VERSION,
    cluster: cluster.cluster,
    generatedAtMs: nowMs,
    term: cluster.term,
    phase: cluster.phase,
    fencing: cluster.policy.fencing,
    recordedPrimary: cluster.primaryNodeId,
    autoFailover: cluster.policy.autoFailover,
    maxLagBytes: cluster.policy.maxLagBytes,
    address: { ...cluster.address },
    nodes,
    allowedNodes: membership.allowed,
    // The priority list names promotion candidates (neither witnesses nor the primary), and of those only
    // nodes whose agent reports: a dead old primary is no candidate until it is back.
    standbyPriority: promotionOrder(membership, cluster.primaryNodeId).filter((nodeId) => {
      const status = nodes.find((node) => node.nodeId === nodeId);
      return status?.agentStatus === 'UP' && status.agentType !== 'witness' && nodeId !== primary?.nodeId;
    }),
    promoteStatus: {
      primary: primary ? { nodeId: primary.nodeId, currentLsn: primary.currentLsn, timeline: primary.timeline } : null,
      standbys: promoteStandbys,
      ...verdict(primary !== undefined, promoteStandbys, facts),
    },
    pause: cluster.pause,
    promotion: cluster.promotion
      ? {
          toNodeId: cluster.promotion.toNodeId,
          requestedBy: cluster.promotion.requestedBy,
          requestedAtMs: cluster.promotion.requestedAtMs,
          force: cluster.promotion.force,
        }
      : null,
    rejectedNodes,
    problems,
    warnings,
    healthy: problems.length === 0,
  };
}

function nodeStatus(
  allowed: AllowedNode,
  heartbeat: HeartbeatRecord | undefined,
  nowMs: number,
  cluster: ClusterRecord,
): NodeStatus {
  const base = {
    nodeId: allowed.nodeId,
    address: allowed.address,
    holdsAddress: cluster.address.holderNodeId === allowed.nodeId,
  };
  if (!heartbeat) {
    return {
      ...base,
      agentType: 'unknown',
      agentStatus: 'UNKNOWN',
      dbStatus: 'UNKNOWN',
      info: 'no heartbeat has ever been received; start pgfailover-agent on this node',
      timeline: null,
      currentLsn: null,
      receivedLsn: null,
      replayedLsn: null,
      heartbeatAgeMs: null,
      seq: null,
    };
  }
  const ageMs = Math.max(0, nowMs - heartbeat.sentAtMs);
  const facts = {
    ...base,
    agentType: heartbeat.agentType,
    timeline: heartbeat.timeline,
    currentLsn: heartbeat.currentLsn,
    receivedLsn: heartbeat.receivedLsn,
    replayedLsn: heartbeat.replayedLsn,
    heartbeatAgeMs: ageMs,
    seq: heartbeat.seq,
  };
  // What a silent or stopped agent last said its node was is history, not status.
  if (heartbeat.agentStatus === 'EXITED') {
    return {
      ...facts,
      agentType: 'unknown',
      agentStatus: 'EXITED',
      dbStatus: 'UNKNOWN',
      info: 'the agent was stopped (it said so on exit); start pgfailover-agent again',
    };
  }
  if (heartbeatStale(heartbeat, ageMs)) {
    return {
      ...facts,
      agentType: 'unknown',
      agentStatus: 'DOWN',
      dbStatus: 'UNKNOWN',
      info: `no heartbeat for ${formatSeconds(ageMs)} (node timeout ${formatSeconds(heartbeat.timeouts.nodeTimeoutMs)}); check the host and its pgfailover-agent`,
    };
  }
  // A replaced primary's last word, sent before its agent saw the term that replaced it, says nothing about
  // now: a live agent reads the new term within a beat and fences, and the failover waited until its
  // lease was over. Counting it as writable would report a split brain after every node crash.
  if (heartbeat.agentType === 'primary' && heartbeat.term < cluster.term && allowed.nodeId !== cluster.primaryNodeId) {
    return {
      ...facts,
      agentType: 'unknown',
      agentStatus: 'UNKNOWN',
      dbStatus: 'UNKNOWN',
      info: `no report since term ${cluster.term} replaced it (the last, ${formatSeconds(ageMs)} ago in term ${heartbeat.term}, was as primary); it can come back only as a standby`,
    };
  }
  return { ...facts, agentStatus: 'UP', dbStatus: heartbeat.dbStatus, info: heartbeat.dbInfo };
}

function promoteStandby(
  standby: NodeStatus,
  primary: NodeStatus | undefined,
  primaryHeartbeat: HeartbeatRecord | undefined,
  maxLagBytes: number,
): PromoteStandby {
  // "Received" is the WAL the standby holds, as the candidate choice counts it (decide.ts): a receiver that
  // restarted reports the segment it began streaming from, behind what the standby has already replayed.
  const listed = primaryHeartbeat?.replication.find((peer) => peer.applicationName === standby.nodeId);
  const base = {
    nodeId: standby.nodeId,
    receivedLsn: standbyPosition(standby.receivedLsn, standby.replayedLsn),
    replayedLsn: standby.replayedLsn,
    replication: listed ? describePeer(listed) : null,
  };
  if (!primary || !primary.currentLsn)
    return { ...base, lagBytes: null, inSync: false, info: 'no primary to compare with' };
  if (!standby.receivedLsn && !standby.replayedLsn)
    return { ...base, lagBytes: null, inSync: false, info: 'has not received any WAL' };
  if (standby.timeline !== null && primary.timeline !== null && standby.timeline !== primary.timeline) {
    return {
      ...base,
      lagBytes: null,
      inSync: false,
      info: `on timeline ${standby.timeline} while the primary is on timeline ${primary.timeline}`,
    };
  }
  // A standby whose receiver restarted reports no received LSN; what it has replayed it certainly has.
  const standbyLsn = standbyPosition(standby.receivedLsn, standby.replayedLsn) ?? '0/0';
  const lagBytes = lsnLagBytes(primary.currentLsn, standbyLsn);
  const streaming = listed !== undefined && streams(listed);
  // Ahead of the primary's last report and not streaming from it: it has WAL the primary does not (a
  // diverged history, such as an old primary restarted as a standby). Ahead while streaming is only the
  // two reports' different ages.
  const aheadBytes = lsnLagBytes(standbyLsn, primary.currentLsn);
  if (aheadBytes > 0 && !streaming) {
    return {
      ...base,
      lagBytes: 0,
      inSync: false,
      info: `${aheadBytes} bytes ahead of the primary and not streaming from it: its history diverged; it cannot follow this primary without pg_rewind (or a fresh copy)`,
    };
  }
  if (lagBytes > maxLagBytes) {
    return {
      ...base,
      lagBytes,
      inSync: false,
      info: `${lagBytes} bytes behind the primary, past the ${maxLagBytes}-byte limit`,
    };
  }
  const notes = [
    lagBytes > 0 ? `${lagBytes} bytes behind` : '',
    streaming
      ? ''
      : listed
        ? `not streaming as the primary sees it: ${describePeer(listed)}`
        : "not listed as streaming in the primary's pg_stat_replication",
  ];
  return { ...base, lagBytes, inSync: true, info: notes.filter(Boolean).join('; ') };
}

/** The verdict is the evaluator's own candidate choice (decide.ts's chooseCandidate), never a second one. */
function verdict(
  hasPrimary: boolean,
  standbys: PromoteStandby[],
  facts: Facts,
): Pick<ClusterStatusReport['promoteStatus'], 'safeToPromote' | 'candidate' | 'notChosen' | 'verdict'> {
  const candidate = facts.candidate ? { nodeId: facts.candidate.nodeId, reason: facts.candidate.reason } : null;
  const notChosen = facts.vetoes.map((veto) => ({ nodeId: veto.nodeId, reason: veto.reason }));
  const unchosen = notChosen.length
    ? ` Not chosen: ${notChosen.map((v) => `${v.nodeId} (${v.reason})`).join('; ')}.`
    : '';
  if (!candidate)
    return {
      safeToPromote: false,
      candidate,
      notChosen,
      verdict: `No standby can be promoted: it is not safe to promote.${unchosen || ' There is no standby.'}`,
    };
  const level = hasPrimary && standbys.every((standby) => standby.lagBytes === 0);
  const head = level
    ? 'Standby database(s) in sync with primary. It is safe to promote.'
    : `It is safe to promote (within the ${facts.cluster.policy.maxLagBytes}-byte lag limit).`;
  return {
    safeToPromote: true,
    candidate,
    notChosen,
    verdict: `${head} A failover now would promote ${candidate.nodeId} (${candidate.reason}).${unchosen}`,
  };
}
