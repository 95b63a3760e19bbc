// What the benchmark has running at any moment (a lab cluster, a peer lab), so that Ctrl-C or a SIGTERM
// removes it too: a signal ends the process without running the finally blocks that normally do.

import { EXIT } from '../core/exit-codes.ts';

const active = new Set<() => Promise<void>>();

/** Runs `work` with `teardown` on record; the finally block that tears down as usual takes it off. */
export async function withTeardown<T>(teardown: () => Promise<void>, work: () => Promise<T>): Promise<T> {
  active.add(teardown);
  try {
    return await work();
  } finally {
    active.delete(teardown);
  }
}

/** On SIGINT or SIGTERM: every recorded teardown, then exit 130. */
export function tearDownOnSignals(progress: (line: string) => void): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    progress(`${signal}: tearing down what is running`);
    // What was running fails as its lab goes away (a drill's store socket vanishes): that must not end the
    // process before the teardown has, nor print a crash for a stop that was asked for.
    const expected = (error: unknown) => progress(`${signal}: stopped: ${String(error)}`);
    process.on('uncaughtException', expected);
    process.on('unhandledRejection', expected);
    void Promise.allSettled([...active].map((teardown) => teardown())).finally(() => process.exit(EXIT.interrupted));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
