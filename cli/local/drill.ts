// `pgfailover local drill`: inject a real fault into a running local cluster while a writer commits
// numbered rows through the cluster address, follow what the evaluator and agents do from the cluster's
// history, then report the timeline and how many acknowledged rows are missing afterwards.

import { leaseWindowMs } from '../../core/lease-timing.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HistoryRecord } from '../../core/records.ts';
import { untilHandover } from './handover-wait.ts';
import { UsageError } from '../../core/errors.ts';
import { postmasterPid, stopServer } from './postgres-server.ts';
import { serverProcesses, signalAll } from '../../agent/server-control.ts';
import {
  connectLocalStore,
  readLocalState,
  sqlTarget,
  type LocalClusterState,
  type LocalNode,
} from './local-cluster.ts';
import { clusterWriter } from './cluster-writer.ts';
import { cut, delay, faultTarget, heal, loss, stepClock } from './lab-faults.ts';
import { isAlive, pauseProcess, resumeProcess } from './processes.ts';
import { superuserQuery } from './superuser-sql.ts';
import { systemClock } from '../../core/clock.ts';
import { requestSwitchover } from '../../core/role-change-request.ts';

export const FAULTS = [
  'kill-primary-db',
  'kill-primary-node',
  'kill-primary-agent',
  'stop-primary-agent',
  'stop-standby',
  'stall-primary',
  'isolate-primary',
  'switchover',
  // The network lab's silent faults.
  'cut-primary-from-store',
  'one-way-isolate-primary',
  'clock-step-isolate-primary',
  'cut-primary-from-clients',
  'blip-primary',
  'lossy-primary',
  'pause-evaluator',
  'pause-store',
  'delay-primary-clients',
] as const;
/** Faults that need the network lab (root on Linux). */
const LAB_FAULTS: ReadonlySet<Fault> = new Set([
  'cut-primary-from-store',
  'one-way-isolate-primary',
  'clock-step-isolate-primary',
  'cut-primary-from-clients',
  'blip-primary',
  'lossy-primary',
  'delay-primary-clients',
]);
export type Fault = (typeof FAULTS)[number];

export interface DrillOptions {
  dir: string;
  fault: Fault;
  /** stall-primary: how long the primary node is frozen; blip-primary: how long its network is silent. */
  stallMs?: number;
  /** Give up waiting for the outcome after this long. */
  timeoutMs?: number;
  /**
   * Inject the fault the moment a new evaluator invocation starts (local up --evaluator-invocations): the
   * newcomer has seen no lease renew yet, and its predecessor is about to stand down.
   */
  atHandover?: boolean;
  onStep?: (line: string) => void;
}

export interface DrillReport {
  fault: Fault;
  target: string;
  primaryBefore: string;
  primaryAfter: string | null;
  termBefore: number;
  termAfter: number;
  failedOver: boolean;
  /** Milliseconds after the fault; null when it did not happen. */
  timeline: {
    detectedMs: number | null;
    decidedMs: number | null;
    promotedMs: number | null;
    addressMovedMs: number | null;
    firstWriteMs: number | null;
    completedMs: number | null;
  };
  /** The longest gap between two acknowledged writes around the fault: what a client saw. */
  /** The longest time without an acknowledged write between the fault and the end of the drill. */
  writeUnavailableMs: number;
  /** missing is null when no primary could be read to check. */
  writes: { acknowledged: number; missing: number | null; missingIds: number[] };
  /** The outcome the fault should lead to (a completed failover, or none) came before the timeout. */
  outcomeReached: boolean;
  steps: string[];
}

export function superuserPassword(dir: string): string {
  return readFileSync(join(dir, 'secrets', 'superuser.password'), 'utf8').trim();
}

export async function runDrill(options: DrillOptions): Promise<DrillReport> {
  const state = readLocalState(options.dir);
  const store = connectLocalStore(state);
  const password = superuserPassword(options.dir);
  const steps: string[] = [];
  const say = (line: string) => {
    steps.push(line);
    options.onStep?.(line);
  };
  const before = await store.getCluster(state.cluster);
  if (!before?.primaryNodeId || before.phase !== 'steady')
    throw new UsageError(
      `the local cluster has no steady primary to drill on (phase ${before?.phase ?? 'unknown'}); see pgfailover local status --dir ${options.dir}`,
    );
  const primary = nodeNamed(state, before.primaryNodeId);
  if (LAB_FAULTS.has(options.fault) && !state.lab)
    throw new UsageError(
      `--fault ${options.fault} needs the network lab (local up as root on Linux, without --network loopback)`,
    );
  const policy = before.policy;
  const heartbeats = (await store.readSnapshot(state.cluster)).heartbeats;
  const nodeTimeoutMs = Math.max(...heartbeats.map((beat) => beat.timeouts.nodeTimeoutMs), 5000);

  await superuserQuery(
    sqlTarget(primary),
    password,
    'CREATE TABLE IF NOT EXISTS pgfailover_drill (id bigint PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())',
  );
  await superuserQuery(sqlTarget(primary), password, 'TRUNCATE pgfailover_drill');
  const writer = clusterWriter(state, options.dir, 'pgfailover_drill', password);
  writer.start();
  await waitUntil(() => writer.acked.length >= 20, 15_000, 'the writer to commit through the cluster address');

  const target =
    options.fault === 'stop-standby'
      ? lastStandby(state, primary)
      : options.fault === 'switchover'
        ? firstStandby(state, primary)
        : primary;
  if (options.atHandover) await untilHandover(store, state.evaluatorInvocationMs, say);
  const faultAtMs = Date.now();
  say(`+0 ms  fault: ${options.fault} on ${target.name}`);
  await inject(options, state, target);

  const seen = new Set<string>();
  let history: HistoryRecord[] = [];
  const quietMs = nodeTimeoutMs + leaseWindowMs(policy) + 2000;
  const timeoutMs = options.timeoutMs ?? 60_000;
  // A role change is over for the writer once a write went through to the new primary: the evaluator may
  // call it completed before that (the address moves with the grant, the others repoint in milliseconds).
  const wroteToNewPrimary = (): boolean => {
    const promotedAt = history.find((entry) => entry.event === 'candidate-promoted' && entry.kind === 'decision')?.atMs;
    return promotedAt !== undefined && writer.acked.some((ack) => ack.atMs > promotedAt);
  };
  const expected = (): boolean => {
    const events = history.map((entry) => entry.event);
    const sinceFault = Date.now() - faultAtMs;
    switch (options.fault) {
      case 'switchover':
        return (
          (events.includes('switchover-completed') && wroteToNewPrimary()) ||
          events.includes('switchover-failed') ||
          events.includes('switchover-refused')
        );
      case 'kill-primary-db':
      case 'kill-primary-node':
      case 'isolate-primary':
      case 'cut-primary-from-store':
      case 'one-way-isolate-primary':
      case 'clock-step-isolate-primary':
      case 'pause-store': {
        // Ended without a new primary: aborted, or a person must decide (automatic failover off, no candidate).
        if (['failover-aborted', 'manual-failover-required', 'no-candidate'].some((event) => events.includes(event)))
          return true;
        // Done once the failover completed and a write went through to the new primary.
        return events.includes('failover-completed') && wroteToNewPrimary();
      }
      case 'stop-primary-agent':
        return events.includes('primary-agent-left') && sinceFault > quietMs;
      case 'kill-primary-agent':
        // With watchdog fencing the crashed agent's watchdog stops the database and a failover follows.
        if (events.includes('failover-completed') && writer.acked.some((ack) => ack.atMs > faultAtMs)) return true;
        return events.includes('primary-agent-left') && sinceFault > quietMs;
      case 'stop-standby':
        return events.includes('standby-db-down');
      case 'stall-primary':
      case 'cut-primary-from-clients':
      case 'blip-primary':
      case 'lossy-primary':
      case 'pause-evaluator':
      case 'delay-primary-clients':
        return sinceFault > (options.stallMs ?? 2000) + quietMs;
    }
  };
  const deadline = faultAtMs + timeoutMs;
  while (Date.now() < deadline) {
    history = (await store.readHistory(state.cluster, 200)).entries.filter((entry) => entry.atMs >= faultAtMs);
    for (const entry of history) {
      if (seen.has(entry.sk)) continue;
      seen.add(entry.sk);
      say(
        // A notice's subject starts with its severity already.
        `+${entry.atMs - faultAtMs} ms  ${entry.kind === 'decision' ? `decision  ${entry.event}: ${entry.subject}` : entry.subject}`,
      );
    }
    if (expected()) break;
    await sleep(100);
  }
  const outcomeReached = expected();
  if (!outcomeReached) say(`+${Date.now() - faultAtMs} ms  the expected outcome did not come within ${timeoutMs} ms`);
  const endedAtMs = Date.now();
  await writer.stop();

  const after = await store.getCluster(state.cluster);
  const at = (event: string, kind?: HistoryRecord['kind']) => {
    const entry = history.find((candidate) => candidate.event === event && (!kind || candidate.kind === kind));
    return entry ? entry.atMs - faultAtMs : null;
  };
  // After a failover, the first write that the new primary accepted through the moved address.
  const movedAtMs = after?.failover && after.term > before.term ? after.failover.addressMovedAtMs : null;
  // With no failover, when writes came back: the end of the longest gap (the first write after the fault
  // may be one that was already in flight).
  const ackTimes = writer.acked.map((ack) => ack.atMs);
  const firstWriteAtMs =
    movedAtMs !== null ? writer.acked.find((ack) => ack.atMs > movedAtMs)?.atMs : longestGapEnd(ackTimes, faultAtMs);
  // Read back from whichever node is the primary now (the lab's address is not reachable from here).
  const reader = after?.primaryNodeId ? state.nodes.find((node) => node.name === after.primaryNodeId) : undefined;
  // When the primary cannot be read (it is down and nobody replaced it), whether rows are missing is unknown.
  const rows = reader
    ? await superuserQuery<{ id: string }>(sqlTarget(reader), password, 'SELECT id FROM pgfailover_drill').catch(
        () => undefined,
      )
    : undefined;
  const present = rows ? new Set(rows.map((row) => Number(row.id))) : undefined;
  const missingIds = present ? writer.acked.map((ack) => ack.id).filter((id) => !present.has(id)) : [];
  const report: DrillReport = {
    fault: options.fault,
    target: target.name,
    primaryBefore: primary.name,
    primaryAfter: after?.primaryNodeId ?? null,
    termBefore: before.term,
    termAfter: after?.term ?? before.term,
    failedOver: (after?.term ?? before.term) > before.term && after?.primaryNodeId !== primary.name,
    timeline: {
      detectedMs: history[0] ? history[0].atMs - faultAtMs : null,
      decidedMs: at('failover', 'decision') ?? at('switchover-caught-up', 'decision'),
      promotedMs: at('candidate-promoted', 'decision'),
      addressMovedMs:
        after?.failover && after.failover.addressMovedAtMs !== null && after.term > before.term
          ? after.failover.addressMovedAtMs - faultAtMs
          : null,
      firstWriteMs: firstWriteAtMs !== undefined ? firstWriteAtMs - faultAtMs : null,
      completedMs: at('failover-completed', 'decision'),
    },
    writeUnavailableMs: longestGap(ackTimes, faultAtMs, endedAtMs),
    writes: {
      acknowledged: writer.acked.length,
      missing: present ? missingIds.length : null,
      missingIds: missingIds.slice(0, 20),
    },
    outcomeReached,
    steps,
  };
  say(
    `done: ${report.failedOver ? `failed over ${report.primaryBefore} -> ${report.primaryAfter} (term ${report.termBefore} -> ${report.termAfter})` : `no failover (primary ${report.primaryAfter ?? '?'}, term ${report.termAfter})`}; ` +
      `writes unavailable ${report.writeUnavailableMs} ms; ${report.writes.acknowledged} acknowledged, ${report.writes.missing ?? 'unknown (no primary to read them from)'} missing`,
  );
  return report;
}

async function inject(options: DrillOptions, state: LocalClusterState, target: LocalNode): Promise<void> {
  const server = target.dataDir ? postmasterPid(target.dataDir) : undefined;
  const processes = server && isAlive(server) ? serverProcesses(server) : [];
  const agent = target.agentPid && isAlive(target.agentPid) ? [target.agentPid] : [];
  switch (options.fault) {
    case 'kill-primary-db':
      signalAll(processes, 'SIGKILL');
      return;
    case 'kill-primary-node':
      // A dead host answers nothing: in the lab its packets vanish first, so that the kernel that outlives
      // the killed processes here sends no FIN or RST a real crash would not (peers would learn at once).
      if (state.lab) await cut(faultTarget(state), target.name, 'all');
      signalAll([...agent, ...processes], 'SIGKILL');
      return;
    case 'kill-primary-agent':
      signalAll(agent, 'SIGKILL');
      return;
    case 'stop-primary-agent':
      // A deliberate stop (systemctl stop): the agent stands its watchdog down and says it exited.
      signalAll(agent, 'SIGTERM');
      return;
    case 'stop-standby':
      if (target.dataDir) await stopServer(target.dataDir, 'fast');
      return;
    case 'stall-primary': {
      const frozen = [...agent, ...processes];
      signalAll(frozen, 'SIGSTOP');
      await sleep(options.stallMs ?? 2000);
      signalAll(frozen, 'SIGCONT');
      return;
    }
    case 'isolate-primary':
      if (state.lab) {
        // Silent: the primary's packets to and from the store and its peers are dropped; its clients
        // (on its side of the cut) still reach it until it stops itself.
        const lab = faultTarget(state);
        await cut(lab, target.name, 'store');
        await cut(lab, target.name, 'peers');
      } else {
        writeFileSync(state.linksFile, `${JSON.stringify({ isolated: [target.name] })}\n`);
      }
      return;
    case 'switchover':
      await requestSwitchover(connectLocalStore(state), state.cluster, target.name, 'drill', systemClock);
      return;
    case 'cut-primary-from-store':
      await cut(faultTarget(state), target.name, 'store');
      return;
    case 'one-way-isolate-primary':
      // Its packets still leave; nothing comes back: renewals sent, never acknowledged.
      await cut(faultTarget(state), target.name, 'all', 'in');
      return;
    case 'clock-step-isolate-primary':
      await stepClock(target, '-30s');
      await cut(faultTarget(state), target.name, 'store');
      await cut(faultTarget(state), target.name, 'peers');
      return;
    case 'cut-primary-from-clients':
    case 'blip-primary':
    case 'lossy-primary':
    case 'delay-primary-clients': {
      const lab = faultTarget(state);
      if (options.fault === 'lossy-primary') await loss(lab, target.name, 0.3);
      // A silent network blip: every packet to and from the primary is dropped, then all is well again.
      else if (options.fault === 'blip-primary') await cut(lab, target.name, 'all');
      else if (options.fault === 'delay-primary-clients') await delay(lab, state, target.name, 'clients', 300);
      else await cut(lab, target.name, 'clients');
      await sleep(options.stallMs ?? 2000);
      await heal(lab, target.name);
      return;
    }
    case 'pause-evaluator':
    case 'pause-store': {
      const pid = options.fault === 'pause-evaluator' ? state.controllerPid : state.storePid;
      if (!pid || !isAlive(pid))
        throw new Error(`the ${options.fault === 'pause-evaluator' ? 'evaluator' : 'store'} is not running`);
      pauseProcess(pid);
      await sleep(options.stallMs ?? 2000);
      resumeProcess(pid);
      return;
    }
  }
}

function nodeNamed(state: LocalClusterState, name: string): LocalNode {
  const node = state.nodes.find((candidate) => candidate.name === name);
  if (!node) throw new Error(`node ${name} is not part of the local cluster`);
  return node;
}

function firstStandby(state: LocalClusterState, primary: LocalNode): LocalNode {
  const standby = state.nodes.find((node) => node.dataDir && node.name !== primary.name);
  if (!standby) throw new UsageError('a switchover needs a standby; start the cluster with --standbys 1 or more');
  return standby;
}

function lastStandby(state: LocalClusterState, primary: LocalNode): LocalNode {
  const standby = state.nodes.filter((node) => node.dataDir && node.name !== primary.name).at(-1);
  if (!standby) throw new UsageError('stop-standby needs a standby; start the cluster with --standbys 1 or more');
  return standby;
}

/** The longest time without an acknowledged write from the fault to the end of the drill (a gap still open at the end counts). */
export function longestGap(ackTimes: number[], faultAtMs: number, endedAtMs: number): number {
  let longest = 0;
  let previous = ackTimes.filter((time) => time <= faultAtMs).at(-1) ?? faultAtMs;
  for (const time of ackTimes.filter((candidate) => candidate > faultAtMs)) {
    longest = Math.max(longest, time - previous);
    previous = time;
  }
  return Math.max(longest, endedAtMs - previous);
}

/** The acknowledgement that ended the longest gap after the fault, or undefined if none came after it. */
export function longestGapEnd(ackTimes: number[], faultAtMs: number): number | undefined {
  let longest = -1;
  let end: number | undefined;
  let previous = ackTimes.filter((time) => time <= faultAtMs).at(-1) ?? faultAtMs;
  for (const time of ackTimes.filter((candidate) => candidate > faultAtMs)) {
    if (time - previous > longest) {
      longest = time - previous;
      end = time;
    }
    previous = time;
  }
  return end;
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
