import { describe, expect, it } from 'vitest';
import { formatDrillReport } from '../../cli/local/drill-report.ts';
import { longestGap, longestGapEnd, type DrillReport } from '../../cli/local/drill.ts';

const report = (change: Partial<DrillReport>): DrillReport => ({
  fault: 'kill-primary-db',
  target: 'db1',
  primaryBefore: 'db1',
  primaryAfter: 'db1',
  termBefore: 1,
  termAfter: 1,
  failedOver: false,
  timeline: {
    detectedMs: 900,
    decidedMs: null,
    promotedMs: null,
    addressMovedMs: null,
    firstWriteMs: null,
    completedMs: null,
  },
  writeUnavailableMs: 15_000,
  writes: { acknowledged: 22, missing: null, missingIds: [] },
  outcomeReached: false,
  steps: [],
  ...change,
});

describe('drill figures', () => {
  it.each<[string, number[], number, number]>([
    ['the longest gap between acknowledged writes after the fault', [100, 900, 1000, 3000, 3100], 3200, 2000],
    ['a gap still open when the drill ends counts until the end', [100, 900, 1000], 10_000, 9000],
    ['no write after the fault at all: unavailable from the last one before it to the end', [100, 400], 10_000, 9600],
  ])('%s', (_name, acks, endedAtMs, gap) => {
    expect(longestGap(acks, 500, endedAtMs)).toBe(gap);
  });

  it.each<[string, number[], number | undefined]>([
    ['a write in flight at the fault does not count as writes resuming', [100, 490, 510, 2600, 2700], 2600],
    ['no write after the fault: writes never resumed', [100, 400], undefined],
  ])('writes resumed: %s', (_name, acks, end) => {
    expect(longestGapEnd(acks, 500)).toBe(end);
  });

  it('says "no failover", that missing rows are unknown when nobody could be read, and that the outcome did not come', () => {
    const text = formatDrillReport(report({}));
    expect(text).toMatch(/no failover; primary db1 \(term 1\)/);
    expect(text).toMatch(/acknowledged but missing +unknown: no primary to read them from/);
    expect(text).toMatch(/the expected outcome did not come/);
    expect(text).toMatch(/writes resumed +-/);
    expect(text).not.toMatch(/first write after/);
    expect(text).toMatch(
      /writes unavailable for +15000 ms \(the longest gap between acknowledged writes, fault to end of drill\)/,
    );
  });

  it('lists missing ids when there are some, and nothing about the outcome when it came', () => {
    const text = formatDrillReport(
      report({
        failedOver: true,
        primaryAfter: 'db2',
        termAfter: 2,
        writes: { acknowledged: 30, missing: 2, missingIds: [7, 8] },
        outcomeReached: true,
      }),
    );
    expect(text).toMatch(/acknowledged but missing +2 \(ids 7, 8\)/);
    expect(text).not.toMatch(/did not come/);
  });
});
