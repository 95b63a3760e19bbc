// Notices: every event worth telling a person, with an EFM-style severity, a subject that fits an
// e-mail or SNS subject line, and a body naming the cluster, node, database, address and details.

import type { ClusterRecord, Severity } from './records.ts';

export interface Notice {
  /** Stable event name for filtering (SNS message attributes, tests). */
  event: string;
  severity: Severity;
  subject: string;
  body: string;
  nodeId: string | null;
}

export function makeNotice(
  cluster: Pick<ClusterRecord, 'cluster' | 'term' | 'primaryNodeId' | 'address'>,
  event: string,
  severity: Severity,
  headline: string,
  details: { nodeId?: string | null; lines?: string[] } = {},
): Notice {
  const nodeId = details.nodeId ?? null;
  const body = [
    headline,
    '',
    `Cluster:  ${cluster.cluster}`,
    `Term:     ${cluster.term}`,
    `Primary:  ${cluster.primaryNodeId ?? '(none)'}`,
    ...(nodeId ? [`Node:     ${nodeId}`] : []),
    `Address:  ${cluster.address.value ? `${cluster.address.value} (${cluster.address.mode}) on ${cluster.address.holderNodeId ?? 'no node'}` : 'not managed'}`,
    ...(details.lines && details.lines.length > 0 ? ['', ...details.lines] : []),
  ].join('\n');
  return { event, severity, subject: `${severity}: ${headline}`.slice(0, 99), body, nodeId };
}
