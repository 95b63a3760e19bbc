// cluster-status as text, laid out like EFM's report so that a DBA finds things where they expect them. The
// report itself (core/cluster-status.ts) is computed apart, and the JSON view is that report as it is.

import type { ClusterStatusReport, NodeStatus } from './cluster-status.ts';

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
}

const AGENT_TYPE_LABEL: Record<NodeStatus['agentType'], string> = {
  primary: 'Primary',
  standby: 'Standby',
  witness: 'Witness',
  idle: 'Idle',
  unknown: 'Unknown',
};

/** The human report, laid out like EFM's so that a DBA finds things where they expect them. */
export function formatClusterStatus(report: ClusterStatusReport): string {
  const lines: string[] = [];
  lines.push(
    `Cluster Status: ${report.cluster}   (term ${report.term}${report.phase === 'steady' ? '' : `, ${report.phase.toUpperCase()}`}${report.pause ? ', PAUSED' : ''}, automatic failover ${report.autoFailover ? 'on' : 'OFF'}, fencing ${report.fencing})`,
  );
  lines.push('');
  // The VIP column appears once an address is managed; "*" marks the node that holds it, as in EFM.
  const showAddress = report.address.mode !== 'none';
  lines.push(
    table(
      ['Agent Type', 'Node', 'Address', 'Agent', 'DB', ...(showAddress ? ['VIP'] : []), 'Info'],
      report.nodes.map((node) => [
        AGENT_TYPE_LABEL[node.agentType],
        node.nodeId,
        node.address,
        node.agentStatus,
        node.dbStatus,
        ...(showAddress ? [`${report.address.value ?? ''}${node.holdsAddress ? '*' : ''}`] : []),
        node.info,
      ]),
    ),
  );
  lines.push('');
  lines.push('Allowed node host list:');
  lines.push(
    `  ${report.allowedNodes.map((node) => `${node.nodeId} (${node.address})`).join(' ') || '(none: allow nodes with pgfailover allow-node)'}`,
  );
  lines.push('');
  lines.push('Standby priority host list:');
  lines.push(`  ${report.standbyPriority.join(' ') || '(none)'}`);
  lines.push('');
  lines.push('Promote Status:');
  lines.push('');
  const promoteRows: string[][] = [];
  const primary = report.promoteStatus.primary;
  if (primary) promoteRows.push(['Primary', primary.nodeId, primary.currentLsn ?? 'UNKNOWN', '', '']);
  for (const standby of report.promoteStatus.standbys) {
    promoteRows.push([
      'Standby',
      standby.nodeId,
      standby.receivedLsn ?? 'UNKNOWN',
      standby.replayedLsn ?? 'UNKNOWN',
      standby.info,
    ]);
  }
  lines.push(table(['DB Type', 'Node', 'WAL Received LSN', 'WAL Replayed LSN', 'Info'], promoteRows));
  lines.push('');
  lines.push(report.promoteStatus.verdict);
  if (report.rejectedNodes.length > 0) {
    lines.push('');
    lines.push('Rejected nodes (heartbeats refused, never counted):');
    lines.push(
      table(
        ['Node', 'Address', 'Attempts', 'Reason'],
        report.rejectedNodes.map((node) => [node.nodeId, node.address, String(node.attempts), node.reason]),
      ),
    );
  }
  if (report.problems.length > 0) {
    lines.push('');
    lines.push('Problems:');
    for (const problem of report.problems) lines.push(`  - ${problem}`);
  }
  if (report.warnings.length > 0) {
    lines.push('');
    lines.push('Warnings:');
    for (const warning of report.warnings) lines.push(`  - ${warning}`);
  }
  return lines.join('\n');
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const render = (cells: string[]) =>
    `  ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ')}`.trimEnd();
  return [render(header), render(widths.map((width) => '-'.repeat(width))), ...rows.map(render)].join('\n');
}
