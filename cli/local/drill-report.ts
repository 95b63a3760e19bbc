import type { DrillReport } from './drill.ts';

const ms = (value: number | null) => (value === null ? '-' : `${value} ms`);

/** The drill's closing report for a person. */
export function formatDrillReport(report: DrillReport): string {
  const { timeline } = report;
  return [
    '',
    `Drill ${report.fault} on ${report.target}: ${report.failedOver ? `failed over ${report.primaryBefore} -> ${report.primaryAfter} (term ${report.termBefore} -> ${report.termAfter})` : `no failover; primary ${report.primaryAfter ?? '?'} (term ${report.termAfter})`}`,
    '',
    `  fault                        0 ms`,
    `  detected                     ${ms(timeline.detectedMs)}`,
    `  decided                      ${ms(timeline.decidedMs)}`,
    `  promoted                     ${ms(timeline.promotedMs)}`,
    `  address moved                ${ms(timeline.addressMovedMs)}`,
    report.failedOver
      ? `  first write after the move   ${ms(timeline.firstWriteMs)}`
      : `  writes resumed               ${ms(timeline.firstWriteMs)}`,
    `  failover completed           ${ms(timeline.completedMs)}`,
    '',
    `  writes unavailable for       ${report.writeUnavailableMs} ms (the longest gap between acknowledged writes, fault to end of drill)`,
    `  acknowledged writes          ${report.writes.acknowledged}`,
    `  acknowledged but missing     ${report.writes.missing === null ? 'unknown: no primary to read them from' : `${report.writes.missing}${report.writes.missingIds.length ? ` (ids ${report.writes.missingIds.join(', ')})` : ''}`}`,
    ...(report.outcomeReached
      ? []
      : ['', '  the expected outcome did not come before the drill gave up: see the steps above']),
  ].join('\n');
}
