// The peer-lease protocol (model/peer-leases.pml), checked exhaustively with spin: the protocol as designed
// verifies for the full cluster (three database nodes and a witness, two evaluators) and for the smallest
// (a standby and a witness); each variant without one of its rules produces a counterexample. A variant
// that stopped failing would mean the model no longer exercises that rule. docs/peer-leases.md.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const MODEL = new URL('../../model/peer-leases.pml', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'pgfailover-spin-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Check {
  errors: number;
  states: number;
  output: string;
}

/** spin -a, gcc, ./pan in a directory of its own; `bfs` finds the shortest counterexample. */
async function check(name: string, defines: string[], bfs: boolean): Promise<Check> {
  const dir = mkdtempSync(join(work, `${name}-`));
  await run('spin', [...defines.map((define) => `-D${define}`), '-a', MODEL], { cwd: dir });
  await run('gcc', ['-O2', '-w', '-DSAFETY', '-DVECTORSZ=2048', bfs ? '-DBFS' : '-DCOLLAPSE', '-o', 'pan', 'pan.c'], {
    cwd: dir,
  });
  // DFS needs a stack as deep as the longest path (about 10 million steps for the full cluster).
  const { stdout } = await run('./pan', bfs ? [] : ['-m50000000'], {
    cwd: dir,
    maxBuffer: 64 * 1024 * 1024,
    timeout: 600_000,
  }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  const errors = Number(/errors: (\d+)/.exec(stdout)?.[1] ?? Number.NaN);
  const states = Number(/(\d+) states, stored/.exec(stdout)?.[1] ?? Number.NaN);
  return { errors, states, output: stdout };
}

describe('the peer-lease protocol, model-checked with spin', () => {
  it('verifies for three database nodes, a witness and two evaluators: never two writable primaries', async () => {
    const result = await check('full', ['NV=3'], false);
    expect(result.output).not.toMatch(/max search depth too small|out of memory/);
    expect(result.errors, result.output).toBe(0);
    expect(result.states).toBeGreaterThan(1_000_000);
  }, 900_000);

  it('verifies for a standby and a witness', async () => {
    const result = await check('small', ['NV=2'], false);
    expect(result.output).not.toMatch(/max search depth too small|out of memory/);
    expect(result.errors, result.output).toBe(0);
  }, 300_000);

  it('verifies with a switchover (the new term once the old primary has stopped and released its lease)', async () => {
    const result = await check('switchover', ['NV=2', 'SWITCHOVER'], false);
    expect(result.output).not.toMatch(/max search depth too small|out of memory/);
    expect(result.errors, result.output).toBe(0);
  }, 300_000);

  it('verifies with the evaluator reading the record and then each vote, and a withdrawal in two writes', async () => {
    const result = await check('split', ['NV=2', 'SPLIT_READS', 'ONE_EVALUATOR'], false);
    expect(result.output).not.toMatch(/max search depth too small|out of memory/);
    expect(result.errors, result.output).toBe(0);
  }, 300_000);

  it('with the votes read before the record (the order one Query may take): a counterexample', async () => {
    const result = await check('votes-first', ['NV=2', 'SPLIT_READS', 'ONE_EVALUATOR', 'VOTES_FIRST'], true);
    expect(result.output).toMatch(/assertion violated/);
    expect(result.errors, result.output).toBe(1);
  }, 300_000);

  it.each([
    ['NO_BOUND', 'a member that voted the primary down vouches for it again without withdrawing the vote'],
    ['RECEIVE_TIME', 'the holder counts a vouch from when the answer arrived'],
    ['NO_MARGIN', 'the holder counts a vouch as long as it was granted'],
    ['FORGETFUL', 'a restarted member forgets its promise and its vote'],
    ['EARLY_SWITCHOVER', "a switchover's new term written on the request, before the old primary released"],
  ])(
    'without the rule %s (%s): a counterexample',
    async (variant) => {
      const defines = variant === 'EARLY_SWITCHOVER' ? ['SWITCHOVER', variant] : [variant];
      const result = await check(variant.toLowerCase(), ['NV=2', ...defines], true);
      expect(result.output).toMatch(/assertion violated/);
      expect(result.errors, result.output).toBe(1);
    },
    300_000,
  );
});
