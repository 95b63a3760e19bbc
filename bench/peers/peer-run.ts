// The benchmark's runs against another failover manager in the peer lab: the same cases, writer and
// faults as pgfailover's (bench/run.ts), measured from the client's side only (those systems keep no
// history we could read the same way): writes unavailable and acknowledged rows lost.

import { setTimeout as sleep } from 'node:timers/promises';
import { longestGap } from '../../cli/local/drill.ts';
import { waitFor } from '../../cli/local/processes.ts';
import type { Case, RunResult } from '../run.ts';
import { withTeardown } from '../teardown.ts';
import {
  createPeerLab,
  destroyPeerLab,
  healAll,
  killDatabase,
  killNode,
  MEMBERS,
  partition,
  writerFor,
  type PeerLab,
} from './peer-lab.ts';

export interface PeerSystem {
  name: string;
  /** The settings measured, for the report. */
  settings: string;
  dataDir(member: string): string;
  start(): Promise<void>;
  /** The member that accepts writes now, as the system itself reports it. */
  primary(): Promise<string | null>;
  /** Why the cluster is not ready for the next fault, or undefined. */
  healthy(): Promise<string | undefined>;
  /** Brings members whose processes the fault killed back. */
  recover(killed: string[]): Promise<void>;
  switchover(from: string, to: string): Promise<void>;
  query(member: string, sql: string): Promise<Record<string, unknown>[]>;
}

export interface PeerRunOptions {
  runs: number;
  cases: readonly Case[];
  synchronous: boolean;
  progress: (line: string) => void;
}

const TABLE = 'bench_writes';

export async function runPeer(
  make: (lab: PeerLab, synchronous: boolean) => PeerSystem,
  options: PeerRunOptions,
): Promise<{ name: string; settings: string; runs: RunResult[] }> {
  const lab = await createPeerLab();
  const system = make(lab, options.synchronous);
  const mode = options.synchronous ? 'sync' : 'async';
  const say = (line: string) => options.progress(`[${system.name}, ${mode}] ${line}`);
  const runs: RunResult[] = [];
  return withTeardown(
    () => destroyPeerLab(lab),
    () => measurePeer(lab, system, options, mode, say, runs),
  );
}

async function measurePeer(
  lab: PeerLab,
  system: PeerSystem,
  options: PeerRunOptions,
  mode: 'sync' | 'async',
  say: (line: string) => void,
  runs: RunResult[],
): Promise<{ name: string; settings: string; runs: RunResult[] }> {
  try {
    say(`starting three members (${system.settings})`);
    await system.start();
    for (const which of options.cases) {
      for (let run = 1; run <= options.runs; run++) {
        await waitReady(system, 180_000);
        const result = await oneRun(lab, system, which, run, mode);
        runs.push(result);
        say(
          `${which} ${run}/${options.runs}: writes unavailable ${result.writeUnavailableMs} ms` +
            `${result.failedOver ? '' : ' (same primary)'}, lost rows ${result.lostRows ?? 'unknown'}`,
        );
      }
    }
    return { name: system.name, settings: system.settings, runs };
  } finally {
    say('tearing the peer lab down');
    await destroyPeerLab(lab);
  }
}

async function waitReady(system: PeerSystem, timeoutMs: number): Promise<void> {
  let problem: string | undefined = 'not asked yet';
  await waitFor(
    `${system.name} to be healthy`,
    async () => ((problem = await system.healthy()) === undefined ? true : undefined),
    timeoutMs,
    500,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)} (last: ${problem})`);
  });
}

async function oneRun(
  lab: PeerLab,
  system: PeerSystem,
  which: Case,
  run: number,
  mode: 'async' | 'sync',
): Promise<RunResult> {
  const leader = await system.primary();
  if (!leader) throw new Error(`${system.name} has no leader`);
  await system.query(leader, `CREATE TABLE IF NOT EXISTS ${TABLE} (id bigint PRIMARY KEY)`);
  await system.query(leader, `TRUNCATE ${TABLE}`);
  const writer = writerFor(lab, TABLE);
  writer.start();
  await waitFor('the writer to commit', () => (writer.acked.length >= 20 ? true : undefined), 30_000, 50);
  const phaseMs = Math.floor(Math.random() * 1000);
  await sleep(phaseMs);
  const other = MEMBERS.find((member) => member !== leader) as string;
  const faultAtMs = Date.now();
  const killed: string[] = [];
  switch (which) {
    case 'kill-primary-node':
      await killNode(lab, leader);
      killed.push(leader);
      break;
    case 'kill-primary-db':
      killDatabase(system.dataDir(leader));
      break;
    case 'partition-primary':
      await partition(lab, leader);
      break;
    case 'switchover':
      await system.switchover(leader, other);
      break;
  }
  // Done once writes flow again, and for every case but a database crash (which a manager may
  // repair in place) once another member leads.
  let newLeader: string | null = null;
  // A database crash may be repaired in place: writes flowing again is enough there.
  let movedAtMs: number | null = which === 'kill-primary-db' ? faultAtMs : null;
  await waitFor(
    'writes to flow again',
    async () => {
      if (movedAtMs === null) {
        const now = await system.primary();
        if (now !== null && now !== leader) {
          newLeader = now;
          movedAtMs = Date.now();
        }
      }
      if (movedAtMs === null) return undefined;
      const from = Math.max(faultAtMs + 1000, movedAtMs);
      return writer.acked.filter((ack) => ack.atMs > from).length >= 5 ? true : undefined;
    },
    180_000,
    100,
  ).catch(() => undefined);
  const endedAtMs = Date.now();
  await writer.stop();
  // A manager may be between states right after the fault (pg_auto_failover restarting a crashed server in
  // place): ask for its primary until it names one, boundedly, before reading the rows back.
  const finalLeader =
    (await waitFor(
      'the peer to name its primary',
      () => system.primary().then((p) => p ?? undefined),
      30_000,
      500,
    ).catch(() => null)) ?? newLeader;
  const rows = finalLeader
    ? await system.query(finalLeader, `SELECT id FROM ${TABLE}`).catch(() => undefined)
    : undefined;
  const present = rows ? new Set(rows.map((row) => Number(row.id))) : undefined;
  await healAll(lab);
  await system.recover(killed);
  return {
    system: system.name,
    mode,
    case: which,
    run,
    phaseMs,
    writeUnavailableMs: longestGap(
      writer.acked.map((ack) => ack.atMs),
      faultAtMs,
      endedAtMs,
    ),
    failedOver: finalLeader !== null && finalLeader !== leader,
    lostRows: present ? writer.acked.filter((ack) => !present.has(ack.id)).length : null,
    timeline: {
      detectedMs: null,
      decidedMs: null,
      promotedMs: null,
      addressMovedMs: null,
      firstWriteMs: null,
      completedMs: null,
    },
  };
}
