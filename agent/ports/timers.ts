// The agent's one timer: every wait of its loops goes through here, so the simulation's fake timers and a
// test's own drive them, and nothing in the agent reads setTimeout directly.

export interface Timers {
  /** Calls `fire` after `ms` milliseconds; the handle cancels it. */
  start(fire: () => void, ms: number): unknown;
  cancel(handle: unknown): void;
}

/** Node's timers, looked up at each call so that fake timers installed later (sim/) take over. */
export const systemTimers: Timers = {
  start: (fire, ms) => setTimeout(fire, ms),
  cancel: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
