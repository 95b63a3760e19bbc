// How an administrator's read-modify-write retries when another writer got in first: again at once, then
// after a jittered, doubling pause (so that editors who collided do not collide again in step), until a time
// budget is spent rather than after a fixed count: ten people editing one membership all get through.

/** How long an edit keeps retrying conflicts before it gives up with the conflict. */
export const CONFLICT_RETRY_BUDGET_MS = 15_000;
const FIRST_PAUSE_MS = 5;
const LONGEST_PAUSE_MS = 500;

export interface ConflictRetryOptions {
  budgetMs?: number;
  /** Monotonic milliseconds. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** Runs `attempt` until it returns, retrying only errors `isConflict` accepts, within the time budget. */
export async function retryConflicts<T>(
  attempt: () => Promise<T>,
  isConflict: (error: unknown) => boolean,
  options: ConflictRetryOptions = {},
): Promise<T> {
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = options.random ?? Math.random;
  const deadline = now() + (options.budgetMs ?? CONFLICT_RETRY_BUDGET_MS);
  for (let conflicts = 0; ; conflicts++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isConflict(error) || now() >= deadline) throw error;
      if (conflicts === 0) continue;
      const ceilingMs = Math.min(LONGEST_PAUSE_MS, FIRST_PAUSE_MS * 2 ** (conflicts - 1));
      await sleep(Math.min(ceilingMs * (0.5 + random() / 2), Math.max(0, deadline - now())));
    }
  }
}
