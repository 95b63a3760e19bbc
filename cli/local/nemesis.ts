// The nemesis, in the spirit of Jepsen: a lab cluster, clients writing on both sides of every cut
// (through the cluster address, and straight to every node's own IP), and a random schedule of silent
// faults drawn from a seed. After each fault is healed it checks that the cluster came back (one primary,
// every other database streaming from it, the address on it, phase steady) within a stated bound; all
// along it samples every 100 ms that no two servers accept writes; at the end, with a synchronous
// standby, that no acknowledged row is missing. Faults shorter than the timeouts must cause no promotion.
// A seed reproduces the schedule; every violation is printed with the timeline around it.

import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { postmasterPid } from '../../agent/server-control.ts';
import type { ClusterRecord } from '../../core/records.ts';
import { clusterWriter, type ClusterWriter } from './cluster-writer.ts';
import { superuserPassword } from './drill.ts';
import { faultTarget, type LabFaultTarget } from './lab-faults.ts';
import {
  connectLocalStore,
  localDown,
  localUp,
  readLocalState,
  rejoinNodeSaying,
  restartAgent,
  sqlTarget,
  type LocalClusterState,
} from './local-cluster.ts';
import { isAlive, logTail } from './processes.ts';
import { superuserQuery } from './superuser-sql.ts';
import { WritableSampler } from './writable-sampler.ts';
import { FAULT_ARMS, node } from './nemesis-faults.ts';
import { NO_PROMOTION, planSchedule, type NemesisFault, type PlannedFault } from './nemesis-schedule.ts';

export {
  NEMESIS_FAULTS,
  planSchedule,
  seededRandom,
  type NemesisFault,
  type PlannedFault,
} from './nemesis-schedule.ts';

export interface NemesisOptions {
  seed: number;
  durationMs: number;
  /** Synchronous replication (ANY 1): then no acknowledged row may be lost. */
  synchronous: boolean;
  /** Peer leases on: a store outage for everyone must then promote nobody. */
  peerLeases?: boolean;
  /** After a heal, the cluster must be whole again within this long. */
  recoveryBoundMs: number;
  /** Where to put the cluster; a new temporary directory when absent. */
  dir?: string;
  onLine?: (line: string) => void;
}

export interface NemesisReport {
  seed: number;
  durationMs: number;
  faults: {
    fault: NemesisFault;
    target: string;
    heldMs: number;
    termBefore: number;
    termAfter: number;
    recoveredMs: number | null;
  }[];
  violations: string[];
  samples: number;
  acknowledged: number;
  missing: number;
  promotions: number;
}

const TABLE = 'nemesis_rows';

export async function runNemesis(options: NemesisOptions): Promise<NemesisReport> {
  const say = options.onLine ?? (() => undefined);
  const parent = options.dir ?? mkdtempSync(join(tmpdir(), 'pgfailover-nemesis-'));
  // mkdtemp makes 0700 directories; the postgres OS user (when we are root) must pass through.
  if (!options.dir) chmodSync(parent, 0o755);
  const dir = options.dir ?? join(parent, 'cluster');
  const startedAt = Date.now();
  const timeline: string[] = [];
  const note = (line: string) => {
    const stamped = `+${String(Date.now() - startedAt).padStart(7)} ms  ${line}`;
    timeline.push(stamped);
    say(stamped);
  };
  const violations: string[] = [];
  const violate = (what: string) => {
    violations.push(what);
    note(`VIOLATION: ${what}`);
  };
  const report: NemesisReport = {
    seed: options.seed,
    durationMs: options.durationMs,
    faults: [],
    violations,
    samples: 0,
    acknowledged: 0,
    missing: 0,
    promotions: 0,
  };
  note(
    `seed ${options.seed}: starting a lab cluster (2 standbys, a witness${options.synchronous ? ', synchronous' : ''}) in ${dir}`,
  );
  await localUp({
    dir,
    standbys: 2,
    witness: true,
    synchronous: options.synchronous,
    network: 'lab',
    peerLeases: options.peerLeases === true,
  });
  const writers: ClusterWriter[] = [];
  let sampler: WritableSampler | undefined;
  try {
    const state = readLocalState(dir);
    const lab = faultTarget(state);
    const password = superuserPassword(dir);
    const store = connectLocalStore(state);
    await superuserQuery(sqlTarget(node(state, 'db1')), password, `CREATE TABLE ${TABLE} (id bigint PRIMARY KEY)`);
    // Clients on both sides of any cut: through the address, and straight to each database node's IP.
    writers.push(clusterWriter(state, dir, TABLE, password));
    state.nodes
      .filter((n) => n.dataDir)
      .forEach((n, index) =>
        writers.push(clusterWriter(state, dir, TABLE, password, { to: n.address, firstId: (index + 1) * 10_000_000 })),
      );
    for (const writer of writers) writer.start();
    sampler = new WritableSampler(state.nodes, password, 100);
    sampler.start();

    const schedule = planSchedule(options.seed, 1000);
    for (const planned of schedule) {
      if (Date.now() - startedAt > options.durationMs) break;
      const before = await store.getCluster(state.cluster);
      if (!before?.primaryNodeId) {
        violate(`no primary recorded before a fault (phase ${before?.phase ?? '?'})`);
        break;
      }
      const outcome = await applyFault(dir, lab, planned, before, note, password);
      const termAfterHeal = (await store.getCluster(state.cluster))?.term ?? before.term;
      const recoveredMs = await awaitRecovery(dir, password, options.recoveryBoundMs, note);
      const after = await store.getCluster(state.cluster);
      report.faults.push({
        fault: planned.fault,
        target: outcome.target,
        heldMs: planned.holdMs,
        termBefore: before.term,
        termAfter: after?.term ?? before.term,
        recoveredMs,
      });
      if (recoveredMs === null) {
        violate(
          `after ${planned.fault} on ${outcome.target} was healed, the cluster was not whole within ${options.recoveryBoundMs} ms: ${await describe(dir, password)}`,
        );
        break;
      }
      const mustNotPromote =
        NO_PROMOTION.has(planned.fault) || (options.peerLeases === true && planned.fault === 'store-outage');
      if (mustNotPromote && termAfterHeal !== before.term) {
        violate(
          `${planned.fault} on ${outcome.target} for ${planned.holdMs} ms, which must not fail anything over, caused a promotion (term ${before.term} -> ${termAfterHeal})`,
        );
      }
      for (const overlap of sampler.overlaps.splice(0)) violate(`two writable primaries: ${overlap}`);
    }
    for (const writer of writers) await writer.stop();
    // The rows are read from the primary of a whole cluster: wait for it (and say so if it takes a failover).
    const termBeforeRead = (await store.getCluster(state.cluster))?.term;
    if ((await awaitRecovery(dir, password, options.recoveryBoundMs, note)) === null)
      violate(
        `at the end, the cluster was not whole within ${options.recoveryBoundMs} ms: ${await describe(dir, password)}`,
      );
    await sampler.stop();
    report.samples = sampler.samples;
    for (const overlap of sampler.overlaps) violate(`two writable primaries: ${overlap}`);
    const final = await store.getCluster(state.cluster);
    if (final && final.term !== termBeforeRead)
      note(
        `the primary changed after the last heal, with no fault applied (term ${termBeforeRead ?? '?'} -> ${final.term}); see the agents' logs`,
      );
    report.promotions = Math.max(0, (final?.term ?? 1) - 1);
    const primary = final?.primaryNodeId ? node(state, final.primaryNodeId) : undefined;
    const rows = primary
      ? await superuserQuery<{ id: string }>(sqlTarget(primary), password, `SELECT id FROM ${TABLE}`).catch(
          (error: unknown) => {
            violate(`the final primary ${primary.name} could not be read: ${String(error)}`);
            return [];
          },
        )
      : [];
    const present = new Set(rows.map((row) => Number(row.id)));
    const acked = writers.flatMap((writer) => writer.acked.map((ack) => ack.id));
    const missing = acked.filter((id) => !present.has(id));
    report.acknowledged = acked.length;
    report.missing = missing.length;
    note(
      `${acked.length} rows acknowledged, ${missing.length} missing on the final primary ${primary?.name ?? '(none)'}; ${report.promotions} promotions; ${sampler.samples} samples of who accepts writes`,
    );
    if (options.synchronous && missing.length > 0)
      violate(
        `with a synchronous standby, ${missing.length} acknowledged rows are missing (ids ${missing.slice(0, 10).join(', ')})`,
      );
  } catch (error) {
    violate(`the nemesis itself failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    await sampler?.stop();
    for (const writer of writers) await writer.stop().catch(() => undefined);
    await localDown(dir);
    // Kept when something broke: the logs of every process are the evidence.
    if (!options.dir && violations.length === 0) rmSync(parent, { recursive: true, force: true });
    else if (violations.length > 0) note(`logs kept in ${dir}`);
  }
  if (violations.length > 0) {
    say('');
    say(`${violations.length} violation(s) with seed ${options.seed}; the whole timeline:`);
    for (const line of timeline) say(`  ${line}`);
  }
  return report;
}

/** Applies one fault, holds it, heals it (resume, restart, heal the network, set the clock back). */
async function applyFault(
  dir: string,
  lab: LabFaultTarget,
  planned: PlannedFault,
  before: ClusterRecord,
  note: (line: string) => void,
  password: string,
): Promise<{ target: string }> {
  const state = readLocalState(dir);
  const primary = node(state, before.primaryNodeId as string);
  const standbys = state.nodes.filter((n) => n.dataDir && n.name !== primary.name);
  const standby = standbys[Math.floor(planned.pick * standbys.length)] ?? primary;
  const fault = FAULT_ARMS[planned.fault]({ dir, lab, state, primary, standby, planned, password, note });
  note(`fault ${planned.fault} on ${fault.target}, held ${planned.holdMs} ms`);
  await fault.start();
  try {
    await sleep(planned.holdMs);
  } finally {
    await fault.stop();
    note(`healed ${planned.fault} on ${fault.target}`);
  }
  return { target: fault.target };
}

/**
 * Waits until the cluster is whole: phase steady, exactly one writable server and it is the recorded
 * primary, the address on it, every other database streaming from it. Brings back what a failover
 * left stopped (rejoin) and agents that died, as an operator would. Returns how long it took, or null.
 */
async function awaitRecovery(
  dir: string,
  password: string,
  boundMs: number,
  note: (line: string) => void,
): Promise<number | null> {
  const started = Date.now();
  const rejoined = new Set<string>();
  while (Date.now() - started < boundMs) {
    const state = readLocalState(dir);
    for (const n of state.nodes) if (n.agentPid && !isAlive(n.agentPid)) restartAgent(dir, n.name);
    const record = await connectLocalStore(state)
      .getCluster(state.cluster)
      .catch(() => undefined);
    if (record?.phase === 'steady' && record.primaryNodeId) {
      const primary = node(state, record.primaryNodeId);
      for (const n of state.nodes) {
        if (!n.dataDir || n.name === primary.name || rejoined.has(n.name)) continue;
        const running = postmasterPid(n.dataDir);
        if (running !== undefined && isAlive(running)) continue;
        const how = await rejoinNodeSaying(dir, n.name, primary.name);
        if (!how.startsWith('failed')) rejoined.add(n.name);
        note(`${n.name} rejoined as a standby of ${primary.name} (${how})`);
      }
      if (await whole(state, record, password)) {
        note(`whole again after ${Date.now() - started} ms: ${primary.name} primary in term ${record.term}`);
        return Date.now() - started;
      }
    }
    await sleep(250);
  }
  return null;
}

async function whole(state: LocalClusterState, record: ClusterRecord, password: string): Promise<boolean> {
  const primary = node(state, record.primaryNodeId as string);
  if (record.address.holderNodeId !== primary.name) return false;
  const databases = state.nodes.filter((n) => n.dataDir);
  const writable: string[] = [];
  for (const n of databases) {
    const rows = await superuserQuery<{ recovery: boolean }>(
      sqlTarget(n),
      password,
      'SELECT pg_is_in_recovery() AS recovery',
    ).catch(() => []);
    if (rows[0] && !rows[0].recovery) writable.push(n.name);
  }
  if (writable.length !== 1 || writable[0] !== primary.name) return false;
  const streaming = (
    await superuserQuery<{ name: string }>(
      sqlTarget(primary),
      password,
      "SELECT application_name AS name FROM pg_stat_replication WHERE state = 'streaming'",
    ).catch(() => [])
  ).map((row) => row.name);
  return databases.every((n) => n.name === primary.name || streaming.includes(n.name));
}

async function describe(dir: string, password: string): Promise<string> {
  const state = readLocalState(dir);
  const record = await connectLocalStore(state)
    .getCluster(state.cluster)
    .catch(() => undefined);
  const servers: string[] = [];
  const primary = state.nodes.find((n) => n.name === record?.primaryNodeId);
  const streaming = primary
    ? (
        await superuserQuery<{ name: string }>(
          sqlTarget(primary),
          password,
          "SELECT application_name AS name FROM pg_stat_replication WHERE state = 'streaming'",
        ).catch(() => [])
      ).map((row) => row.name)
    : [];
  const evidence: string[] = [];
  for (const n of state.nodes.filter((candidate) => candidate.dataDir)) {
    const rows = await superuserQuery<{ recovery: boolean }>(
      sqlTarget(n),
      password,
      'SELECT pg_is_in_recovery() AS recovery',
    ).catch(() => []);
    const status = rows[0] ? (rows[0].recovery ? 'standby' : 'WRITABLE') : 'down';
    const follows = n.name !== primary?.name && status === 'standby';
    servers.push(`${n.name} ${status}${follows && !streaming.includes(n.name) ? ' (NOT streaming)' : ''}`);
    // What a standby that does not stream says about it, and what its agent last decided: the evidence.
    if (n.name !== primary?.name && !streaming.includes(n.name) && n.dataDir) {
      evidence.push(`${n.name} postgres.log${logTail(join(dirname(n.dataDir), 'postgres.log'), 8)}`);
      evidence.push(`${n.name} agent${logTail(n.agentLog, 8)}`);
    }
  }
  return `term ${record?.term ?? '?'} phase ${record?.phase ?? '?'} primary ${record?.primaryNodeId ?? 'none'} address on ${record?.address.holderNodeId ?? 'none'}; ${servers.join(', ')}${evidence.length > 0 ? `\n${evidence.join('\n')}` : ''}`;
}

/** "10m", "90s", "1500ms" or a number of milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match?.[1]) throw new Error(`a duration such as 10m, 90s or 1500ms; got "${text}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 'ms'] ?? 1;
  return Math.round(Number(match[1]) * unit);
}
