// Runs the real command-line programs as a user would, through their bin shims.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PGFAILOVER_BIN = fileURLToPath(new URL('../../bin/pgfailover.js', import.meta.url));
export const AGENT_BIN = fileURLToPath(new URL('../../bin/pgfailover-agent.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, bin = PGFAILOVER_BIN): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, ...env }, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Starts an agent process; the caller stops it (stopChild) in a finally or afterAll. */
export function startAgent(configPath: string): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [AGENT_BIN, '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return Object.assign(child, { output: () => output });
}

/** SIGTERM, then waits for the exit; SIGKILL if it does not come. Resolves to the exit code. */
export async function stopChild(child: ChildProcess, graceMs = 8000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}
