// Site scripts with EFM's meaning (docs/agent.md): fence, post-promotion, database failure, primary
// isolated, load-balancer attach and detach. Run with /bin/sh -c, a time limit, the failover's facts in
// PGFAILOVER_* variables and EFM's placeholders in the command (%h the host concerned, %f the failed
// primary's host, %p the new primary's host, %% a percent sign; each substituted shell-quoted), as the
// configured OS user when the agent runs as root. The exit code and the output's tail are kept for the
// history and the alert.

import { spawn } from 'node:child_process';

export type HookName =
  'fence' | 'postPromotion' | 'dbFailure' | 'primaryIsolated' | 'loadBalancerAttach' | 'loadBalancerDetach';

export interface HookRun {
  command: string;
  env: Record<string, string>;
  /** Values for %h, %f, %p; an absent one becomes an empty string. */
  placeholders: Partial<Record<'h' | 'f' | 'p', string>>;
  timeoutMs: number;
  /** Run as this OS user (runuser) when the agent is root; otherwise it must be the agent's own user. */
  user?: string | undefined;
}

export interface HookResult {
  ok: boolean;
  /** null when it did not exit by itself (killed at the time limit, or could not be started). */
  exitCode: number | null;
  /** The last 2,000 characters of stdout and stderr. */
  output: string;
  durationMs: number;
  /** One line for a person: how it ended, and its output. */
  detail: string;
}

const shellQuote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`;

/** The command with EFM's placeholders replaced; unknown ones (%x) are left as they are. */
export function expandPlaceholders(command: string, values: HookRun['placeholders']): string {
  return command.replace(/%([hfp%])/g, (_match, key: string) =>
    key === '%' ? '%' : shellQuote(values[key as 'h' | 'f' | 'p'] ?? ''),
  );
}

const currentUser = () => process.env.USER ?? '';

export function runHook(run: HookRun): Promise<HookResult> {
  const command = expandPlaceholders(run.command, run.placeholders);
  const root = process.getuid?.() === 0;
  const startedMs = Date.now();
  const done = (ok: boolean, exitCode: number | null, output: string, how: string): HookResult => {
    const tail = output.trim() ? `: ${output.trim()}` : '';
    return { ok, exitCode, output: output.trim(), durationMs: Date.now() - startedMs, detail: `${how}${tail}` };
  };
  if (run.user && !root && run.user !== currentUser())
    return Promise.resolve(
      done(
        false,
        null,
        '',
        `"${run.command}" not run: hooks.user is ${run.user}, and only root may run it as another user`,
      ),
    );
  const [file, args] =
    run.user && root ? ['runuser', ['-u', run.user, '--', '/bin/sh', '-c', command]] : ['/bin/sh', ['-c', command]];
  return new Promise((resolve) => {
    // Its own process group, so that the time limit ends the script and everything it started.
    const child = spawn(file, args, {
      env: { ...process.env, ...run.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = `${output}${chunk.toString()}`.slice(-2000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, run.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve(done(false, null, output, `could not run "${run.command}": ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(done(true, 0, output, `"${run.command}" exited with 0`));
      else if (signal)
        resolve(done(false, null, output, `"${run.command}" was killed (${signal}) after ${run.timeoutMs} ms`));
      else resolve(done(false, code, output, `"${run.command}" exited with ${code ?? '?'}`));
    });
  });
}
