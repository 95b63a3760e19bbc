// The benchmark's teardown on a signal: it must finish (and exit 130) even when the work it interrupts
// fails meanwhile, as a drill does when the lab's store socket goes away under it.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pollUntil } from '../support/poll.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('bench teardown on a signal', () => {
  it('finishes the teardown and exits 130 although the interrupted work fails meanwhile', async () => {
    // Prepare: work that fails 20 ms after the signal, a teardown that takes 100 ms.
    const dir = mkdtempSync(join(tmpdir(), 'pgfailover-teardown-'));
    dirs.push(dir);
    const script = join(dir, 'run.mts');
    writeFileSync(
      script,
      `import { tearDownOnSignals, withTeardown } from ${JSON.stringify(resolve('bench/teardown.ts'))};
tearDownOnSignals((line) => console.log(line));
let failWork = () => undefined;
process.on('SIGTERM', () => setTimeout(() => failWork(), 20));
setInterval(() => undefined, 1000); // as the bench's lab connections keep it alive
console.log('ready');
await withTeardown(
  () => new Promise((done) => setTimeout(() => { console.log('torn down'); done(); }, 100)),
  () => new Promise((_, reject) => { failWork = () => reject(new Error('connect ENOENT store.sock')); }),
);
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    await pollUntil('the script to start', () => (out.includes('ready') ? true : undefined), 10_000, 10).catch(
      (error: unknown) => {
        throw new Error(`${String(error)}: ${out}`);
      },
    );
    // Act
    child.kill('SIGTERM');
    const code = await exited;
    // Assess
    expect(out).toContain('torn down');
    expect(out).toMatch(/SIGTERM: stopped: Error: connect ENOENT store\.sock/);
    expect(code).toBe(130);
  });
});
