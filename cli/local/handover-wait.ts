// A drill's fault at the evaluator's handover: the moment a new invocation starts, when it has seen no lease
// renew yet and its predecessor is about to stand down (local up --evaluator-invocations).

import { setTimeout as sleep } from 'node:timers/promises';
import { UsageError } from '../../core/errors.ts';
import type { StateStore } from '../../core/state-store.ts';

/** Waits until a new evaluator invocation claims the evaluation (and has not yet started evaluating). */
export async function untilHandover(
  store: StateStore,
  invocationMs: number | null,
  say: (line: string) => void,
): Promise<void> {
  if (!invocationMs)
    throw new UsageError('a fault at the handover needs a cluster started with local up --evaluator-invocations <ms>');
  const first = (await store.evaluationOwner())?.owner;
  const deadline = Date.now() + invocationMs + 10_000;
  while (Date.now() < deadline) {
    const now = await store.evaluationOwner();
    if (now && now.owner !== first && !now.evaluating) {
      say(`a new evaluator invocation (${now.owner}) has just started: injecting at the handover`);
      return;
    }
    await sleep(10);
  }
  throw new Error(`no new evaluator invocation within ${invocationMs + 10_000} ms (is the controller running?)`);
}
