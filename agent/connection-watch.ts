// Holds a watched connection (ops.watch) to the local database or to the recorded primary's, and wakes the
// checks whenever it breaks: a server that dies is seen at once rather than at the next check period.

import type { AgentConfig } from '../core/agent-config.ts';
import type { Clock } from '../core/clock.ts';
import type { NodeOps } from './ports/node-ops.ts';
import { Wake } from './wake.ts';

export interface ConnectionWatchHost {
  /** What to watch: undefined for the local database, else the primary's address (or undefined: none yet). */
  target(): string | undefined;
  /** Told whenever the goal or the membership is learned, with `listener`; returns how to stop listening. */
  onGoal(listener: () => void): () => void;
  pause(ms: number, wake?: Wake): Promise<void>;
  readonly stopping: AbortSignal;
}

export async function watchConnection(
  which: 'local' | 'primary',
  deps: { config: AgentConfig; clock: Clock; ops: NodeOps },
  host: ConnectionWatchHost,
  wake: Wake,
): Promise<void> {
  const watch = deps.ops.watch;
  if (!watch) return;
  const local = which === 'local';
  const periodMs = deps.config.timeouts.localPeriodMs;
  const address = () => (local ? undefined : host.target());
  // With no primary to watch, the goal that names one starts the watch.
  const primaryKnown = new Wake();
  while (!host.stopping.aborted) {
    const target = address();
    if (target === undefined && !local) {
      const stopListening = host.onGoal(() => {
        if (address() !== undefined) primaryKnown.wake();
      });
      await host.pause(periodMs, primaryKnown);
      stopListening();
      continue;
    }
    const openedMonoMs = deps.clock.monotonicMs();
    const ended = new AbortController();
    const onStop = () => ended.abort();
    host.stopping.addEventListener('abort', onStop, { once: true });
    // A change of primary (a new goal or membership) drops the watch on the old one.
    const stopListening = host.onGoal(() => {
      if (address() !== target) ended.abort();
    });
    let broke = false;
    try {
      broke = await watch.call(deps.ops, target, ended.signal);
    } catch {
      broke = false;
    } finally {
      stopListening();
      host.stopping.removeEventListener('abort', onStop);
    }
    if (host.stopping.aborted) return;
    if (broke) wake.wake();
    // A watch that breaks at once (the server is down) is not reopened in a tight loop.
    const heldMs = deps.clock.monotonicMs() - openedMonoMs;
    if (heldMs < periodMs) await host.pause(periodMs - heldMs);
  }
}
