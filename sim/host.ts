// A simulated database host: the agent's ports (agent/ports/) over a simulated server, the network and the
// host's own memory (progress and lease files, which survive an agent restart but not a reboot), and a
// watchdog device that stops the server when its deadline passes unrenewed, whatever the agent is doing.

import type { NodeOps } from '../agent/ports/node-ops.ts';
import type { ProgressStore } from '../agent/ports/progress-store.ts';
import type { LeaseMemory } from '../agent/lease-file.ts';
import { NO_VOUCH_STATE, type VouchMemory, type VouchState } from '../agent/peer/vouch-file.ts';
import type { Watchdog } from '../agent/watchdog/watchdog.ts';
import type { Timers } from '../agent/ports/timers.ts';
import { SourceNotPrimaryError } from '../agent/rejoin.ts';
import type { AgentProgress } from '../core/agent-rules.ts';
import { sleepMs } from '../core/deadline.ts';
import type { Network } from './network.ts';
import type { SimPostgres, SimServer } from './postgres.ts';

/** What a host keeps on disk across agent restarts within one boot. */
export class HostDisk {
  progress: AgentProgress = { term: 0, done: [] };
  leaseEndMonoMs: number | null = null;
  /** The mutant "forgets-lease-on-restart": the lease file is never found. */
  forgetLease = false;
  /** The mutant "rejoin-once-per-term": a rejoin, once recorded, is never taken back. */
  keepRejoin = false;

  progressStore(): ProgressStore {
    return {
      load: () => structuredClone(this.progress),
      save: (progress) => {
        const kept = this.keepRejoin && this.progress.term === progress.term && this.progress.done.includes('rejoin');
        this.progress = structuredClone(
          kept && !progress.done.includes('rejoin') ? { ...progress, done: [...progress.done, 'rejoin'] } : progress,
        );
      },
    };
  }

  leaseMemory(): LeaseMemory {
    return {
      load: () => (this.forgetLease ? null : this.leaseEndMonoMs),
      save: (end) => void (this.leaseEndMonoMs = end),
    };
  }

  /** The vouch file (peer leases): kept across restarts and reboots (the simulated clock runs on). */
  vouch: VouchState = NO_VOUCH_STATE;

  vouchMemory(): VouchMemory {
    return {
      load: () => structuredClone(this.vouch),
      save: (state) => void (this.vouch = structuredClone(state)),
    };
  }

  /** A reboot: the lease file is of another boot, so it is ignored. */
  reboot(): void {
    this.leaseEndMonoMs = null;
  }
}

/** The watchdog device: armed with a deadline on the host's monotonic clock; past it, the server is stopped. */
export class SimWatchdog implements Watchdog {
  readonly describe = 'simulated watchdog device';
  private timer: unknown;

  /** The device counts on its host's monotonic clock and timers, so it drifts with them. */
  constructor(
    private readonly fire: () => void,
    private readonly monotonicMs: () => number,
    private readonly timers: Timers,
  ) {}

  async arm(deadlineMonoMs: number): Promise<void> {
    this.timers.cancel(this.timer);
    this.timer = this.timers.start(this.fire, Math.max(0, deadlineMonoMs - this.monotonicMs()));
  }

  async disarm(): Promise<void> {
    this.timers.cancel(this.timer);
    this.timer = undefined;
  }
}

export interface HostContext {
  name: string;
  process: string;
  /** None on the witness. */
  server: SimServer | null;
  postgres: SimPostgres;
  network: Network;
  /** The server answers checks only to refuse them (its connection slots full: SQLSTATE 53300). */
  refusesChecks: () => boolean;
  changed: (what: string) => void;
}

function hostOf(conninfo: string): string {
  return /host=(\S+)/.exec(conninfo)?.[1] ?? conninfo;
}

export function simNodeOps(context: HostContext): NodeOps {
  const { name, process, postgres, network, changed } = context;
  const witness = (): never => {
    throw new Error('a witness has no database');
  };
  const server = context.server ?? (new Proxy({}, { get: witness }) as SimServer);
  const gate = () => network.gate(process);
  const peer = async (address: string, timeoutMs: number) => {
    const target = postgres.byAddress(address);
    if (!target) return { kind: 'failed' as const, reason: `no server at ${address}` };
    try {
      return await network.call(name, target.name, timeoutMs, () => target, process);
    } catch {
      return { kind: 'failed' as const, reason: 'timeout expired' };
    }
  };
  const ops: NodeOps = {
    probe: async () => {
      await gate();
      if (!server.running) return { kind: 'failed', reason: 'connection refused' };
      if (context.refusesChecks()) return { kind: 'refused', reason: 'sorry, too many clients already (53300)' };
      return { kind: 'ok', facts: postgres.facts(server) };
    },
    checkPeer: async (address, timeoutMs) => {
      const target = await peer(address, timeoutMs);
      if ('kind' in target) return target;
      return target.running ? { kind: 'ok' } : { kind: 'failed', reason: 'connection refused' };
    },
    probePeer: async (address, timeoutMs) => {
      const target = await peer(address, timeoutMs);
      if ('kind' in target) return target;
      return target.running
        ? { kind: 'ok', facts: postgres.facts(target) }
        : { kind: 'failed', reason: 'connection refused' };
    },
    promote: async () => {
      await gate();
      postgres.promote(server);
      changed(`${name} promoted (timeline ${server.timeline})`);
    },
    repoint: async (conninfo) => {
      await gate();
      const upstream = postgres.byAddress(hostOf(conninfo));
      if (upstream) server.upstream = upstream.name;
    },
    fence: async (conninfo) => {
      await gate();
      server.standbySignal = true;
      const upstream = conninfo ? postgres.byAddress(hostOf(conninfo)) : undefined;
      if (upstream) server.upstream = upstream.name;
      if (server.running) {
        postgres.stop(server);
        changed(`${name} fenced by its agent`);
      }
    },
    runHook: async () => ({ ok: true, exitCode: 0, output: '', durationMs: 0, detail: 'simulated hook' }),
    conninfoFor: (address) => `host=${address} port=5432`,
    markedStandby: () => server.standbySignal,
    rejoinUnderWay: () => false,
    rejoin: async (primaryAddress) => {
      await gate();
      const source = postgres.byAddress(primaryAddress);
      if (!source?.running) throw new Error(`${primaryAddress} does not answer`);
      if (source.inRecovery) throw new SourceNotPrimaryError();
      if (server.running) throw new Error(`the server of ${name} is running; stop it first`);
      await sleepMs(200);
      postgres.rewind(server, source);
      changed(`${name} rejoined as a standby of ${source.name}`);
      return { how: 'rewound' };
    },
    demote: async (conninfo, stopped) => {
      await gate();
      const stoppedAt = postgres.stopCleanly(server);
      changed(`${name} stopped cleanly at ${stoppedAt} for a switchover`);
      await stopped(stoppedAt);
      server.standbySignal = true;
      const upstream = postgres.byAddress(hostOf(conninfo));
      postgres.startAsStandby(server, upstream?.name ?? null);
      return stoppedAt;
    },
    holdAddress: async () => gate(),
  };
  // A witness's agent checks no database of its own: without a probe it starts none of those loops.
  if (!context.server) delete ops.probe;
  return ops;
}
