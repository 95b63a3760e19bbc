// What a lease policy means in time, as set-policy, init and the demo print it: checked against the
// numbers the benchmark measures (docs/benchmarks.md) and the safety argument (docs/failover.md).

import { describe, expect, it } from 'vitest';
import {
  FENCE_LEAD_MS,
  LEASE_WATCH_IDLE_MS,
  LEASE_RENEW_INTERVAL_MS,
  LEASE_WATCH_MS,
  leaseProblem,
  leaseTiming,
  leaseWatchSleepMs,
} from '../../core/lease-timing.ts';
import { describeTiming } from '../../core/policy-change.ts';
import { DEFAULT_CLUSTER_POLICY } from '../../core/records.ts';
import { EVALUATION_PERIOD_MS } from '../../lambdas/evaluator/evaluator.ts';

describe('lease timing', () => {
  it.each([
    // lease, margin -> node-crash wait (the lease window: the node timeout does not gate it), blip tolerance
    // (blip tolerance: lease - renewal interval 500 - retry interval 50 - fence lead 150)
    [2800, 50, 2850, 2100],
    [3000, 200, 3200, 2300],
    [5000, 200, 5200, 4300],
    [2000, 100, 2100, 1300],
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
    // lease left, writable -> the lease watch sleeps (fence lead 150 ms, tick 100 ms, idle 1000 ms)
    ['far from the fence point: to the fence point, not a tick', 2000, true, 2000 - FENCE_LEAD_MS],
    ['just before the fence point: to the fence point itself', FENCE_LEAD_MS + 30, true, 30],
    [
      'at the fence point of a writable server: a tick (it fences now, and again if that failed)',
      FENCE_LEAD_MS,
      true,
      LEASE_WATCH_MS,
    ],
    ['past the lease while writable: a tick', -5000, true, LEASE_WATCH_MS],
    [
      'past the lease of a server whose role is unknown: a tick (the rule fences what may be writable)',
      -5000,
      false,
      LEASE_WATCH_MS,
    ],
    ['none held, while writable: a tick', null, true, LEASE_WATCH_MS],
    ['none held and not writable: the idle wait (a promotion wakes it)', null, false, LEASE_WATCH_IDLE_MS],
    ['a lease held by a server not writable yet: to the fence point', 2000, false, 2000 - FENCE_LEAD_MS],
  ])('the lease watch, %s', (_name, leftMs, writable, sleepMs) => {
    expect(leaseWatchSleepMs(leftMs, writable)).toBe(sleepMs);
  });

  it("renews at no multiple of the evaluator's quiet round, so that renewals are not all seen a round late", () => {
    // A new primary takes its lease just after the round that granted it: were the renewal interval a multiple
    // of the round, every later renewal would fall at that same point of the round cycle.
    // They take gcd(interval, round) apart: at least ten points of the cycle, so a node crash sees the average.
    const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
    expect(gcd(LEASE_RENEW_INTERVAL_MS, EVALUATION_PERIOD_MS)).toBeLessThanOrEqual(EVALUATION_PERIOD_MS / 10);
  });

  it('refuses a lease too short to ride out a half-second blip, saying how long it must be', () => {
    expect(leaseProblem(1199)).toMatch(/a lease of 1199 ms is too short: .* at least 1200 ms/);
    expect(leaseProblem(1200)).toBeUndefined();
  });

  it('tells a DBA the node-crash wait from the last lease renewal, with the quorum that must agree', () => {
    const [nodeCrash] = describeTiming(DEFAULT_CLUSTER_POLICY);
    expect(nodeCrash).toMatch(/^primary node dies: nobody is promoted until 2850 ms after its last lease renewal/);
    expect(nodeCrash).toMatch(/a majority of the members confirm/);
  });
});
