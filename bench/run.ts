// The benchmark's runs on the local mode's network lab: a real three-node cluster (PostgreSQL 15, the
// agents, the evaluator, dynalite), faults injected by the drill at a random phase of the heartbeat
// cycle, the writer of every drill committing through the cluster address; then false-failover trials,
// the agents' footprint and the store's request rates at rest.

import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { localHeal } from '../cli/local/lab-faults.ts';
import { connectLocalStore, localDown, localUp, readLocalState } from '../cli/local/local-cluster.ts';
import { runDrill, type DrillReport, type Fault } from '../cli/local/drill.ts';
import { waitFor } from '../cli/local/processes.ts';
import type { ClusterSnapshot, ReadConsistency } from '../core/state-store.ts';
import { consistentReadUnits, dynamoItemSize, eventualReadUnits, writeUnits, type ClusterLoad } from './cost.ts';
import { FootprintSampler, type Footprint } from './footprint.ts';
import { withTeardown } from './teardown.ts';

export const CASES = [
  'kill-primary-node',
  'kill-primary-node-at-handover',
  'kill-primary-db',
  'partition-primary',
  'switchover',
] as const;
export type Case = (typeof CASES)[number];
export const MODES = ['async', 'sync'] as const;
export type Mode = (typeof MODES)[number];
export const TRIALS = ['stall-primary', 'blip-primary'] as const;
/**
 * How long a new cluster runs before its footprint at rest is measured: an agent's first minutes compile its
 * code (V8 optimises what runs often only after it has run a while, and the agent at rest runs little), which
 * an agent that runs for months pays once. Measured in the lab: the primary's agent takes about 1 % of a core
 * in its second minute and 0.7 to 0.9 % from its fourth.
 */
export const SETTLE_MS = 180_000;
/** The bench's evaluator invocations: a third of the Lambda's minute, so that a run meets several handovers. */
const EVALUATOR_INVOCATION_MS = 20_000;
export type Trial = (typeof TRIALS)[number];

/** The drill fault each case is. A silent partition: the primary loses the store and its peers (not its clients). */
const FAULT_OF: Record<Case, Fault> = {
  'kill-primary-node': 'kill-primary-node',
  // The node dies as a new evaluator invocation starts, which has seen no lease renew yet.
  'kill-primary-node-at-handover': 'kill-primary-node',
  'kill-primary-db': 'kill-primary-db',
  'partition-primary': 'isolate-primary',
  switchover: 'switchover',
};

export interface RunResult {
  /** pgfailover, or the peer system and settings measured side by side. */
  system: string;
  mode: Mode;
  case: Case;
  run: number;
  /** Where in the heartbeat cycle the fault landed: a random delay after a healthy cluster was seen. */
  phaseMs: number;
  writeUnavailableMs: number;
  failedOver: boolean;
  lostRows: number | null;
  timeline: DrillReport['timeline'];
}

export interface TrialResult {
  mode: Mode;
  trial: Trial;
  run: number;
  durationMs: number;
  promoted: boolean;
  longestWriteGapMs: number;
}

export interface StoreRates {
  windowMs: number;
  /** Requests a second by DynamoDB operation, for the one cluster. */
  perSecond: Record<string, number>;
  itemBytes: { cluster: number; heartbeat: number; partition: number };
  /** One cluster's own load. */
  load: ClusterLoad;
  /** The evaluator's per-round reads that do not grow with the number of clusters. */
  fixed: ClusterLoad;
}

export interface ModeResults {
  mode: Mode;
  runs: RunResult[];
  trials: TrialResult[];
  idleFootprint: Footprint[];
  failoverFootprint: Footprint[];
  storeRates: StoreRates | null;
  /**
   * The busiest second at the store during the failover runs and trials (each request counted as one
   * capacity unit, as every item is under 1 KB and every Query under 4 KB): what a provisioned table must
   * absorb while one cluster fails over. The lab's own tools (the drill's status reads, rejoins) are in it.
   */
  storePeak?: ClusterLoad | null;
}

export interface RunOptions {
  runs: number;
  cases: readonly Case[];
  modes: readonly Mode[];
  trials: number;
  stallMs: number;
  idleMs: number;
  /** Where each mode's controller, agent and PostgreSQL logs are copied before its lab is torn down. */
  keepLogs?: string;
  progress: (line: string) => void;
}

/** A cluster ready for the next fault: steady, every standby streaming from the primary on its timeline. */
export function healthyProblem(snapshot: ClusterSnapshot, nowMs: number): string | undefined {
  const { cluster, heartbeats } = snapshot;
  if (cluster.phase !== 'steady' || !cluster.primaryNodeId) return `phase ${cluster.phase}`;
  const primary = heartbeats.find((beat) => beat.nodeId === cluster.primaryNodeId);
  if (!primary || primary.agentType !== 'primary' || primary.dbStatus !== 'UP' || primary.agentStatus !== 'UP')
    return `primary ${cluster.primaryNodeId} not reporting a writable database`;
  for (const beat of heartbeats) {
    if (beat.nodeId === primary.nodeId || beat.agentType === 'witness') continue;
    if (nowMs - beat.sentAtMs > 3000) return `${beat.nodeId} silent`;
    if (beat.dbStatus !== 'UP' || beat.agentType !== 'standby')
      return `${beat.nodeId} is ${beat.agentType}/${beat.dbStatus}`;
    if (beat.timeline !== primary.timeline)
      return `${beat.nodeId} on timeline ${beat.timeline}, primary ${primary.timeline}`;
    const streaming = primary.replication.some(
      (peer) => peer.applicationName === beat.nodeId && peer.state === 'streaming',
    );
    if (!streaming) return `${beat.nodeId} not streaming from ${primary.nodeId}`;
  }
  return undefined;
}

async function waitHealthy(dir: string, timeoutMs: number): Promise<void> {
  const state = readLocalState(dir);
  const store = connectLocalStore(state);
  let problem = 'not read yet';
  await waitFor(
    'a healthy cluster (every standby streaming on the primary timeline)',
    async () => {
      problem = healthyProblem(await store.readSnapshot(state.cluster), Date.now()) ?? '';
      return problem === '' ? true : undefined;
    },
    timeoutMs,
    200,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)} (last: ${problem})`);
  });
}

/** Heals what a run left (links, dead agents) and waits until the old primary streams again. */
async function recover(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    await localHeal(dir).catch(() => undefined);
    try {
      await waitHealthy(dir, 45_000);
      return;
    } catch (error) {
      if (attempt === 2) throw error;
    }
  }
}

/** Copies the logs a lab cluster in `dir` wrote (controller, and per node its agent's and its server's) to `to`. */
export function keepLogs(dir: string, to: string): void {
  if (!existsSync(dir)) return;
  const logs = (from: string) => readdirSync(from).filter((name) => name.endsWith('.log'));
  mkdirSync(to, { recursive: true });
  for (const name of logs(dir)) cpSync(join(dir, name), join(to, name));
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || !existsSync(join(dir, entry.name, 'agent.json'))) continue;
    mkdirSync(join(to, entry.name), { recursive: true });
    for (const name of logs(join(dir, entry.name))) cpSync(join(dir, entry.name, name), join(to, entry.name, name));
  }
}

export async function runMode(mode: Mode, options: RunOptions): Promise<ModeResults> {
  const parent = mkdtempSync(join(tmpdir(), 'pgfailover-bench-'));
  // PostgreSQL runs as the postgres user, which must be able to traverse into the cluster directory.
  chmodSync(parent, 0o755);
  const dir = join(parent, 'cluster');
  const say = (line: string) => options.progress(`[${mode}] ${line}`);
  const results: ModeResults = {
    mode,
    runs: [],
    trials: [],
    idleFootprint: [],
    failoverFootprint: [],
    storeRates: null,
    storePeak: null,
  };
  const teardown = async () => {
    say('tearing the lab cluster down');
    if (options.keepLogs) keepLogs(dir, join(options.keepLogs, mode));
    if (existsSync(join(dir, 'local.json')))
      await localDown(dir, { purge: true }).catch((error: unknown) => say(`teardown: ${String(error)}`));
    rmSync(parent, { recursive: true, force: true });
  };
  return withTeardown(teardown, () => measureMode(mode, dir, results, options, say, teardown));
}

async function measureMode(
  mode: Mode,
  dir: string,
  results: ModeResults,
  options: RunOptions,
  say: (line: string) => void,
  teardown: () => Promise<void>,
): Promise<ModeResults> {
  try {
    say('starting a lab cluster: a primary, two standbys, automatic rejoin');
    await localUp({
      dir,
      standbys: 2,
      witness: false,
      autoRejoin: true,
      synchronous: mode === 'sync',
      network: 'lab',
      // Invocations as the schedule starts the Lambda's, only three times as often: every case meets handovers.
      evaluatorInvocationMs: EVALUATOR_INVOCATION_MS,
    });
    await waitHealthy(dir, 60_000);
    const agentPids = () =>
      readLocalState(dir)
        .nodes.map((node) => node.agentPid)
        .filter((pid): pid is number => typeof pid === 'number');

    // At rest means after the start: the agents' first minutes compile their code and open their connections.
    say(
      `settling for ${SETTLE_MS / 1000} s, then at rest for ${options.idleMs / 1000} s: agent footprint and store requests`,
    );
    await sleep(SETTLE_MS);
    results.storeRates = await measureAtRest(dir, options.idleMs, agentPids, (footprint) => {
      results.idleFootprint = footprint;
    });

    const during = new FootprintSampler(agentPids);
    during.start();
    const peak = new StorePeakSampler(dir);
    peak.start();
    for (const which of options.cases) {
      for (let run = 1; run <= options.runs; run++) {
        await waitHealthy(dir, 60_000);
        const phaseMs = Math.floor(Math.random() * 1000);
        await sleep(phaseMs);
        const report = await runDrill({
          dir,
          fault: FAULT_OF[which],
          timeoutMs: 45_000,
          atHandover: which === 'kill-primary-node-at-handover',
        });
        const result: RunResult = {
          system: 'pgfailover',
          mode,
          case: which,
          run,
          phaseMs,
          writeUnavailableMs: report.writeUnavailableMs,
          failedOver: report.failedOver,
          lostRows: report.writes.missing,
          timeline: report.timeline,
        };
        results.runs.push(result);
        say(
          `${which} ${run}/${options.runs}: writes unavailable ${result.writeUnavailableMs} ms` +
            `${report.failedOver ? `, ${report.primaryBefore} -> ${report.primaryAfter}` : ', NO FAILOVER'}` +
            `, lost rows ${result.lostRows ?? 'unknown'}`,
        );
        await recover(dir);
      }
    }
    results.failoverFootprint = during.stop();

    for (const trial of TRIALS) {
      for (let run = 1; run <= options.trials; run++) {
        await waitHealthy(dir, 60_000);
        await sleep(Math.floor(Math.random() * 1000));
        const report = await runDrill({ dir, fault: trial, stallMs: options.stallMs, timeoutMs: 45_000 });
        const outcome: TrialResult = {
          mode,
          trial,
          run,
          durationMs: options.stallMs,
          promoted: report.termAfter > report.termBefore,
          longestWriteGapMs: report.writeUnavailableMs,
        };
        results.trials.push(outcome);
        say(
          `${trial} ${options.stallMs} ms ${run}/${options.trials}: ${outcome.promoted ? 'PROMOTED' : 'no promotion'}, longest write gap ${outcome.longestWriteGapMs} ms`,
        );
        await recover(dir);
      }
    }
    results.storePeak = peak.stop();
    return results;
  } finally {
    await teardown();
  }
}

/** The local store's running request counts by operation (store-requests.json, rewritten every second). */
interface StoreCounts {
  atMs: number;
  counts: Record<string, number>;
}

/** The counts of the local cluster in `dir` as they are now, or undefined when not written yet or being rewritten. */
function readStoreCounts(dir: string): StoreCounts | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'store-requests.json'), 'utf8')) as StoreCounts;
  } catch {
    return undefined;
  }
}

/** The store's busiest second, from its request counts (rewritten every second) read four times a second. */
export class StorePeakSampler {
  private timer: NodeJS.Timeout | undefined;
  private last: StoreCounts | undefined;
  private peak: ClusterLoad = { writeUnitsPerSecond: 0, readUnitsPerSecond: 0 };

  constructor(private readonly dir: string) {}

  start(): void {
    this.timer = setInterval(() => this.sample(), 250);
  }

  stop(): ClusterLoad | null {
    clearInterval(this.timer);
    return this.peak.writeUnitsPerSecond > 0 ? this.peak : null;
  }

  /** One reading of the counts: the rate since the previous reading, if the file has moved on. */
  add(counts: StoreCounts): void {
    const last = this.last;
    if (last && counts.atMs > last.atMs) {
      const seconds = (counts.atMs - last.atMs) / 1000;
      const delta = (operations: string[]) =>
        operations.reduce((sum, operation) => sum + (counts.counts[operation] ?? 0) - (last.counts[operation] ?? 0), 0);
      this.peak = {
        writeUnitsPerSecond: Math.max(
          this.peak.writeUnitsPerSecond,
          Math.ceil(delta(['PutItem', 'UpdateItem']) / seconds),
        ),
        // Eventually consistent reads cost half (items and Queries here are under 4 KB: a unit each).
        readUnitsPerSecond: Math.max(
          this.peak.readUnitsPerSecond,
          Math.ceil((delta(['GetItem', 'Query']) + delta(['GetItem:eventual', 'Query:eventual']) / 2) / seconds),
        ),
      };
    }
    if (!last || counts.atMs > last.atMs) this.last = counts;
  }

  private sample(): void {
    // Read while being rewritten: the next reading will do.
    const counts = readStoreCounts(this.dir);
    if (counts) this.add(counts);
  }
}

async function measureAtRest(
  dir: string,
  idleMs: number,
  agentPids: () => number[],
  footprint: (result: Footprint[]) => void,
): Promise<StoreRates | null> {
  const readCounts = () => readStoreCounts(dir);
  const sampler = new FootprintSampler(agentPids);
  sampler.start();
  // The counts file is rewritten every second: wait for a fresh one at each end of the window.
  const first = await waitFor('the store request counts', readCounts, 5000);
  await sleep(idleMs);
  const last = await waitFor(
    'newer store request counts',
    () => {
      const counts = readCounts();
      return counts && counts.atMs > first.atMs + idleMs - 1000 ? counts : undefined;
    },
    5000,
  );
  footprint(sampler.stop());
  const state = readLocalState(dir);
  const snapshot = await connectLocalStore(state).readSnapshot(state.cluster);
  const windowMs = last.atMs - first.atMs;
  if (windowMs <= 0) return null;
  const perSecond: Record<string, number> = {};
  for (const [operation, count] of Object.entries(last.counts))
    perSecond[operation] = Math.round(((count - (first.counts[operation] ?? 0)) / (windowMs / 1000)) * 100) / 100;
  // Item sizes as DynamoDB counts them.
  const cluster = dynamoItemSize(snapshot.cluster);
  const heartbeat = Math.max(...snapshot.heartbeats.map((beat) => dynamoItemSize(beat)));
  const membership = snapshot.membership ? dynamoItemSize(snapshot.membership) : 0;
  const partition = cluster + membership + snapshot.heartbeats.reduce((sum, beat) => sum + dynamoItemSize(beat), 0);
  const rate = (operation: string) => perSecond[operation] ?? 0;
  // The evaluator's reads of the index partition (who evaluates, the list of clusters) are counted apart by
  // the store: once per deployment, whatever the number of clusters, and tiny items. The rest is this cluster's.
  const indexReads = (consistency: ReadConsistency) =>
    ['GetItem', 'Query'].reduce(
      (sum, operation) => sum + rate(`${operation}${consistency === 'eventual' ? ':eventual' : ''}:index`),
      0,
    );
  const fixed: ClusterLoad = {
    writeUnitsPerSecond: 0,
    readUnitsPerSecond:
      indexReads('consistent') * consistentReadUnits(0) + indexReads('eventual') * eventualReadUnits(0),
  };
  // PutItem: heartbeats. UpdateItem: lease renewals on the cluster item (DynamoDB charges an update for
  // the larger of the item before and after). GetItem: the agents' consistent reads of the cluster and
  // membership items. Query: the evaluator's snapshot of the cluster, a glance (eventually consistent) while
  // it rests quiet and a consistent read before anything is done.
  const load: ClusterLoad = {
    writeUnitsPerSecond: rate('PutItem') * writeUnits(heartbeat) + rate('UpdateItem') * writeUnits(cluster),
    readUnitsPerSecond:
      rate('GetItem') * consistentReadUnits(Math.max(cluster, membership)) +
      rate('GetItem:eventual') * eventualReadUnits(Math.max(cluster, membership)) +
      rate('Query') * consistentReadUnits(partition) +
      rate('Query:eventual') * eventualReadUnits(partition),
  };
  return { windowMs, perSecond, itemBytes: { cluster, heartbeat, partition }, load, fixed };
}
