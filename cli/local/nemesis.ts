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
import { killServer, postmasterPid } from '../../agent/server-control.ts';
import type { ClusterRecord } from '../../core/records.ts';
import { clusterWriter, type ClusterWriter } from './cluster-writer.ts';
import { superuserPassword } from './drill.ts';
import { systemClock } from '../../core/clock.ts';
import { requestSwitchover } from '../../core/role-change-request.ts';
import { ConnectionStorm } from './connection-storm.ts';
import {
  cut,
  delay,
  faultTarget,
  heal,
  killAndRestartAgent,
  killNode,
  loss,
  stepClock,
  type LabFaultTarget,
} from './lab-faults.ts';
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
import { isAlive, logTail, pauseProcess, resumeProcess, waitFor } from './processes.ts';
import { superuserQuery } from './superuser-sql.ts';
import { WritableSampler } from './writable-sampler.ts';

/** Every kind of fault the nemesis draws from; `blip` kinds are shorter than the timeouts. */
export const NEMESIS_FAULTS = [
  'partition-primary',
  'isolate-primary',
  'cut-primary-from-store',
  'one-way-primary-out',
  'one-way-primary-in',
  'lossy-primary',
  'blip-primary',
  'pause-primary-agent-briefly',
  'pause-primary-agent',
  'pause-primary-postmaster-briefly',
  'pause-standby-agent',
  'pause-evaluator',
  'pause-store',
  'kill-primary-agent',
  'kill-standby-agent',
  'kill-primary-db',
  'clock-step-primary',
  'delay-primary-clients',
  // One step beyond the silent faults: a database its agent cannot check, an agent restarted mid-partition,
  // a switchover interrupted on either side, a double fault.
  'storm-primary',
  'storm-partition-primary',
  'restart-primary-agent-partitioned',
  'switchover-cut-primary',
  'switchover-kill-target',
  'double-fault',
] as const;
export type NemesisFault = (typeof NEMESIS_FAULTS)[number];

/** Faults shorter than every timeout: held under a second and a quarter. */
const BLIPS: ReadonlySet<NemesisFault> = new Set([
  'blip-primary',
  'pause-primary-agent-briefly',
  'pause-primary-postmaster-briefly',
  'pause-standby-agent',
  'pause-evaluator',
  'kill-standby-agent',
]);
/**
 * The term must not change because of these: blips, slow clients (the cluster's own links are fine), and a
 * full primary (busy, not dead).
 */
const NO_PROMOTION: ReadonlySet<NemesisFault> = new Set([...BLIPS, 'delay-primary-clients', 'storm-primary']);

export interface NemesisOptions {
  seed: number;
  durationMs: number;
  /** Synchronous replication (ANY 1): then no acknowledged row may be lost. */
  synchronous: boolean;
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

/** mulberry32: a small seeded generator, so that a seed reproduces a schedule. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface PlannedFault {
  fault: NemesisFault;
  /** How long the fault is held before it is healed. */
  holdMs: number;
  /** Chooses among standbys when the fault targets one. */
  pick: number;
}

/** The schedule a seed means: the same seed, the same faults, in the same order, held as long. */
export function planSchedule(seed: number, count: number): PlannedFault[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const fault = NEMESIS_FAULTS[Math.floor(random() * NEMESIS_FAULTS.length)] as NemesisFault;
    // Blips stay well under the shortest timeout; the rest outlast the node timeout and the lease.
    const holdMs = BLIPS.has(fault) ? 500 + Math.floor(random() * 700) : 7000 + Math.floor(random() * 5000);
    return { fault, holdMs, pick: random() };
  });
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
  await localUp({ dir, standbys: 2, witness: true, synchronous: options.synchronous, network: 'lab' });
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
      if (NO_PROMOTION.has(planned.fault) && termAfterHeal !== before.term) {
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

function node(state: LocalClusterState, name: string): LocalClusterState['nodes'][number] {
  const found = state.nodes.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no node ${name}`);
  return found;
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
  const hold = () => sleep(planned.holdMs);
  const pid = (value: number | null, what: string): number => {
    if (!value || !isAlive(value)) throw new Error(`${what} is not running`);
    return value;
  };
  const held = async (
    target: string,
    start: () => Promise<void> | void,
    stop: () => Promise<void> | void,
  ): Promise<{ target: string }> => {
    note(`fault ${planned.fault} on ${target}, held ${planned.holdMs} ms`);
    await start();
    try {
      await hold();
    } finally {
      await stop();
      note(`healed ${planned.fault} on ${target}`);
    }
    return { target };
  };
  switch (planned.fault) {
    case 'partition-primary':
      return held(
        primary.name,
        async () => {
          await cut(lab, primary.name, 'store');
          await cut(lab, primary.name, 'peers');
        },
        () => heal(lab, primary.name),
      );
    case 'isolate-primary':
    case 'blip-primary':
      return held(
        primary.name,
        () => cut(lab, primary.name, 'all'),
        () => heal(lab, primary.name),
      );
    case 'cut-primary-from-store':
      return held(
        primary.name,
        () => cut(lab, primary.name, 'store'),
        () => heal(lab, primary.name),
      );
    case 'one-way-primary-out':
      return held(
        primary.name,
        () => cut(lab, primary.name, 'all', 'out'),
        () => heal(lab, primary.name),
      );
    case 'one-way-primary-in':
      return held(
        primary.name,
        () => cut(lab, primary.name, 'all', 'in'),
        () => heal(lab, primary.name),
      );
    case 'lossy-primary':
      return held(
        primary.name,
        () => loss(lab, primary.name, 0.3),
        () => heal(lab, primary.name),
      );
    case 'pause-primary-agent':
    case 'pause-primary-agent-briefly': {
      const agent = pid(primary.agentPid, `the agent of ${primary.name}`);
      return held(
        `${primary.name} agent`,
        () => pauseProcess(agent),
        () => resumeProcess(agent),
      );
    }
    case 'pause-primary-postmaster-briefly': {
      const postmaster = pid(
        primary.dataDir ? (postmasterPid(primary.dataDir) ?? null) : null,
        `the postmaster of ${primary.name}`,
      );
      return held(
        `${primary.name} postmaster`,
        () => pauseProcess(postmaster),
        () => resumeProcess(postmaster),
      );
    }
    case 'pause-standby-agent': {
      const agent = pid(standby.agentPid, `the agent of ${standby.name}`);
      return held(
        `${standby.name} agent`,
        () => pauseProcess(agent),
        () => resumeProcess(agent),
      );
    }
    case 'pause-evaluator': {
      const controller = pid(state.controllerPid, 'the evaluator');
      return held(
        'evaluator',
        () => pauseProcess(controller),
        () => resumeProcess(controller),
      );
    }
    case 'pause-store': {
      const storePid = pid(state.storePid, 'the store');
      return held(
        'store',
        () => pauseProcess(storePid),
        () => resumeProcess(storePid),
      );
    }
    case 'kill-primary-agent':
      return held(
        `${primary.name} agent`,
        () => {
          process.kill(pid(primary.agentPid, `the agent of ${primary.name}`), 'SIGKILL');
        },
        () => void restartAgent(dir, primary.name),
      );
    case 'kill-standby-agent':
      return held(
        `${standby.name} agent`,
        () => {
          process.kill(pid(standby.agentPid, `the agent of ${standby.name}`), 'SIGKILL');
        },
        () => void restartAgent(dir, standby.name),
      );
    case 'kill-primary-db':
      return held(
        `${primary.name} database`,
        () => void killServer(primary.dataDir as string),
        () => undefined,
      );
    case 'delay-primary-clients':
      return held(
        primary.name,
        () => delay(lab, state, primary.name, 'clients', 300).then(() => undefined),
        () => heal(lab, primary.name),
      );
    case 'storm-primary':
    case 'storm-partition-primary': {
      const storm = new ConnectionStorm(sqlTarget(primary), password, planned.holdMs + 60_000);
      const partition = planned.fault === 'storm-partition-primary';
      return held(
        primary.name,
        async () => {
          await storm.start();
          if (!partition) return;
          // Cut once the agent's logins are refused, so that its fence has to act on an UNKNOWN server.
          await waitFor('the storm to fill the server', () => (storm.full ? true : undefined), 10_000, 20).catch(() =>
            note(`the storm did not fill ${primary.name} within 10 s; cutting it off anyway`),
          );
          await cut(lab, primary.name, 'store');
          await cut(lab, primary.name, 'peers');
        },
        async () => {
          await storm.stop();
          if (partition) await heal(lab, primary.name);
        },
      );
    }
    case 'restart-primary-agent-partitioned':
      return held(
        `${primary.name} agent`,
        async () => {
          await cut(lab, primary.name, 'store');
          await cut(lab, primary.name, 'peers');
          // As systemd's Restart= would, half a second later.
          await killAndRestartAgent(dir, primary, 500);
        },
        () => heal(lab, primary.name),
      );
    case 'switchover-cut-primary':
    case 'switchover-kill-target': {
      const store = connectLocalStore(state);
      const killTarget = planned.fault === 'switchover-kill-target';
      return held(
        killTarget
          ? `${primary.name} -> ${standby.name} (target killed)`
          : `${primary.name} -> ${standby.name} (primary cut)`,
        async () => {
          // A node rejoined a moment ago may still be reported down: ask until the switchover is accepted. One
          // never accepted is no switchover to interrupt, and nothing is broken (killing a node mid-rejoin is
          // another fault).
          const asked = await waitFor(
            `a switchover to ${standby.name} to be accepted`,
            () =>
              requestSwitchover(store, state.cluster, standby.name, 'nemesis', systemClock).then(
                () => true,
                () => undefined,
              ),
            15_000,
            500,
          ).catch(() => false);
          if (!asked) {
            note(`switchover to ${standby.name} was not accepted within 15 s; nothing interrupted`);
            return;
          }
          await sleep(200);
          if (killTarget) await killNode(lab, standby);
          else {
            await cut(lab, primary.name, 'store');
            await cut(lab, primary.name, 'peers');
          }
        },
        // Healed: the network back, a killed node's agent restarted (its server is rejoined by the recovery).
        async () => {
          await heal(lab, killTarget ? standby.name : primary.name);
          if (killTarget) restartAgent(dir, standby.name);
        },
      );
    }
    case 'double-fault': {
      // The primary's node dies, then the standby it would fail over to: before the decision, or right after it
      // (the chosen candidate, mid-promotion), as `pick` says.
      const afterDecision = planned.pick >= 0.5;
      const store = connectLocalStore(state);
      const killed: string[] = [];
      return held(
        `${primary.name}, then a standby ${afterDecision ? 'after' : 'before'} the decision`,
        async () => {
          await killNode(lab, primary);
          killed.push(primary.name);
          let second = standby;
          if (afterDecision) {
            const promoting = await waitFor(
              'a candidate chosen',
              async () => {
                const now = await store.getCluster(state.cluster).catch(() => undefined);
                return now?.phase === 'promoting' ? now : undefined;
              },
              30_000,
              10,
            ).catch(() => undefined);
            second = node(state, promoting?.failover?.toNodeId ?? standby.name);
          }
          await killNode(lab, second);
          killed.push(second.name);
          note(`killed ${killed.join(' and ')}`);
        },
        async () => {
          for (const name of killed) {
            await heal(lab, name);
            restartAgent(dir, name);
          }
        },
      );
    }
    case 'clock-step-primary':
      return held(
        primary.name,
        async () => {
          await stepClock(primary, '-30s');
          await cut(lab, primary.name, 'all');
        },
        async () => {
          await heal(lab, primary.name);
          await stepClock(primary, '+0');
        },
      );
  }
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
