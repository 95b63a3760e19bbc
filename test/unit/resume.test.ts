import { describe, expect, it } from 'vitest';
import { planResume } from '../../core/resume.ts';
import type { ClusterSnapshot } from '../../core/state-store.ts';
import {
  clusterRecord,
  healthySnapshot,
  heartbeat,
  NOW_MS,
  primaryHeartbeat,
  withHeartbeat,
} from '../support/fixtures.ts';

const halted = (s: ClusterSnapshot): ClusterSnapshot => ({
  ...s,
  cluster: clusterRecord({
    term: 2,
    primaryNodeId: 'db2',
    phase: 'halted',
    failover: {
      kind: 'failover',
      fromNodeId: 'db1',
      toNodeId: 'db2',
      startedAtMs: NOW_MS - 60_000,
      reason: 'db1 down',
      promotedAtMs: null,
      addressMovedAtMs: null,
    },
  }),
});
const db1Down = (s: ClusterSnapshot) =>
  withHeartbeat(
    s,
    heartbeat('db1', { agentType: 'idle', dbStatus: 'DOWN', dbInfo: 'down', receivedLsn: null, replayedLsn: null }),
  );

describe('resume from halted', () => {
  it.each<[string, (s: ClusterSnapshot) => ClusterSnapshot, boolean, RegExp, string | null]>([
    [
      'nobody writable: the failed primary is recorded again, to be failed over afresh',
      (s) => db1Down(halted(s)),
      false,
      /no database is writable: db1 recorded as the failed primary of term 3/,
      'db1',
    ],
    [
      'exactly one writable database: it is the primary of a new term',
      (s) => withHeartbeat(db1Down(halted(s)), primaryHeartbeat('db3', '0/5000100')),
      false,
      /db3 is the only writable database: recorded as the primary of term 3/,
      'db3',
    ],
    [
      'two writable databases: refused',
      (s) => withHeartbeat(halted(s), primaryHeartbeat('db3', '0/5000100')),
      false,
      /db1 and db3 both report a writable database: stop all but one/,
      null,
    ],
    [
      'a silent agent: refused without --force',
      (s) => withHeartbeat(db1Down(halted(s)), heartbeat('db3', { sentAtMs: NOW_MS - 60_000 })),
      false,
      /agents of db3 are not reporting.*--force resumes anyway/,
      null,
    ],
    [
      'a silent agent with --force: resumed',
      (s) => withHeartbeat(db1Down(halted(s)), heartbeat('db3', { sentAtMs: NOW_MS - 60_000 })),
      true,
      /db1 recorded as the failed primary/,
      'db1',
    ],
    ['a cluster that is not halted: nothing to resume', (s) => s, false, /is not halted \(phase steady\)/, null],
  ])('%s', (_name, change, force, message, primary) => {
    // Act
    const plan = planResume(change(healthySnapshot()), NOW_MS, force);
    // Assess
    if (primary === null) {
      expect(plan.ok).toBe(false);
      expect(plan.ok ? '' : plan.reason).toMatch(message);
    } else {
      expect(plan.ok).toBe(true);
      if (!plan.ok) return;
      expect(plan.summary).toMatch(message);
      expect(plan.next).toMatchObject({
        phase: 'steady',
        term: 3,
        primaryNodeId: primary,
        failover: null,
        leaseRenewals: 0,
        leaseReleased: false,
        version: 2,
      });
    }
  });
});
