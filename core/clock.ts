/** The one source of time: epoch milliseconds. Injected so tests and the decision core control it. */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };
