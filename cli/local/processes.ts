// Starting, watching and stopping the processes the local mode owns. Only PIDs we started are signalled.

import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { isAlive } from '../../agent/server-control.ts';

export { isAlive };

/** Thrown from a waitFor check when waiting longer cannot help (a process it waits on has exited). */
export class GiveUp extends Error {
  override readonly name = 'GiveUp';
}

/**
 * Polls `check` until it returns a value other than undefined, or fails with `what` after the deadline.
 * A check that throws GiveUp ends the wait at once with that error.
 */
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
      if (error instanceof GiveUp) throw error;
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

// Ports are drawn below Linux's ephemeral range (32768-60999 by default): a port the kernel hands out for
// `listen(0)` is also what it hands out as the local end of outgoing connections, and the agents open many,
// so such a port could be taken between our check and the process that is to listen on it (seen in CI).
const PORT_LOW = 20_000;
const PORT_HIGH = 32_000;
const handedOut = new Set<number>();

/** A TCP port on 127.0.0.1 that was free a moment ago and that this process has not handed out before. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = PORT_LOW + Math.floor(Math.random() * (PORT_HIGH - PORT_LOW));
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free TCP port on 127.0.0.1 between ${PORT_LOW} and ${PORT_HIGH} after 200 tries`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
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

/** `; see FILE, which ends:` and the file's last lines, for an error about a process that exited. */
export function logTail(file: string, lines = 12): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return `; see ${file}`;
  }
  const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
  return tail ? `; see ${file}, which ends:\n${tail}` : `; see ${file} (empty)`;
}
