// Starting, watching and stopping the processes the local mode owns. Only PIDs we started are signalled.

import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { isAlive } from '../../agent/server-control.ts';

export { isAlive };

/** Polls `check` until it returns a value other than undefined, or fails with `what` after the deadline. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
      );
    }
    await sleep(intervalMs);
  }
}

/** Sends SIGTERM, waits up to `graceMs`, then SIGKILL; resolves once the process is gone. */
export async function stopProcess(pid: number, graceMs = 5000): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  try {
    await waitFor(`process ${pid} to exit`, () => (isAlive(pid) ? undefined : true), graceMs, 50);
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return;
    }
    await waitFor(`process ${pid} to die after SIGKILL`, () => (isAlive(pid) ? undefined : true), 5000, 50);
  }
}

/** Starts a process that outlives this one (the local cluster keeps running after `local up` returns). */
export function spawnDetached(
  command: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const log = openSync(logFile, 'a');
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log], env });
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Runs the TypeScript entry `file` in a new Node process through tsx. */
export function nodeArgsFor(file: string, args: string[]): string[] {
  // createRequire rather than import.meta.resolve: the latter is missing under some loaders (vitest).
  const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;
  return ['--import', tsxLoader, file, ...args];
}

/** Pauses a process (SIGSTOP): silent, as a GC pause, a VM freeze or a hung host looks from outside. */
export function pauseProcess(pid: number): void {
  process.kill(pid, 'SIGSTOP');
}

export function resumeProcess(pid: number): void {
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    // Gone meanwhile.
  }
}
