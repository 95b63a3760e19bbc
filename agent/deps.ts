// What an agent is built from: its configuration and one port per side effect. agent/main.ts wires the
// real adapters; the unit tests and the simulation (sim/world.ts) wire their own.

import type { Logger } from '@aws-lambda-powertools/logger';
import type { AgentConfig } from '../core/agent-config.ts';
import type { Clock } from '../core/clock.ts';
import type { HeartbeatRecord } from '../core/records.ts';
import type { Readiness } from './readiness.ts';
import type { LeaseMemory } from './lease-file.ts';
import type { HeartbeatStore } from './ports/heartbeat-store.ts';
import type { NodeOps } from './ports/node-ops.ts';
import type { ProgressStore } from './ports/progress-store.ts';
import type { Timers } from './ports/timers.ts';
import type { Watchdog } from './watchdog/watchdog.ts';
import type { PeerChannel } from './ports/peer-channel.ts';
import type { VouchMemory } from './peer/vouch-file.ts';

/** Powertools' structured logger, or anything shaped like it. */
export type AgentLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface AgentDeps {
  config: AgentConfig;
  store: HeartbeatStore;
  /**
   * The lease renewals' own connection to the store, with a short request timeout and no retries
   * (agent/main.ts): a renewal must neither queue behind a hung heartbeat nor hang out a blip. The
   * heartbeat store serves when absent (tests).
   */
  leaseStore?: Pick<HeartbeatStore, 'renewLease'>;
  ops: NodeOps;
  clock: Clock;
  /** Every wait of the agent's loops; Node's timers when absent. */
  timers?: Timers;
  logger: AgentLogger;
  host: HeartbeatRecord['host'];
  bootId: string;
  /** The host watchdog, when configured (required by clusters with fencing "watchdog"). */
  watchdog?: Watchdog;
  /** Where the steps done per term are kept across restarts (agent/progress-file.ts); memory only if absent. */
  progressStore?: ProgressStore;
  /** Where the lease's end is kept across restarts of the agent (agent/lease-file.ts); memory only if absent. */
  leaseMemory?: LeaseMemory;
  /** Peer leases (config peerLeases): the channel to the other members' agents and where promises are kept. */
  peers?: { channel: PeerChannel; memory: VouchMemory };
  /** Told once starting PostgreSQL is safe (systemd Type=notify: its unit waits); agent/readiness.ts. */
  readiness?: Readiness;
}
