// The watchdog port: something outside the agent's process that stops this host's database when the
// agent stops renewing it. The agent arms it with an absolute deadline on the host's monotonic clock,
// computed from the moment its lease renewal left, so the watchdog fires before the evaluator can
// consider the lease expired, even if the agent freezes or dies right after arming it.

export interface Watchdog {
  /** What stands behind it, for logs. */
  readonly describe: string;
  /** Fire at `deadlineMonoMs` (CLOCK_MONOTONIC ms) unless armed again or disarmed before. Past deadlines fire at once. */
  arm(deadlineMonoMs: number): Promise<void>;
  /** A clean stand-down (the node no longer holds a lease, or the agent stops on purpose). */
  disarm(): Promise<void>;
}
