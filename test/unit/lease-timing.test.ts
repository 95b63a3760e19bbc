// What a lease policy means in time, as set-policy, init and the demo print it: checked against the
// numbers the benchmark measures (docs/benchmarks.md) and the safety argument (docs/failover.md).

import { describe, expect, it } from 'vitest';
import {
  FENCE_LEAD_MS,
  LEASE_WATCH_MS,
  leaseProblem,
  leaseTiming,
  leaseWatchSleepMs,
} from '../../core/lease-timing.ts';
import { describeTiming } from '../../core/policy-change.ts';
import { DEFAULT_CLUSTER_POLICY } from '../../core/records.ts';

describe('lease timing', () => {
  it.each([
    // lease, margin -> node-crash wait (the lease window: the node timeout does not gate it), blip tolerance
    // (blip tolerance: lease - renewal interval 400 - retry interval 50 - fence lead 150)
    [2750, 50, 2800, 2150],
    [3000, 200, 3200, 2400],
    [5000, 200, 5200, 4400],
    [2000, 100, 2100, 1400],
  ])(
    'a %i ms lease with a %i ms margin: promoted %i ms after the last renewal; blips up to %i ms ridden out',
    (lease, margin, wait, blip) => {
      // Act
      const timing = leaseTiming({ leaseDurationMs: lease, leaseMarginMs: margin });
      // Assess
      expect(timing).toEqual({ nodeCrashWaitMs: wait, blipToleranceMs: blip, leaseWindowMs: lease + margin });
    },
  );

  it.each([
    // lease left -> the lease watch sleeps (fence lead 150 ms, tick 100 ms)
    ['far from the fence point: a tick', 2000, LEASE_WATCH_MS],
    ['the fence point before the next tick: to the fence point itself', FENCE_LEAD_MS + 30, 30],
    ['at the fence point: a tick (it fences now)', FENCE_LEAD_MS, LEASE_WATCH_MS],
    ['past the lease, or none held: a tick', -5000, LEASE_WATCH_MS],
  ])('the lease watch, %s', (_name, leftMs, sleepMs) => {
    expect(leaseWatchSleepMs(leftMs)).toBe(sleepMs);
  });

  it('refuses a lease too short to ride out a half-second blip, saying how long it must be', () => {
    expect(leaseProblem(1099)).toMatch(/a lease of 1099 ms is too short: .* at least 1100 ms/);
    expect(leaseProblem(1100)).toBeUndefined();
  });

  it('tells a DBA the node-crash wait from the last lease renewal, with the quorum that must agree', () => {
    const [nodeCrash] = describeTiming(DEFAULT_CLUSTER_POLICY);
    expect(nodeCrash).toMatch(/^primary node dies: nobody is promoted until 2800 ms after its last lease renewal/);
    expect(nodeCrash).toMatch(/a majority of the members confirm/);
  });
});
