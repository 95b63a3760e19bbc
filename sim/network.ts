// The simulated network: directed links between endpoints (database nodes, the witness, the store, the
// evaluator, the clients), each up or cut, with a small seeded latency. A call whose request link is cut
// is lost and the caller waits out its own timeout; one whose reply link is cut takes effect and the caller
// still times out, not knowing (the ambiguous outcome that conditional writes exist for).

import { DeadlineError, sleepMs } from '../core/deadline.ts';
import type { Random } from './random.ts';

export class Network {
  private readonly cuts = new Set<string>();
  /** Endpoints whose process is paused (SIGSTOP): their calls neither leave nor return until resumed. */
  private readonly paused = new Map<string, Promise<void>>();
  private readonly resumers = new Map<string, () => void>();

  constructor(private readonly random: Random) {}

  cut(from: string, to: string): void {
    this.cuts.add(`${from}>${to}`);
  }

  up(from: string, to: string): boolean {
    return !this.cuts.has(`${from}>${to}`);
  }

  /** Both directions between `a` and each of `others`. */
  cutBetween(a: string, others: readonly string[], direction: 'both' | 'out' | 'in' = 'both'): void {
    for (const b of others) {
      if (direction !== 'in') this.cut(a, b);
      if (direction !== 'out') this.cut(b, a);
    }
  }

  healAll(): void {
    this.cuts.clear();
  }

  pause(endpoint: string): void {
    if (this.paused.has(endpoint)) return;
    this.paused.set(endpoint, new Promise((resolve) => this.resumers.set(endpoint, resolve)));
  }

  resume(endpoint: string): void {
    this.resumers.get(endpoint)?.();
    this.resumers.delete(endpoint);
    this.paused.delete(endpoint);
  }

  isPaused(endpoint: string): boolean {
    return this.paused.has(endpoint);
  }

  /** Waits while `endpoint` is paused. */
  async gate(endpoint: string): Promise<void> {
    for (let held = this.paused.get(endpoint); held; held = this.paused.get(endpoint)) await held;
  }

  latencyMs(): number {
    return this.random.int(1, 4);
  }

  /**
   * `work` done at `to` for a caller at `from` that gives up after `timeoutMs`: the request crosses the link
   * after a latency (lost if cut), the work runs there, and the reply crosses back (lost if cut). The
   * calling `process` (an agent, paused or killed apart from its host) is held while paused.
   */
  async call<T>(
    from: string,
    to: string,
    timeoutMs: number,
    work: () => T | Promise<T>,
    process: string = from,
  ): Promise<T> {
    await this.gate(process);
    const startedAt = Date.now();
    const giveUp = async (): Promise<never> => {
      await sleepMs(Math.max(0, timeoutMs - (Date.now() - startedAt)));
      throw new DeadlineError(`${from} -> ${to}: no answer within ${timeoutMs} ms`);
    };
    if (!this.up(from, to)) return giveUp();
    await sleepMs(this.latencyMs());
    if (!this.up(from, to)) return giveUp();
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: await work() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    await sleepMs(this.latencyMs());
    if (!this.up(to, from)) return giveUp();
    await this.gate(process);
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }
}
