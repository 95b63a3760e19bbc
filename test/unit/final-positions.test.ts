import { describe, expect, it } from 'vitest';
import { hasFinalPositions, observeLease, positionsFinalAt, type LeaseSight } from '../../core/final-positions.ts';
import type { ClusterRecord } from '../../core/records.ts';
import { clusterRecord, heartbeat } from '../support/fixtures.ts';

const LEASE_MS = clusterRecord().policy.leaseDurationMs;

describe('final WAL positions', () => {
  it.each<[string, LeaseSight | null, number, ReturnType<typeof positionsFinalAt>]>([
    ['nothing seen yet', null, 10_000, null],
    [
      'the lease seen for less than its duration',
      { term: 2, renewals: 5, grantMs: LEASE_MS, released: false, fenceStopped: false, firstSeenMonoMs: 1000 },
      1000 + LEASE_MS - 1,
      null,
    ],
    [
      'the lease seen unchanged for its whole duration',
      { term: 2, renewals: 5, grantMs: LEASE_MS, released: false, fenceStopped: false, firstSeenMonoMs: 1000 },
      1000 + LEASE_MS,
      { term: 2, renewals: 5, fenceStopped: false },
    ],
    [
      'a longer grant than the policy is waited out',
      { term: 2, renewals: 5, grantMs: LEASE_MS + 2000, released: false, fenceStopped: false, firstSeenMonoMs: 0 },
      LEASE_MS + 1000,
      null,
    ],
    [
      'the lease released by its holder (its database was stopped first)',
      { term: 2, renewals: 5, grantMs: LEASE_MS, released: true, fenceStopped: false, firstSeenMonoMs: 1000 },
      1001,
      { term: 2, renewals: 5, fenceStopped: false },
    ],
    [
      'the instance-stop fence recorded',
      { term: 2, renewals: 5, grantMs: LEASE_MS, released: false, fenceStopped: true, firstSeenMonoMs: 0 },
      LEASE_MS,
      { term: 2, renewals: 5, fenceStopped: true },
    ],
  ])('%s', (_name, sight, nowMonoMs, expected) => {
    // Act
    const final = positionsFinalAt(sight, nowMonoMs);
    // Assess
    expect(final).toEqual(expected);
  });

  it('keeps the first sighting while term and renewal count stay, and starts afresh when either changes', () => {
    // Prepare
    const record: ClusterRecord = clusterRecord({ term: 2, leaseRenewals: 5, leaseGrantedMs: LEASE_MS + 500 });
    // Act
    const first = observeLease(null, record, 100);
    const again = observeLease(first, { ...record, version: 9 }, 900);
    const renewed = observeLease(again, { ...record, leaseRenewals: 6 }, 1000);
    const stopped = observeLease(
      renewed,
      { ...record, leaseRenewals: 6, fence: { nodeId: 'db1', term: 2, requestedAtMs: 0, stoppedAtMs: 5 } },
      1100,
    );
    // Assess
    expect(first).toMatchObject({ term: 2, renewals: 5, grantMs: LEASE_MS + 500, firstSeenMonoMs: 100 });
    expect(again.firstSeenMonoMs).toBe(100);
    expect(renewed.firstSeenMonoMs).toBe(1000);
    expect(stopped).toMatchObject({ firstSeenMonoMs: 1000, fenceStopped: true });
  });

  it.each<[string, Parameters<typeof heartbeat>[1], boolean, boolean]>([
    ['final for this term and renewal', { positionsFinal: { term: 2, renewals: 5, fenceStopped: false } }, false, true],
    ['none', { positionsFinal: null }, false, false],
    ['an older renewal', { positionsFinal: { term: 2, renewals: 4, fenceStopped: false } }, false, false],
    ['an older term', { positionsFinal: { term: 1, renewals: 5, fenceStopped: false } }, false, false],
    [
      'read before the stop, which is needed',
      { positionsFinal: { term: 2, renewals: 5, fenceStopped: false } },
      true,
      false,
    ],
    ['read after the stop', { positionsFinal: { term: 2, renewals: 5, fenceStopped: true } }, true, true],
  ])('a heartbeat with %s', (_name, beat, needFenceStopped, expected) => {
    // Act
    const final = hasFinalPositions(
      heartbeat('db2', beat),
      clusterRecord({ term: 2, leaseRenewals: 5 }),
      needFenceStopped,
    );
    // Assess
    expect(final).toBe(expected);
  });
});
