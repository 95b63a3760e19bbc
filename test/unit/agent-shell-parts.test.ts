// Small parts of the agent's shell, each alone: the heartbeat's pace (core/heartbeat-timing.ts, row by row),
// the pause every loop waits with (agent/pause.ts), and the one door a goal enters by (agent/goal-state.ts).

import { describe, expect, it, vi } from 'vitest';
import {
  BUSY_HEARTBEAT_MS,
  HEARTBEAT_PACE_ROWS,
  MAX_HEARTBEAT_BACKOFF_MS,
  nextHeartbeatDelay,
  type HeartbeatPace,
} from '../../core/heartbeat-timing.ts';
import { pauser } from '../../agent/pause.ts';
import type { Timers } from '../../agent/ports/timers.ts';
import { Wake } from '../../agent/wake.ts';
import { GoalState } from '../../agent/goal-state.ts';
import {
  DEFAULT_CLUSTER_POLICY,
  newClusterRecord,
  type ClusterRecord,
  type MembershipRecord,
} from '../../core/records.ts';

const pace = (change: Partial<HeartbeatPace> = {}): HeartbeatPace => ({
  heartbeatIntervalMs: 1000,
  storeFailures: 0,
  busy: false,
  ...change,
});

describe('the heartbeat pace, row by row', () => {
  it.each<[string, HeartbeatPace, string, number]>([
    ['at rest: the configured interval', pace(), 'steady', 1000],
    ['a failure suspected or a role change under way: quickly', pace({ busy: true }), 'busy', BUSY_HEARTBEAT_MS],
    ['busy with an interval already shorter: the interval', pace({ busy: true, heartbeatIntervalMs: 20 }), 'busy', 20],
    ['the store failed once: the interval', pace({ storeFailures: 1 }), 'store-unreachable', 1000],
    ['failed three times: doubled twice', pace({ storeFailures: 3 }), 'store-unreachable', 4000],
    ['failed often: capped', pace({ storeFailures: 40 }), 'store-unreachable', MAX_HEARTBEAT_BACKOFF_MS],
    [
      'unreachable outranks busy: no hammering during an outage',
      pace({ storeFailures: 2, busy: true }),
      'store-unreachable',
      2000,
    ],
  ])('%s', (_what, input, rule, delayMs) => {
    // Act
    const next = nextHeartbeatDelay(input);
    // Assess
    expect(next).toEqual({ rule, delayMs });
  });

  it('has a last row that always holds', () => {
    expect(HEARTBEAT_PACE_ROWS.at(-1)?.when(pace({ storeFailures: 0, busy: false }))).toBe(true);
  });
});

/** Timers that fire only when the test says so. */
function manualTimers() {
  const pending = new Map<number, { fire: () => void; ms: number }>();
  let next = 0;
  const timers: Timers = {
    start: (fire, ms) => {
      pending.set(++next, { fire, ms });
      return next;
    },
    cancel: (handle) => void pending.delete(handle as number),
  };
  const fireAll = () => [...pending.entries()].forEach(([id, timer]) => (pending.delete(id), timer.fire()));
  return { timers, pending, fireAll };
}

describe('the pause the loops wait with', () => {
  it('ends when its timer fires, through the injected timers', async () => {
    // Prepare
    const { timers, pending, fireAll } = manualTimers();
    const pause = pauser(timers, new AbortController().signal);
    let over = false;
    // Act
    const waiting = pause(250).then(() => (over = true));
    // Assess
    expect([...pending.values()].map((timer) => timer.ms)).toEqual([250]);
    await Promise.resolve();
    expect(over).toBe(false);
    fireAll();
    await waiting;
    expect(over).toBe(true);
  });

  it('ends early on a wake, cancelling its timer', async () => {
    // Prepare
    const { timers, pending } = manualTimers();
    const pause = pauser(timers, new AbortController().signal);
    const wake = new Wake();
    // Act
    const waiting = pause(60_000, wake);
    wake.wake();
    await waiting;
    // Assess
    expect(pending.size).toBe(0);
  });

  it('ends at once when the agent stops, and does not wait at all once it has', async () => {
    // Prepare
    const { timers, pending } = manualTimers();
    const stopping = new AbortController();
    const pause = pauser(timers, stopping.signal);
    // Act
    const waiting = pause(60_000);
    stopping.abort();
    await waiting;
    await pause(60_000);
    // Assess
    expect(pending.size).toBe(0);
  });
});

const goal = (change: Partial<ClusterRecord>): ClusterRecord => ({
  ...newClusterRecord({ cluster: 'c1', policy: DEFAULT_CLUSTER_POLICY }, 1_000),
  term: 3,
  primaryNodeId: 'db1',
  ...change,
});

const membership: MembershipRecord = {
  cluster: 'c1',
  sk: 'MEMBERSHIP',
  version: 1,
  allowed: [
    { nodeId: 'db1', address: '10.0.0.1:5432', role: 'database' },
    { nodeId: 'db2', address: '10.0.0.2:5432', role: 'database' },
  ],
  priority: [],
  updatedAtMs: 1_000,
};

describe('the goal, learned through one door', () => {
  const logger = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };

  it('ignores a goal from an older term, and says so', () => {
    // Prepare
    const host = { primaryChanged: vi.fn(), roleChangeBegan: vi.fn() };
    const known = new GoalState('db2', logger, host);
    known.learn(goal({ term: 5 }));
    // Act
    known.learn(goal({ term: 4, primaryNodeId: 'db2' }));
    // Assess
    expect(known.term).toBe(5);
    expect(known.goal?.primaryNodeId).toBe('db1');
    expect(logger.warn).toHaveBeenCalledWith('ignoring a cluster record from an older term', { seen: 5, got: 4 });
  });

  it('tells the lease of a new primary and the checks of a role change beginning, once each', () => {
    // Prepare
    const host = { primaryChanged: vi.fn(), roleChangeBegan: vi.fn() };
    const known = new GoalState('db2', logger, host);
    known.learn(goal({}));
    host.primaryChanged.mockClear();
    // Act
    known.learn(goal({ phase: 'demoting' }));
    known.learn(goal({ phase: 'demoting', version: 9 }));
    known.learn(goal({ term: 4, primaryNodeId: 'db2', phase: 'promoting' }));
    // Assess
    expect(host.roleChangeBegan).toHaveBeenCalledTimes(1);
    expect(host.primaryChanged).toHaveBeenCalledTimes(1);
    expect(known.roleChangeUnderWay()).toBe(true);
  });

  it('names the primary to check from here only when it is another node in the membership', () => {
    // Prepare
    const known = new GoalState('db2', logger, { primaryChanged: vi.fn(), roleChangeBegan: vi.fn() });
    const changes = vi.fn();
    const stop = known.onChange(changes);
    // Act
    known.learnMembership(membership, goal({}));
    const other = known.otherPrimary();
    known.learn(goal({ term: 4, primaryNodeId: 'db2' }));
    stop();
    known.learn(goal({ term: 5, primaryNodeId: 'db9' }));
    // Assess
    expect(other).toEqual({ nodeId: 'db1', address: '10.0.0.1:5432' });
    expect(known.otherPrimary()).toBeUndefined();
    // One change told per read: the membership and the goal it brought together, then the lease's goal.
    expect(changes.mock.calls.length).toBe(2);
  });
});
