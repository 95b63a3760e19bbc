// Time, injected so tests and the decision core control it. Two clocks, never mixed:
// - the wall clock (epoch ms) is for records and display only: it steps (NTP, VM resume) and differs
//   between hosts;
// - the monotonic clock (CLOCK_MONOTONIC, ms) measures every duration (leases, timeouts, liveness): it
//   never steps, but it means nothing outside the process's host, so it is never stored or compared
//   across hosts.

export interface Clock {
  /** Wall-clock epoch milliseconds: for records and display, never for a duration. */
  nowMs(): number;
  /** Monotonic milliseconds: for every duration. Comparable only on this host. */
  monotonicMs(): number;
}

/** A moment on both clocks, as the decision core receives it. */
export interface Instant {
  wallMs: number;
  monoMs: number;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  // process.hrtime reads CLOCK_MONOTONIC, which a wall-clock step (or libfaketime without monotonic
  // faking) leaves alone.
  monotonicMs: () => Number(process.hrtime.bigint() / 1_000_000n),
};

export function instantOf(clock: Clock): Instant {
  return { wallMs: clock.nowMs(), monoMs: clock.monotonicMs() };
}
