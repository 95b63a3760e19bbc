// Conflicting edits retry at once, then after jittered doubling pauses, until a time budget is spent; any
// other error is not retried.

import { describe, expect, it } from 'vitest';
import { retryConflicts } from '../../core/conflict-retry.ts';

class Conflict extends Error {}

/** A clock the pauses move, and a record of the pauses. */
function virtualClock() {
  let nowMs = 0;
  const pauses: number[] = [];
  return {
    pauses,
    now: () => nowMs,
    sleep: async (ms: number) => {
      pauses.push(ms);
      nowMs += ms;
    },
  };
}

describe('retryConflicts', () => {
  it('retries a conflict at once, then after pauses that double (jittered) up to a ceiling', async () => {
    // Prepare: the ninth attempt gets through.
    const clock = virtualClock();
    let attempts = 0;
    // Act
    const result = await retryConflicts(
      async () => {
        if (++attempts < 9) throw new Conflict('someone else wrote first');
        return 'written';
      },
      (error) => error instanceof Conflict,
      { ...clock, random: () => 1 },
    );
    // Assess
    expect(result).toBe('written');
    expect(attempts).toBe(9);
    expect(clock.pauses).toEqual([5, 10, 20, 40, 80, 160, 320]);
  });

  it('draws each pause between half and all of its ceiling', async () => {
    const clock = virtualClock();
    let attempts = 0;
    await retryConflicts(
      async () => {
        if (++attempts < 4) throw new Conflict('again');
      },
      (error) => error instanceof Conflict,
      { ...clock, random: () => 0 },
    );
    expect(clock.pauses).toEqual([2.5, 5]);
  });

  it('gives up with the conflict once the time budget is spent, not after a number of attempts', async () => {
    const clock = virtualClock();
    let attempts = 0;
    const outcome = await retryConflicts(
      async () => {
        attempts++;
        throw new Conflict('always');
      },
      (error) => error instanceof Conflict,
      { ...clock, budgetMs: 2000, random: () => 1 },
    ).catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(Conflict);
    expect(clock.now()).toBe(2000);
    expect(attempts).toBeGreaterThan(5);
  });

  it('does not retry an error that is not a conflict', async () => {
    const clock = virtualClock();
    let attempts = 0;
    const outcome = await retryConflicts(
      async () => {
        attempts++;
        throw new Error('refused: the node is the primary');
      },
      (error) => error instanceof Conflict,
      clock,
    ).catch((error: unknown) => error);
    expect(String(outcome)).toMatch(/refused/);
    expect(attempts).toBe(1);
  });
});
