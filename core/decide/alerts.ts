// Standing conditions: raised once, resolved once, kept in the cluster record.

import { makeNotice, type Notice } from '../notices.ts';
import { replicationTrouble } from '../replication-health.ts';
import type { ClusterRecord, Severity } from '../records.ts';
import { type Facts, NEVER_REPORTED_GRACE_MS, type RuleId } from './facts.ts';

// Standing conditions: raised once, resolved once, kept in the cluster record.
import { FAILOVER_RULE_IDS } from './tables.ts';

export interface DesiredAlert {
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

export function reconcileAlerts(
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
