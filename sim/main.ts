// npm run simulate -- --seeds N [--seed S] [--faults a,b] [--mutant NAME] [--list-mutants] [--list-faults]
// Runs seeds one after another; a violation prints the seed, the cluster it drew and the timeline, and
// `--seed S` replays exactly that run. Exit codes: 0 nothing found, 1 a violation, 2 bad arguments.

import { Command, InvalidArgumentError, Option } from 'commander';
import { EXIT } from '../core/exit-codes.ts';
import { FAULTS, STORE_OUTAGE_FAULTS } from './faults.ts';
import { MUTANTS, mutantNamed } from './mutants.ts';
import { runSeed, type RunResult } from './run.ts';

const positiveInt = (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError('a whole number such as 100');
  return parsed;
};

const program = new Command('simulate')
  .description('the whole cluster, the real evaluator and agents, on one seeded simulated timeline')
  .option('--seeds <n>', 'how many seeds to run', positiveInt, 20)
  .option('--seed <s>', 'run (or replay) this seed only', positiveInt)
  .option('--first-seed <s>', 'the first of --seeds seeds', positiveInt, 1)
  .option('--faults <names>', 'draw only these faults (comma-separated; see --list-faults)')
  .option('--mutant <name>', 'run with one deliberately broken rule (see --list-mutants)')
  .option('--duration <ms>', 'simulated time of faults per seed', positiveInt, 180_000)
  .addOption(
    new Option('--peer-leases <on|off>', 'peer leases in every seed (default: drawn, on in about a third)').choices([
      'on',
      'off',
    ]),
  )
  .option('--list-mutants', 'name the mutants and exit')
  .option('--list-faults', 'name the faults and exit')
  .option('--quiet', 'print only violations and the summary')
  .option('--timeline', "print each seed's timeline")
  .showHelpAfterError();

program.parse();
const options = program.opts<{
  seeds: number;
  seed?: number;
  firstSeed: number;
  faults?: string;
  mutant?: string;
  duration: number;
  peerLeases?: 'on' | 'off';
  listMutants?: boolean;
  listFaults?: boolean;
  quiet?: boolean;
  timeline?: boolean;
}>();

if (options.listMutants) {
  for (const mutant of MUTANTS) process.stdout.write(`${mutant.name}: ${mutant.what}\n`);
  process.exit(EXIT.ok);
}
if (options.listFaults) {
  for (const fault of [...FAULTS, ...STORE_OUTAGE_FAULTS]) process.stdout.write(`${fault.name}\n`);
  process.exit(EXIT.ok);
}
const faults = options.faults
  ?.split(',')
  .map((name) => name.trim())
  .filter(Boolean);
try {
  if (options.mutant) mutantNamed(options.mutant);
  for (const name of faults ?? [])
    if (![...FAULTS, ...STORE_OUTAGE_FAULTS].some((fault) => fault.name === name))
      throw new Error(`no fault ${name}; see --list-faults`);
} catch (error) {
  process.stderr.write(`simulate: ${(error as Error).message}\n`);
  process.exit(EXIT.usage);
}

const seeds =
  options.seed !== undefined ? [options.seed] : Array.from({ length: options.seeds }, (_, i) => options.firstSeed + i);
const started = process.cpuUsage();
const wallStarted = Date.now();
let promotions = 0;
let simulatedMs = 0;
let failed: RunResult | undefined;
for (const seed of seeds) {
  const result = await runSeed({
    seed,
    faults,
    mutant: options.mutant,
    durationMs: options.duration,
    ...(options.peerLeases ? { peerLeases: options.peerLeases === 'on' } : {}),
  });
  promotions += result.promotions;
  simulatedMs += result.simulatedMs;
  if (!options.quiet)
    process.stdout.write(
      `seed ${seed} (${result.setup}): ${result.faults} faults, ${result.promotions} promotions, ${result.acknowledged} commits acknowledged${result.violations.length ? ' VIOLATION' : ''}\n`,
    );
  if (options.timeline && result.violations.length === 0) process.stdout.write(`${result.timeline.join('\n')}\n\n`);
  if (result.violations.length > 0) {
    failed = result;
    break;
  }
}
const cpu = process.cpuUsage(started);
const cpuMinutes = (cpu.user + cpu.system) / 60e6;
process.stdout.write(
  `${failed ? 'VIOLATION' : 'no violation'} in ${seeds.indexOf(failed?.seed ?? -1) + 1 || seeds.length} seeds${options.mutant ? ` with mutant ${options.mutant}` : ''}: ${promotions} promotions in ${Math.round(simulatedMs / 1000)} s simulated, ${Math.round((Date.now() - wallStarted) / 1000)} s real, ${Math.round(promotions / Math.max(cpuMinutes, 1e-9))} promotions per CPU-minute\n`,
);
if (failed) {
  process.stdout.write(
    `\nseed ${failed.seed} (${failed.setup}): ${failed.violations[0]}\nreplay: npm run simulate -- --seed ${failed.seed}${options.mutant ? ` --mutant ${options.mutant}` : ''}${options.faults ? ` --faults ${options.faults}` : ''}\n\n`,
  );
  process.stdout.write(`${failed.timeline.slice(-80).join('\n')}\n`);
  process.exit(EXIT.problems);
}
