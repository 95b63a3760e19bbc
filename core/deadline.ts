// Bounds a promise in time: every wait on a server, a store or a hook that could hang is given one.

export class DeadlineError extends Error {}

/**
 * `work`, or a DeadlineError saying "`what` within `ms` ms" once that long has passed. The work itself is
 * not cancelled (its own timeouts end it); its timer is cleared either way.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, what = 'no answer'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits `ms` (resolves early, without error, when `signal` aborts). On the global timer rather than
 * node:timers/promises, so that the simulation's virtual time (sim/) drives it as it drives every other wait.
 */
export function sleepMs(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const end = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', end);
      resolve();
    };
    const timer = setTimeout(end, ms);
    signal?.addEventListener('abort', end, { once: true });
  });
}
