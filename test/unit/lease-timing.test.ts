// What a lease policy means in time, as set-policy, init and the demo print it: checked against the
// numbers the benchmark measures (docs/benchmarks.md) and the safety argument (docs/failover.md).

import { describe, expect, it } from 'vitest';
import { leaseProblem, leaseTiming } from '../../core/lease-timing.ts';
import { describeTiming } from '../../core/policy-change.ts';
import { DEFAULT_CLUSTER_POLICY } from '../../core/records.ts';

describe('lease timing', () => {
  it.each([
    // lease, margin -> node-crash wait (the lease window: the node timeout does not gate it), blip tolerance
    [3000, 200, 3200, 2200],
    [5000, 200, 5200, 4200],
    [2000, 100, 2100, 1200],
  ])(
    'a %i ms lease with a %i ms margin: promoted %i ms after the last renewal; blips up to %i ms ridden out',
    (lease, margin, wait, blip) => {
      // Act
      const timing = leaseTiming({ leaseDurationMs: lease, leaseMarginMs: margin });
      // Assess
      expect(timing).toEqual({ nodeCrashWaitMs: wait, blipToleranceMs: blip, leaseWindowMs: lease + margin });
    },
  );

  it('refuses a lease too short to ride out a half-second blip, saying how long it must be', () => {
    expect(leaseProblem(1200)).toMatch(/a lease of 1200 ms is too short: .* at least 1300 ms/);
    expect(leaseProblem(1300)).toBeUndefined();
  });

  it('tells a DBA the node-crash wait from the last lease renewal, with the quorum that must agree', () => {
    const [nodeCrash] = describeTiming(DEFAULT_CLUSTER_POLICY);
    expect(nodeCrash).toMatch(/^primary node dies: nobody is promoted until 3200 ms after its last lease renewal/);
    expect(nodeCrash).toMatch(/a majority of the members confirm/);
  });
});
