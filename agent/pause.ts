// How the agent's loops wait: a pause that a Wake or the agent's stop ends early.

import type { Timers } from './ports/timers.ts';
import type { Wake } from './wake.ts';

/** Waits `ms`, or less when `wake` is woken or the agent stops. */
export type Pause = (ms: number, wake?: Wake) => Promise<void>;

/**
 * A wait ended early cancels its timer and its listener on the stop signal at once (the busy loops are
 * woken many times a second, and pending timers would pile up). A plain timer rather than an aborted
 * sleep: an abort builds an error with a stack trace, and the loops at rest wait a few dozen times a second.
 */
export function pauser(timers: Timers, stopping: AbortSignal): Pause {
  return (ms, wake) => {
    if (stopping.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const end = () => {
        timers.cancel(timer);
        stopping.removeEventListener('abort', end);
        wake?.stopWaiting();
        resolve();
      };
      const timer = timers.start(end, ms);
      stopping.addEventListener('abort', end, { once: true });
      if (wake) void wake.next().then(end);
    });
  };
}
