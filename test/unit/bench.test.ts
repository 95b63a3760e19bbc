import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { consistentReadUnits, dynamoItemSize, monthlyCost, writeUnits } from '../../bench/cost.ts';

const ZERO_LOAD = { writeUnitsPerSecond: 0, readUnitsPerSecond: 0 };
import { footprintOf, sampleProcess } from '../../bench/footprint.ts';
import {
  goalVerdict,
  markdownReport,
  medianTimeline,
  settledMinute,
  timelineSvg,
  tradeOff,
  unavailabilitySvg,
  type BenchResults,
} from '../../bench/report.ts';
import { healthyProblem, keepLogs, StorePeakSampler, type ModeResults, type RunResult } from '../../bench/run.ts';
import { median, percentile, summarize } from '../../bench/stats.ts';
import { clusterRecord, heartbeat, primaryHeartbeat } from '../support/fixtures.ts';

const timeline = (promotedMs: number | null) => ({
  detectedMs: 100,
  decidedMs: 200,
  promotedMs,
  addressMovedMs: promotedMs === null ? null : promotedMs + 20,
  firstWriteMs: promotedMs === null ? null : promotedMs + 60,
  completedMs: promotedMs === null ? null : promotedMs + 500,
});

const run = (writeUnavailableMs: number, extra: Partial<RunResult> = {}): RunResult => ({
  system: 'pgfailover',
  mode: 'async',
  case: 'kill-primary-db',
  run: 1,
  phaseMs: 0,
  writeUnavailableMs,
  failedOver: true,
  lostRows: 0,
  timeline: timeline(400),
  ...extra,
});

describe('bench statistics', () => {
  it.each([
    [[5], 50, 5],
    [[1, 2, 3, 4, 5, 6, 7], 95, 7],
    [[1, 2, 3, 4, 5, 6, 7], 50, 4],
    [[10, 1, 7, 3], 50, 3],
  ])('percentile(%j, %i) is the nearest rank %i', (values, p, expected) => {
    expect(percentile(values, p)).toBe(expected);
  });

  it('has a median of the middle two for an even count, and nulls for no samples', () => {
    expect(median([4, 1, 3, 2])).toBe(3); // (2 + 3) / 2 rounded
    expect(summarize([])).toEqual({ runs: 0, medianMs: null, p95Ms: null, maxMs: null });
    expect(summarize([900, 800, 1200])).toEqual({ runs: 3, medianMs: 900, p95Ms: 1200, maxMs: 1200 });
  });
});

describe('bench cost model', () => {
  it('charges DynamoDB by capacity units rounded up per request', () => {
    expect([writeUnits(10), writeUnits(1024), writeUnits(1025), consistentReadUnits(4097)]).toEqual([1, 1, 2, 2]);
  });

  it('sizes an item as DynamoDB does: names and values, with list and map overheads', () => {
    // cluster+prod 11, n+12345 5, b+true 2, l+[1,"ab"] 1+3+(1+2)+(1+2) = 10, m+{x:"y"} 1+3+(1+1+1) = 7
    expect(dynamoItemSize({ cluster: 'prod', n: 12345, b: true, l: [1, 'ab'], m: { x: 'y' } })).toBe(35);
  });

  it('counts the evaluator overhead once per deployment, not per cluster', () => {
    const load = { writeUnitsPerSecond: 1, readUnitsPerSecond: 1 };
    const fixed = { writeUnitsPerSecond: 0, readUnitsPerSecond: 8 };
    const one = monthlyCost(load, 1, 128, fixed);
    const two = monthlyCost(load, 2, 128, fixed);
    expect(two.dynamoOnDemandUsd - one.dynamoOnDemandUsd).toBeCloseTo(monthlyCost(load, 1, 128).dynamoOnDemandUsd, 1);
  });

  it('shares the evaluator Lambda across clusters and scales the store with them', () => {
    // Prepare
    const load = { writeUnitsPerSecond: 4, readUnitsPerSecond: 10 };
    // Act
    const one = monthlyCost(load, 1, 256);
    const ten = monthlyCost(load, 10, 256);
    // Assess: 256 MB for 730 h at the arm64 price, plus each minute's overlap of two invocations (the newer
    // watches a lease window, then a round and a look at who evaluates: 2.85 + 1.24 s), plus a minute's invocation.
    expect(one.lambdaUsd).toBeCloseTo(0.25 * 730 * 3600 * (1 + 4.09 / 60) * 0.0000133334 + 0.00876, 1);
    expect(ten.lambdaUsd).toBe(one.lambdaUsd);
    expect(ten.dynamoOnDemandUsd).toBeCloseTo(one.dynamoOnDemandUsd * 10, 0);
    // 4 writes a second on demand: 4 * 2.628 M * $0.625 per million.
    expect(one.dynamoOnDemandUsd).toBeCloseTo(4 * 2.628 * 0.625 + 10 * 2.628 * 0.125, 1);
    expect(one.dynamoProvisionedUsd).toBeCloseTo(4 * 0.00065 * 730 + 10 * 0.00013 * 730, 2);
  });

  it('bills the monitoring: a KMS key, the alarms and the dashboard once, custom metrics per cluster, the logs', () => {
    // Act
    const [one, two] = [monthlyCost(ZERO_LOAD, 1, 128), monthlyCost(ZERO_LOAD, 2, 128)];
    // Assess: $1 + 5 x $0.10 + $3, and 2 + 6 metrics at $0.30, and the logs (cents); a further cluster, 6 metrics.
    expect(one.monitoringUsd).toBeCloseTo(1 + 0.5 + 3 + 8 * 0.3, 0);
    expect((two.monitoringUsd ?? 0) - (one.monitoringUsd ?? 0)).toBeCloseTo(
      6 * 0.3 + ((6 * 400 * 43_800) / 1e9) * 0.5,
      1,
    );
    expect(one.totalOnDemandUsd).toBeCloseTo(one.lambdaUsd + (one.monitoringUsd ?? 0), 2);
  });

  it('provisions headroom for one failing cluster once per deployment; on demand needs none', () => {
    // Prepare
    const load = { writeUnitsPerSecond: 4, readUnitsPerSecond: 10 };
    const headroom = { writeUnitsPerSecond: 20, readUnitsPerSecond: 60 };
    // Act
    const [bare, one] = [monthlyCost(load, 1, 128), monthlyCost(load, 1, 128, undefined, headroom)];
    const tenWith = monthlyCost(load, 10, 128, undefined, headroom);
    const tenBare = monthlyCost(load, 10, 128);
    // Assess
    expect(one.dynamoOnDemandUsd).toBe(bare.dynamoOnDemandUsd);
    expect(one.dynamoProvisionedUsd - bare.dynamoProvisionedUsd).toBeCloseTo(
      20 * 0.00065 * 730 + 60 * 0.00013 * 730,
      2,
    );
    expect(tenWith.dynamoProvisionedUsd - tenBare.dynamoProvisionedUsd).toBeCloseTo(
      one.dynamoProvisionedUsd - bare.dynamoProvisionedUsd,
      2,
    );
  });

  it("finds the store's busiest second from its request counts, whatever the sampling", () => {
    // Prepare
    const peak = new StorePeakSampler('/nonexistent');
    // Act: one rewrite read twice, then a busy second (30 writes, 60 consistent reads and 10 eventually
    // consistent ones, at half a unit each) and a quiet one.
    const eventual = (getItem: number, query: number) => ({ 'GetItem:eventual': getItem, 'Query:eventual': query });
    peak.add({ atMs: 1000, counts: { PutItem: 10, UpdateItem: 5, GetItem: 20, Query: 10, ...eventual(4, 4) } });
    peak.add({ atMs: 1000, counts: { PutItem: 10, UpdateItem: 5, GetItem: 20, Query: 10, ...eventual(4, 4) } });
    peak.add({ atMs: 2000, counts: { PutItem: 35, UpdateItem: 10, GetItem: 60, Query: 30, ...eventual(9, 9) } });
    peak.add({ atMs: 3000, counts: { PutItem: 37, UpdateItem: 12, GetItem: 64, Query: 34, ...eventual(13, 13) } });
    // Assess
    expect(peak.stop()).toEqual({ writeUnitsPerSecond: 30, readUnitsPerSecond: 65 });
  });
});

describe('bench footprint', () => {
  it('reads a live process: its resident set, its private part (smaller), and its CPU ticks', () => {
    const sample = sampleProcess(process.pid);
    expect(sample?.rssKb).toBeGreaterThan(0);
    expect(sample?.privateKb).toBeGreaterThan(0);
    expect(sample?.privateKb).toBeLessThan(sample?.rssKb ?? 0);
    expect(sample?.runNs).toBeGreaterThan(0);
  });

  it('counts CPU from the exact run time where the kernel keeps it, rather than from 10 ms ticks', () => {
    // 2 ticks (20 ms) but 12.5 ms of run time over 10 s: 0.125 %, shown as 0.1 %.
    const footprint = footprintOf([
      { rssKb: 1024, cpuTicks: 100, runNs: 1_000_000_000, atMs: 0 },
      { rssKb: 1024, cpuTicks: 102, runNs: 1_012_500_000, atMs: 10_000 },
    ]);
    expect(footprint?.cpuPercent).toBe(0.1);
  });

  it('takes the largest resident set, the largest private memory and the CPU share over the window', () => {
    const footprint = footprintOf([
      { rssKb: 50 * 1024, privateKb: 30 * 1024, cpuTicks: 100, atMs: 0 },
      { rssKb: 60 * 1024, privateKb: 25 * 1024, cpuTicks: 102, atMs: 10_000 },
    ]);
    expect(footprint).toEqual({ maxRssMb: 60, maxPrivateMb: 30, cpuPercent: 0.2, windowMs: 10_000 });
    // Where the kernel does not say, private memory is unknown rather than zero.
    expect(
      footprintOf([
        { rssKb: 1024, cpuTicks: 1, atMs: 0 },
        { rssKb: 1024, cpuTicks: 1, atMs: 1000 },
      ])?.maxPrivateMb,
    ).toBeNull();
    expect(footprintOf([{ rssKb: 1, cpuTicks: 1, atMs: 5 }])).toBeUndefined();
  });
});

describe('bench settle time in words', () => {
  it.each([
    [180_000, 'fourth'],
    [0, 'first'],
    [59_999, 'first'],
    [60_000, 'second'],
    [600_000, '11th'],
  ])('a cluster settled for %i ms is at rest from its %s minute', (settleMs, words) => {
    expect(settledMinute(settleMs)).toBe(words);
  });
});

describe('bench logs kept (--keep-logs)', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it("copies the controller's and each node's agent and server logs, nothing else", () => {
    // Prepare: a lab cluster's directory as local up leaves it.
    const lab = mkdtempSync(join(tmpdir(), 'pgfailover-keep-'));
    const kept = mkdtempSync(join(tmpdir(), 'pgfailover-kept-'));
    dirs.push(lab, kept);
    writeFileSync(join(lab, 'controller.log'), 'decided\n');
    writeFileSync(join(lab, 'local.json'), '{}');
    mkdirSync(join(lab, 'db1', 'data'), { recursive: true });
    writeFileSync(join(lab, 'db1', 'agent.json'), '{}');
    writeFileSync(join(lab, 'db1', 'agent.log'), 'demoted\n');
    writeFileSync(join(lab, 'db1', 'pgfailover-postgres.log'), 'shut down\n');
    writeFileSync(join(lab, 'db1', 'data', 'postgresql.conf'), '');
    mkdirSync(join(lab, 'secrets'));
    writeFileSync(join(lab, 'secrets', 'x.log'), 'secret');
    // Act
    keepLogs(lab, join(kept, 'sync'));
    // Assess
    expect(readdirSync(join(kept, 'sync')).sort()).toEqual(['controller.log', 'db1']);
    expect(readdirSync(join(kept, 'sync', 'db1')).sort()).toEqual(['agent.log', 'pgfailover-postgres.log']);
    expect(readFileSync(join(kept, 'sync', 'db1', 'agent.log'), 'utf8')).toBe('demoted\n');
  });
});

describe('bench readiness between runs', () => {
  const nowMs = 1_000_000;
  const snapshot = (standbyTimeline: number, streaming: string[]) => ({
    cluster: clusterRecord(),
    heartbeats: [
      primaryHeartbeat('db1', '0/5000000', streaming, { sentAtMs: nowMs }),
      heartbeat('db2', { sentAtMs: nowMs, timeline: standbyTimeline }),
      heartbeat('db3', { sentAtMs: nowMs }),
    ],
    membership: undefined,
    rejected: [],
    invalid: [],
  });

  it('waits for every standby to stream from the primary on its timeline', () => {
    expect(healthyProblem(snapshot(1, ['db2', 'db3']) as never, nowMs)).toBeUndefined();
    expect(healthyProblem(snapshot(1, ['db3']) as never, nowMs)).toMatch(/db2 not streaming/);
    expect(healthyProblem(snapshot(2, ['db2', 'db3']) as never, nowMs)).toMatch(/db2 on timeline 2/);
  });
});

describe('bench report', () => {
  const mode: ModeResults = {
    mode: 'async',
    runs: [run(800), run(900, { timeline: timeline(500) }), run(1500, { case: 'kill-primary-node', lostRows: 2 })],
    trials: [
      { mode: 'async', trial: 'stall-primary', run: 1, durationMs: 2000, promoted: false, longestWriteGapMs: 2100 },
    ],
    idleFootprint: [{ maxRssMb: 70, cpuPercent: 0.8, windowMs: 20_000 }],
    failoverFootprint: [],
    storeRates: null,
  };
  const results: BenchResults = {
    startedAt: '2026-11-25T00:00:00Z',
    machine: 'test',
    options: { runs: 2, cases: ['kill-primary-db'], modes: ['async'], trials: 1, stallMs: 2000 },
    modes: [mode],
    peers: [
      {
        name: 'Patroni defaults',
        settings: 'ttl 30 s',
        runs: [run(25_000, { system: 'Patroni defaults', failedOver: true, lostRows: 0 })],
      },
    ],
    evaluatorScale: null,
    cost: null,
    alternatives: { patroniEtcdUsd: 38.71, rdsMultiAzPremiumUsd: 116.07 },
    prices: { readOn: 'test' },
  };

  it('reports medians per case, lost rows, false failovers, and whether each goal is met', () => {
    const markdown = markdownReport(results, { timeline: { async: 'benchmarks/timeline-async.svg' }, chart: 'c.svg' });
    expect(markdown).toContain(
      '| async | kill-primary-db | 2 | 0.85 s | 0.90 s | 0.90 s | 2/2 | 0 | met (median ≤ 1.00 s) |',
    );
    expect(markdown).toContain('| async | kill-primary-node | 1 | 1.50 s | 1.50 s | 1.50 s | 1/1 | 2 | met');
    expect(markdown).toContain('| async | stall-primary 2000 ms | 1 | 0 | 2.10 s |');
    expect(goalVerdict('kill-primary-node', summarize([3500, 3600]))).toMatch(/^NOT met/);
    // Side by side: pgfailover's median (850 ms) over the peer's (25 s).
    expect(markdown).toContain(
      '| Patroni defaults | ttl 30 s | async | kill-primary-db | 1 | 25.00 s | 25.00 s | 25.00 s | 0 | 0.03 |',
    );
  });

  it('puts the medians side by side with the ratio to each peer first', () => {
    const top = markdownReport(results, { timeline: {}, chart: 'c.svg' });
    expect(top).toContain('| median write unavailability (async) | pgfailover | Patroni defaults |');
    expect(top).toContain('| kill-primary-db | 0.85 s | 25.00 s (×0.03) |');
    expect(top).toContain('False failovers: 0 promotions in 1 stalls and blips of 2000 ms; longest write gap 2.10 s.');
  });

  it('says how far a missed node-crash goal is from the blip rule, from the lease timing', () => {
    // Prepare: node crashes with a 3.6 s median (the defaults: lease 2.8 s, blips up to 2.1 s ridden out).
    const slow = { ...mode, runs: [3500, 3600, 3700].map((ms) => run(ms, { case: 'kill-primary-node' })) };
    // Act
    const text = tradeOff({ ...results, modes: [slow] }).join(' ');
    // Assess: 0.6 s shorter would ride out only 1.50 s.
    expect(text).toContain('a blip or stall of up to 2.10 s is ridden out');
    expect(text).toContain(
      'The measured node-crash median is 3.60 s; a 3.00 s median would need a lease 0.60 s shorter',
    );
    expect(text).toContain('ride out blips of only 1.50 s');
    expect(tradeOff(results).join(' ')).not.toContain('would need a lease');
  });

  it('says what a further cluster over its cost goal would take: renewals less often, a longer lease, slower crashes', () => {
    // Prepare: $2.39 a further cluster (0.39 over), node crashes at 3.4 s median and 3.8 s p95.
    const crashes = { ...mode, runs: [3400, 3400, 3800].map((ms) => run(ms, { case: 'kill-primary-node' })) };
    const deployment = {
      clusters: 1,
      lambdaUsd: 4.39,
      dynamoOnDemandUsd: 11,
      dynamoProvisionedUsd: 3.23,
      snsUsd: 0,
      totalOnDemandUsd: 15.39,
      totalProvisionedUsd: 7.62,
    };
    const cost = { first: deployment, ten: deployment, marginalOnDemandUsd: 8.31, marginalProvisionedUsd: 2.39 };
    // Act
    const text = tradeOff({ ...results, modes: [crashes], cost }).join(' ');
    // Assess: 2 renewals a second are $0.95 (0.4745 a write unit a month); 0.39 less is about 1.18 a second,
    // every 0.85 s: a 3.15 s lease, median about 3.57 s and p95 about 4.13 s, past both goals.
    expect(text).toContain('Each further cluster costs $2.39 a month (provisioned) against the $2 goal');
    expect(text).toContain('2 writes a second, are $0.95 of it');
    expect(text).toMatch(/Renewing every 0\.85 s would meet it; .* the lease would grow to 3\.15 s/);
    expect(text).toMatch(
      /about 3\.57 s \(median\) and 4\.13 s \(p95\) instead of 3\.40 s and 3\.80 s, past the 3\.00 s median goal and the 4\.00 s p95 goal/,
    );
    expect(
      tradeOff({ ...results, modes: [crashes], cost: { ...cost, marginalProvisionedUsd: 1.9 } }).join(' '),
    ).not.toContain('Renewing every');
  });

  it('says what the first cluster over its cost goal is made of, and the renewals that would meet it', () => {
    // Prepare: $12.54 on demand; the cluster writes 3.5 units a second (2 renewals) and reads 3.3, the
    // evaluator 4; node crashes at 3.4 s median and 3.8 s p95.
    const storeRates = {
      windowMs: 30_000,
      perSecond: {},
      itemBytes: { cluster: 383, heartbeat: 768, partition: 2649 },
      load: { writeUnitsPerSecond: 3.5, readUnitsPerSecond: 3.3 },
      fixed: { writeUnitsPerSecond: 0, readUnitsPerSecond: 4 },
    };
    const crashes = {
      ...mode,
      storeRates,
      runs: [3400, 3400, 3800].map((ms) => run(ms, { case: 'kill-primary-node' })),
    };
    const first = {
      clusters: 1,
      lambdaUsd: 4.39,
      dynamoOnDemandUsd: 8.15,
      dynamoProvisionedUsd: 30,
      snsUsd: 0,
      totalOnDemandUsd: 12.54,
      totalProvisionedUsd: 34.39,
    };
    const cost = { first, ten: first, marginalOnDemandUsd: 6.83, marginalProvisionedUsd: 1.97 };
    // Act
    const text = tradeOff({ ...results, modes: [crashes], cost }).join(' ');
    // Assess: reads 7.3 units at $0.3285 a month each, writes $1.6425: (10 - 4.39 - 2.40) / 1.6425 - 1.5 heartbeat
    // writes leaves 0.46 renewals a second, every 2.20 s: 1.70 s longer, median +0.85 s, p95 +1.61 s.
    expect(text).toContain('The first cluster costs $12.54 a month on demand against the $10 goal');
    expect(text).toContain(
      'is $4.39 of it whatever the load, the reads $2.40, the lease renewals $3.29 and the heartbeats (every 5.00 s from each node) $2.46',
    );
    expect(text).toMatch(/Renewing every 2\.20 s would meet it; .* the lease would grow to 4\.50 s/);
    expect(text).toMatch(/about 4\.25 s \(median\) and 5\.41 s \(p95\) instead of 3\.40 s and 3\.80 s/);
    expect(text).not.toContain('Each further cluster costs');
    // Met: what it is made of, and no trade-off.
    const met = tradeOff({
      ...results,
      modes: [crashes],
      cost: { ...cost, first: { ...first, totalOnDemandUsd: 9.9 } },
    });
    expect(met.join(' ')).toContain('The first cluster costs $9.9 a month on demand');
    expect(met.join(' ')).not.toContain('would meet it');
  });

  it('draws each milestone at its median time and a bar per case', () => {
    expect(medianTimeline(mode.runs.slice(0, 2)).promotedMs).toBe(450);
    const svg = timelineSvg(mode);
    expect(svg).toContain('<svg');
    expect(svg.match(/>promoted</g)).toHaveLength(2);
    expect(unavailabilitySvg(results).match(/<rect /g)).toHaveLength(3);
  });
});
