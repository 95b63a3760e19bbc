// A few minutes of the nemesis in every test run (longer runs: npm run nemesis -- --seed N --duration 10m).
// Seed 8's schedule begins with a one-way cut of the primary, a stepped clock with a cut, a connection storm
// and a partition, an isolated primary and a killed agent, then whatever 140 s leaves room for.

import { describe, expect, it } from 'vitest';
import { runNemesis } from '../../cli/local/nemesis.ts';

describe('nemesis on the network lab', () => {
  it('seed 8 for 140 s: never two writable primaries, no acknowledged row lost, no promotion on a blip, whole again after every heal', async () => {
    // Act
    const report = await runNemesis({
      seed: 8,
      durationMs: 140_000,
      synchronous: true,
      recoveryBoundMs: 60_000,
      onLine: (line) => process.stdout.write(`${line}\n`),
    });
    // Assess
    expect(report.violations).toEqual([]);
    expect(report.faults.length).toBeGreaterThanOrEqual(5);
    // Not vacuous: faults led to failovers, clients wrote throughout, the sampler ran throughout.
    expect(report.promotions).toBeGreaterThanOrEqual(2);
    expect(report.acknowledged).toBeGreaterThan(1000);
    expect(report.missing).toBe(0);
    expect(report.samples).toBeGreaterThan(500);
    expect(report.faults.every((fault) => fault.recoveredMs !== null)).toBe(true);
  }, 420_000);
});
