// The agent's once-a-minute full collection (agent/heap-trim.ts): on its period, stoppable, and nothing
// when node runs without --expose-gc.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HEAP_TRIM_PERIOD_MS, startHeapTrim } from '../../agent/heap-trim.ts';

describe('heap trim', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('collects the heap once per period until stopped', () => {
    // Prepare
    const collect = vi.fn();
    // Act
    const stop = startHeapTrim(collect);
    vi.advanceTimersByTime(HEAP_TRIM_PERIOD_MS - 1);
    const beforeFirst = collect.mock.calls.length;
    vi.advanceTimersByTime(1 + 2 * HEAP_TRIM_PERIOD_MS);
    const afterThree = collect.mock.calls.length;
    stop();
    vi.advanceTimersByTime(5 * HEAP_TRIM_PERIOD_MS);
    // Assess
    expect(beforeFirst).toBe(0);
    expect(afterThree).toBe(3);
    expect(collect).toHaveBeenCalledTimes(3);
  });

  it('does nothing when node runs without --expose-gc', () => {
    // Act
    const stop = startHeapTrim(undefined);
    // Assess
    expect(vi.getTimerCount()).toBe(0);
    stop();
  });
});
