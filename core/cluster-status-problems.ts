// What cluster-status finds wrong beyond a single node: no primary or two, a record that names the wrong
// one, what the evaluator has raised, a halt or a role change under way, the policy and the layout. Each
// check appends what it finds, a problem (the cluster is not well: exit 1) or a warning.

import { fencingWarning } from './fencing.ts';
import type { ClusterRecord } from './records.ts';
import type { ClusterSnapshot } from './state-store.ts';
import type { NodeStatus } from './cluster-status.ts';

/** The primary as the nodes report it against the record, the evaluator's alerts, and the phase. */
export function primaryProblems(
  snapshot: ClusterSnapshot,
  nodes: NodeStatus[],
  primaries: NodeStatus[],
  standbys: NodeStatus[],
  problems: string[],
  warnings: string[],
): void {
  const cluster = snapshot.cluster;
  const primary = primaries.length === 1 ? primaries[0] : undefined;
  if (primaries.length === 0) {
    // The recorded primary's agent may be gone while its database still serves: its peers say so.
    const recorded = nodes.find((node) => node.nodeId === cluster.primaryNodeId);
    const answersTo = snapshot.heartbeats
      .filter(
        (beat) =>
          beat.nodeId !== cluster.primaryNodeId &&
          nodes.find((node) => node.nodeId === beat.nodeId)?.agentStatus === 'UP',
      )
      .filter((beat) => beat.primaryCheck?.primaryNodeId === cluster.primaryNodeId && beat.primaryCheck.status === 'UP')
      .map((beat) => beat.nodeId);
    if (recorded && recorded.agentStatus !== 'UP' && answersTo.length > 0) {
      problems.push(
        `primary ${recorded.nodeId}: its agent is not reporting, but its database answers ${answersTo.join(', ')}: it is probably still serving, and no failover happens while it answers; start its agent again`,
      );
    } else {
      problems.push('no primary: no node reports a running, writable database');
    }
  }
  if (primaries.length > 1) {
    problems.push(
      `more than one writable primary: ${primaries.map((node) => node.nodeId).join(', ')}; stop all but one at once (split brain)`,
    );
  }
  if (primary && cluster.primaryNodeId && primary.nodeId !== cluster.primaryNodeId) {
    problems.push(
      `the cluster record names ${cluster.primaryNodeId} as primary (term ${cluster.term}) but ${primary.nodeId} is the writable one`,
    );
  }
  if (standbys.length === 0) problems.push('no standby: there is nothing to fail over to');
  // What the evaluator has raised and not yet resolved: a SEVERE one means the cluster is not well,
  // whatever the nodes report at this moment (a manual failover required, a fence that failed, ...).
  for (const alert of cluster.alerts) {
    if (alert.severity === 'SEVERE' && !alert.key.startsWith('halted:'))
      problems.push(`the evaluator reports since ${new Date(alert.sinceMs).toISOString()}: ${alert.subject}`);
  }
  if (cluster.phase === 'halted') {
    const why =
      cluster.alerts.find((alert) => alert.key.startsWith('halted:'))?.subject ??
      `a failover was stopped in term ${cluster.term}`;
    problems.push(
      `the cluster is halted (${why}): no failover will happen until a person acts; read why with pgfailover history, make sure at most one database is writable, then run: pgfailover resume --cluster ${cluster.cluster}`,
    );
  } else if (cluster.phase !== 'steady') {
    warnings.push(
      `a ${cluster.failover?.kind ?? 'role change'} is under way (phase ${cluster.phase}, term ${cluster.term}, to ${cluster.failover?.toNodeId ?? cluster.switchover?.toNodeId ?? '?'})`,
    );
  }
}

/** The policy's own risks, a pause, a manual failover waiting. */
export function policyWarnings(cluster: ClusterRecord, warnings: string[]): void {
  const gap = fencingWarning(cluster.policy);
  if (gap) warnings.push(gap);
  if (cluster.pause)
    warnings.push(
      `paused since ${new Date(cluster.pause.sinceMs).toISOString()} by ${cluster.pause.by} (${cluster.pause.reason}): no automatic failover, stopped databases are left alone; end it with pgfailover resume --cluster ${cluster.cluster}`,
    );
  if (cluster.promotion)
    warnings.push(
      `a manual failover${cluster.promotion.toNodeId ? ` to ${cluster.promotion.toNodeId}` : ''} asked for by ${cluster.promotion.requestedBy} is waiting for the evaluator's rules (see pgfailover history)`,
    );
}

/** What the hosts' layout and the membership allow: an address that cannot move, too few members, refused nodes. */
export function layoutNotes(snapshot: ClusterSnapshot, problems: string[], warnings: string[]): void {
  const { cluster, membership } = snapshot;
  if (cluster.address.mode === 'secondary-ip') {
    const subnets = [
      ...new Set(
        snapshot.heartbeats
          .filter((beat) => beat.agentType !== 'witness' && beat.host.subnetId)
          .map((beat) => beat.host.subnetId),
      ),
    ];
    if (subnets.length > 1)
      problems.push(
        `the secondary IP cannot move between subnets, but the database nodes are in ${subnets.join(', ')}; use the eip or route-table address mode, or keep the nodes in one subnet`,
      );
  }
  const votingMembers = membership.allowed.length;
  if (votingMembers < 3) {
    warnings.push(
      `only ${votingMembers} member(s) allowed: with fewer than three (database nodes and witnesses) failover protection is reduced; add a standby or a witness`,
    );
  }
}
