// npm run bench [-- --runs 7 --cases ... --modes async,sync --trials 10]: failover time, false failovers,
// footprint, evaluator scale and monthly cost on the local mode's network lab (root on Linux). Writes
// docs/benchmarks.json, docs/benchmarks.md and its pictures; progress goes to stderr as it runs.

import { Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { execFile } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { labUnavailable } from '../cli/local/lab-network.ts';
import { DEFAULT_HEARTBEAT_INTERVAL_MS } from '../core/lease-timing.ts';
import { alternativesCost, PRICES } from './cost.ts';
import { deploymentCosts } from './deployment-cost.ts';
import { markdownReport, timelineSvg, unavailabilitySvg, type BenchResults } from './report.ts';
import { CASES, MODES, runMode, type Case, type Mode } from './run.ts';
import { PATRONI_AGGRESSIVE, PATRONI_DEFAULTS, patroniSystem } from './peers/patroni.ts';
import { runPeer, type PeerSystem } from './peers/peer-run.ts';
import { pgAutoFailoverSystem } from './peers/pg-auto-failover.ts';
import type { PeerLab } from './peers/peer-lab.ts';
import { ensurePeerPackages } from './peers/packages.ts';
import { tearDownOnSignals } from './teardown.ts';
import { EXIT } from '../core/exit-codes.ts';

/** The failover managers measured side by side, by the name --peers takes. */
const PEERS: Record<string, (lab: PeerLab, synchronous: boolean) => PeerSystem> = {
  'patroni-defaults': (lab, synchronous) => patroniSystem(lab, PATRONI_DEFAULTS, synchronous),
  'patroni-tuned': (lab, synchronous) => patroniSystem(lab, PATRONI_AGGRESSIVE, synchronous),
  'pg-auto-failover': (lab, synchronous) => pgAutoFailoverSystem(lab, synchronous),
};
const PEER_NAMES = Object.keys(PEERS);

const ms = z.number().nullable();
/** The part of an earlier docs/benchmarks.json that --reuse-peers takes. */
const earlierPeersSchema = z.object({
  startedAt: z.string(),
  peers: z.array(
    z.object({
      name: z.string(),
      settings: z.string(),
      measuredAt: z.string().optional(),
      runs: z.array(
        z.object({
          system: z.string(),
          mode: z.enum(MODES),
          case: z.enum(CASES),
          run: z.number(),
          phaseMs: z.number(),
          writeUnavailableMs: z.number(),
          failedOver: z.boolean(),
          lostRows: ms,
          timeline: z.object({
            detectedMs: ms,
            decidedMs: ms,
            promotedMs: ms,
            addressMovedMs: ms,
            firstWriteMs: ms,
            completedMs: ms,
          }),
        }),
      ),
    }),
  ),
});

const run = promisify(execFile);
const AGENT_BUNDLE = fileURLToPath(new URL('../dist/bin/pgfailover-agent.mjs', import.meta.url));

function list<T extends string>(allowed: readonly T[], what: string) {
  return (value: string): T[] => {
    const items = value.split(',').map((item) => item.trim());
    const unknown = items.filter((item) => !(allowed as readonly string[]).includes(item));
    if (unknown.length || items.length === 0)
      throw new InvalidArgumentError(`unknown ${what} ${unknown.join(', ')}; choose from ${allowed.join(', ')}`);
    return items as T[];
  };
}

function whole(max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < 1 || parsed > max)
      throw new InvalidArgumentError(`must be a whole number from 1 to ${max}; got ${value}`);
    return parsed;
  };
}
const count = whole(1000);
const milliseconds = whole(600_000);

const program = new Command('bench')
  .description('failover time, false failovers, footprint, scale and cost on the local network lab')
  .option('--runs <n>', 'runs per case and mode', count, 7)
  .option('--cases <list>', `cases, comma-separated (${CASES.join(', ')})`, list(CASES, 'case'), [...CASES])
  .option('--modes <list>', 'replication modes, comma-separated (async, sync)', list(MODES, 'mode'), [...MODES])
  .option('--trials <n>', 'false-failover trials of each kind (stall, blip)', count, 10)
  .option('--stall-ms <ms>', 'how long each stall or blip lasts', milliseconds, 2000)
  .option('--idle-ms <ms>', 'how long the cluster is watched at rest', milliseconds, 120_000)
  .option(
    '--peers <list>',
    `other failover managers to measure side by side, comma-separated (${PEER_NAMES.join(', ')}), or none`,
    (value: string) => (value === 'none' ? [] : list(PEER_NAMES, 'peer')(value)),
    [...PEER_NAMES],
  )
  .option('--peer-runs <n>', 'runs per case for each peer (their failovers take tens of seconds)', count, 3)
  .option('--peer-modes <list>', 'replication modes for the peers, comma-separated', list(MODES, 'mode'), ['async'])
  .option(
    '--reuse-peers <file>',
    "add the peers' runs from an earlier results file, for the peers not measured in this run (--peers none: all)",
  )
  .option('--scale <list>', 'cluster counts for the evaluator measurement (empty: skip)', '1,10,100,1000')
  .option('--out <dir>', 'where the report goes', 'docs')
  .option('--keep-logs <dir>', "copy each mode's controller, agent and PostgreSQL logs here before its lab is removed")
  .action(
    async (options: {
      runs: number;
      cases: Case[];
      modes: Mode[];
      trials: number;
      stallMs: number;
      idleMs: number;
      scale: string;
      out: string;
      peers: string[];
      peerRuns: number;
      peerModes: Mode[];
      reusePeers?: string;
      keepLogs?: string;
    }) => {
      const unavailable = await labUnavailable();
      if (unavailable) {
        process.stderr.write(`the benchmark needs the network lab: ${unavailable}\n`);
        process.exit(EXIT.usage);
      }
      const progress = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
      tearDownOnSignals(progress);
      // The agents run from the release bundle, as on a database host (no TypeScript compiler in them).
      progress('building the release bundles (npm run build)');
      await run('npm', ['run', 'build'], { maxBuffer: 20 * 1024 * 1024, timeout: 10 * 60_000 });
      process.env.PGFAILOVER_LOCAL_AGENT = AGENT_BUNDLE;
      const started = new Date();
      const modes = [];
      for (const mode of options.modes) modes.push(await runMode(mode, { ...options, progress }));

      const peers: BenchResults['peers'] = [];
      if (options.peers.length) {
        await ensurePeerPackages(progress);
        for (const peer of options.peers) {
          const make = PEERS[peer];
          if (!make) continue;
          for (const mode of options.peerModes) {
            const measuredAt = new Date().toISOString();
            const result = await runPeer(make, {
              runs: options.peerRuns,
              cases: options.cases,
              synchronous: mode === 'sync',
              progress,
            });
            peers.push({ ...result, measuredAt });
          }
        }
      }
      // Peers measured in an earlier run, for those not measured now (their failovers take minutes).
      if (options.reusePeers) {
        const earlier = earlierPeersSchema.safeParse(JSON.parse(readFileSync(options.reusePeers, 'utf8')));
        if (!earlier.success) throw new Error(`${options.reusePeers} holds no peer results: ${earlier.error.message}`);
        const measured = new Set(peers.map((peer) => peer.name));
        const reused = earlier.data.peers
          .filter((peer) => !measured.has(peer.name))
          .map((peer) => ({ ...peer, measuredAt: peer.measuredAt ?? earlier.data.startedAt }));
        peers.push(...reused);
        progress(`peers: ${reused.length} result sets reused from ${options.reusePeers}`);
      }

      let evaluatorScale: string | null = null;
      if (options.scale.trim()) {
        progress(`evaluator scale: ${options.scale} clusters on dynalite`);
        const { stdout } = await run(
          process.execPath,
          ['--import', 'tsx', 'scripts/measure-evaluator.ts', ...options.scale.split(',')],
          { maxBuffer: 10 * 1024 * 1024, timeout: 20 * 60_000 },
        );
        evaluatorScale = stdout;
      }
      const cost = deploymentCosts(modes);
      const results: BenchResults = {
        startedAt: started.toISOString(),
        machine: `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, heartbeat ${DEFAULT_HEARTBEAT_INTERVAL_MS} ms`,
        options: {
          runs: options.runs,
          cases: options.cases,
          modes: options.modes,
          trials: options.trials,
          stallMs: options.stallMs,
        },
        modes,
        peers,
        evaluatorScale,
        cost,
        alternatives: alternativesCost(),
        prices: { ...PRICES },
      };
      mkdirSync(join(options.out, 'benchmarks'), { recursive: true });
      const timeline: Record<string, string> = {};
      for (const mode of modes) {
        const file = `benchmarks/timeline-${mode.mode}.svg`;
        writeFileSync(join(options.out, file), timelineSvg(mode));
        timeline[mode.mode] = file;
      }
      writeFileSync(join(options.out, 'benchmarks/unavailability.svg'), unavailabilitySvg(results));
      writeFileSync(join(options.out, 'benchmarks.json'), `${JSON.stringify(results, null, 2)}\n`);
      writeFileSync(
        join(options.out, 'benchmarks.md'),
        markdownReport(results, { timeline, chart: 'benchmarks/unavailability.svg' }),
      );
      // In the repository's own format, so that a fresh report passes `npm run lint` as committed.
      await run('npx', [
        'prettier',
        '--write',
        join(options.out, 'benchmarks.md'),
        join(options.out, 'benchmarks.json'),
      ]);
      progress(`report written: ${join(options.out, 'benchmarks.md')}`);
    },
  );

await program.parseAsync();
