// Writes docs/benchmarks.md again from the stored docs/benchmarks.json, with the bill computed by the current
// cost model and list prices (bench/cost.ts): for a change to what is billed, without measuring again.
// npm run bench:report [-- DIR]

import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { alternativesCost, PRICES } from './cost.ts';
import { deploymentCosts } from './deployment-cost.ts';
import { markdownReport, type BenchResults } from './report.ts';

const dir = process.argv[2] ?? 'docs';
const stored = JSON.parse(readFileSync(join(dir, 'benchmarks.json'), 'utf8')) as BenchResults;
const results: BenchResults = {
  ...stored,
  cost: deploymentCosts(stored.modes),
  alternatives: alternativesCost(),
  prices: { ...PRICES },
};
const timeline = Object.fromEntries(stored.modes.map((mode) => [mode.mode, `benchmarks/timeline-${mode.mode}.svg`]));
writeFileSync(join(dir, 'benchmarks.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(
  join(dir, 'benchmarks.md'),
  markdownReport(results, { timeline, chart: 'benchmarks/unavailability.svg' }),
);
await promisify(execFile)('npx', ['prettier', '--write', join(dir, 'benchmarks.md'), join(dir, 'benchmarks.json')]);
process.stdout.write(`report written again: ${join(dir, 'benchmarks.md')}\n`);
