// Site scripts (fencing, post-promotion), run with a time limit and the failover's facts in the
// environment. The exit code decides; the output is kept for the notice.

import { spawn } from 'node:child_process';

export interface HookResult {
  ok: boolean;
  detail: string;
}

export function runHook(command: string, env: Record<string, string>, timeoutMs: number): Promise<HookResult> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = `${output}${chunk.toString()}`.slice(-2000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, detail: `could not run "${command}": ${error.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const tail = output.trim() ? `: ${output.trim()}` : '';
      if (code === 0) resolve({ ok: true, detail: output.trim() });
      else if (signal)
        resolve({ ok: false, detail: `"${command}" was killed (${signal}) after ${timeoutMs} ms${tail}` });
      else resolve({ ok: false, detail: `"${command}" exited with ${code}${tail}` });
    });
  });
}
