// Site scripts run for real (/bin/sh): EFM's placeholders, the exit code and output, the time limit, and
// the OS user they run as.

import { describe, expect, it } from 'vitest';
import { expandPlaceholders, runHook } from '../../agent/hooks.ts';

describe('hooks', () => {
  it.each<[string, Record<string, string>, string]>([
    ['pcp_detach_node -h %h', { h: '10.0.1.10' }, "pcp_detach_node -h '10.0.1.10'"],
    ['fence.sh %f %p', { f: '10.0.1.10', p: '10.0.1.11' }, "fence.sh '10.0.1.10' '10.0.1.11'"],
    ['echo 100%% %x', {}, 'echo 100% %x'],
    ['echo %h', { h: "a'; rm -rf /; '" }, "echo 'a'\\''; rm -rf /; '\\'''"],
    ['echo %f', {}, "echo ''"],
  ])('expands %s', (command, values, expected) => {
    expect(expandPlaceholders(command, values)).toBe(expected);
  });

  it('keeps the exit code and the output, and the placeholders reach the script as one argument', async () => {
    // Act
    const result = await runHook({
      command: 'printf "%s|" %h "$PGFAILOVER_NODE"; echo oops >&2; exit 3',
      env: { PGFAILOVER_NODE: 'db2' },
      placeholders: { h: 'host with space' },
      timeoutMs: 5000,
    });
    // Assess
    expect(result).toMatchObject({ ok: false, exitCode: 3 });
    expect(result.output).toBe('host with space|db2|oops');
    expect(result.detail).toMatch(/exited with 3: host with space\|db2\|oops$/);
  });

  it('kills a script at its time limit and says so', async () => {
    const result = await runHook({ command: 'sleep 10', env: {}, placeholders: {}, timeoutMs: 200 });
    expect(result).toMatchObject({ ok: false, exitCode: null });
    expect(result.detail).toMatch(/was killed \(SIGKILL\) after 200 ms/);
    expect(result.durationMs).toBeLessThan(5000);
  });

  it('runs as the configured OS user when the agent is root, and refuses another user otherwise', async () => {
    const result = await runHook({ command: 'id -un', env: {}, placeholders: {}, timeoutMs: 5000, user: 'nobody' });
    if (process.getuid?.() === 0) {
      expect(result).toMatchObject({ ok: true, exitCode: 0, output: 'nobody' });
    } else {
      expect(result.ok).toBe(false);
      expect(result.detail).toMatch(/only root may run it as another user/);
    }
  });
});
