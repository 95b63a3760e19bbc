// The deterministic simulation (sim/) as part of the suite: a default run finds nothing, a seed replays
// exactly, and every mutant (a defect found from outside, its fix taken back) is caught within the seeds of
// a default run. Real evaluator and agents; virtual time, so minutes of cluster life take seconds.

import { describe, expect, it } from 'vitest';
import { MUTANTS } from '../../sim/mutants.ts';
import { runSeed } from '../../sim/run.ts';

/** The seeds of a default run here: about half a minute (docs/simulation.md has a longer run). */
const SEEDS = 200;
const DURATION_MS = 120_000;

async function firstViolation(mutant?: string, seeds = SEEDS) {
  const peerLeases = MUTANTS.find((candidate) => candidate.name === mutant)?.peerLeases;
  for (let seed = 1; seed <= seeds; seed++) {
    const result = await runSeed({ seed, mutant, durationMs: DURATION_MS, ...(peerLeases ? { peerLeases } : {}) });
    if (result.violations.length > 0) return result;
  }
  return undefined;
}

describe('deterministic simulation of the whole cluster', () => {
  it(`finds no violation in ${SEEDS} seeds of ${DURATION_MS / 1000} s of faults each, with failovers under way`, async () => {
    // Act
    let promotions = 0;
    let faults = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const result = await runSeed({ seed, durationMs: DURATION_MS });
      expect(result.violations, `seed ${seed}:\n${result.timeline.slice(-60).join('\n')}`).toEqual([]);
      promotions += result.promotions;
      faults += result.faults;
    }
    // Assess: not vacuous
    expect(faults).toBeGreaterThan(SEEDS * 5);
    expect(promotions).toBeGreaterThan(SEEDS * 3);
  });

  it('replays a seed exactly', async () => {
    const first = await runSeed({ seed: 7, durationMs: 60_000 });
    const second = await runSeed({ seed: 7, durationMs: 60_000 });
    expect(second.timeline).toEqual(first.timeline);
    expect(first.promotions).toBeGreaterThan(0);
  });

  it.each(MUTANTS.map((mutant) => [mutant.name]))(
    'catches the mutant %s within the seeds of a default run',
    async (name) => {
      const found = await firstViolation(name);
      expect(found, `${name} went unnoticed for ${SEEDS} seeds`).toBeDefined();
    },
  );
});
