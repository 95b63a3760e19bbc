// The agent: checks its local database every localPeriodMs (EFM's rules, core/local-health.ts) and, on
// its own timer, writes a heartbeat with what it last saw. The two loops are separate so that a database
// check that hangs for localTimeoutMs never delays the heartbeat that proves this node is alive.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { AgentConfig } from '../core/agent-config.ts';
import type { Clock } from '../core/clock.ts';
import { StoreConflictError } from '../core/errors.ts';
import { INITIAL_HEALTH, nextLocalHealth, type LocalHealth } from '../core/local-health.ts';
import { findAllowed } from '../core/membership.ts';
import { heartbeatKey, type HeartbeatRecord, type MembershipRecord } from '../core/records.ts';
import { PGFAILOVER_VERSION } from '../core/version.ts';
import type { DatabaseFacts, ProbeResult } from './database-probe.ts';

/** The part of the state store the agent uses. */
export interface HeartbeatStore {
  getMembership(cluster: string): Promise<MembershipRecord | undefined>;
  putHeartbeat(heartbeat: HeartbeatRecord): Promise<void>;
  recordRejected(cluster: string, nodeId: string, address: string, reason: string, nowMs: number): Promise<void>;
}

/** Powertools' structured logger, or anything shaped like it. */
export type AgentLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface AgentDeps {
  config: AgentConfig;
  store: HeartbeatStore;
  /** Checks the local database; absent on a witness. */
  probe?: (timeoutMs: number) => Promise<ProbeResult>;
  clock: Clock;
  logger: AgentLogger;
  host: HeartbeatRecord['host'];
  bootId: string;
}

/** Longest wait between heartbeat attempts while the store is unreachable. */
const MAX_BACKOFF_MS = 10_000;

export class Agent {
  private health: LocalHealth = INITIAL_HEALTH;
  private facts: DatabaseFacts | undefined;
  private lastKnownType: HeartbeatRecord['agentType'] = 'idle';
  private seq = 0;
  private storeFailures = 0;
  private rejectedReason: string | undefined;
  private readonly stopping = new AbortController();
  private loops: Promise<void>[] = [];
  private firstCheckDone: Promise<void> = Promise.resolve();

  constructor(private readonly deps: AgentDeps) {}

  start(): void {
    const { config, logger } = this.deps;
    logger.info('agent starting', { cluster: config.cluster, nodeId: config.nodeId, role: config.role, bootId: this.deps.bootId, timeouts: config.timeouts });
    if (this.deps.probe) {
      let markChecked: () => void = () => undefined;
      this.firstCheckDone = new Promise((resolve) => (markChecked = resolve));
      this.loops.push(this.checkLoop(this.deps.probe, markChecked));
    }
    this.loops.push(this.heartbeatLoop());
  }

  /** Stops both loops, then says in the store that this agent has exited (bounded by `timeoutMs`). */
  async stop(timeoutMs = 3000): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled(this.loops);
    try {
      await withDeadline(this.writeHeartbeat('EXITED'), timeoutMs, 'marking the agent exited');
      this.deps.logger.info('agent stopped; marked EXITED in the state store');
    } catch (error) {
      this.deps.logger.warn('agent stopped without marking itself EXITED in the state store', { error: String(error) });
    }
  }

  /** The heartbeat this agent would send now (exposed for tests and for the exit path). */
  currentHeartbeat(agentStatus: HeartbeatRecord['agentStatus']): HeartbeatRecord {
    const { config, clock, host, bootId } = this.deps;
    const witness = config.role === 'witness';
    const facts = this.health.status === 'UP' ? this.facts : undefined;
    const agentType = witness ? 'witness' : facts ? (facts.inRecovery ? 'standby' : 'primary') : 'idle';
    return {
      cluster: config.cluster,
      sk: heartbeatKey(config.nodeId),
      nodeId: config.nodeId,
      bootId,
      seq: this.seq,
      sentAtMs: clock.nowMs(),
      agentType,
      agentStatus,
      dbStatus: witness ? 'N/A' : this.health.status,
      dbInfo: witness ? '' : this.health.reason,
      timeline: facts?.timeline ?? null,
      currentLsn: facts?.currentLsn ?? null,
      receivedLsn: facts?.receivedLsn ?? null,
      replayedLsn: facts?.replayedLsn ?? null,
      replayLagMs: facts?.replayLagMs ?? null,
      replication: facts?.replication ?? [],
      host,
      timeouts: config.timeouts,
      agentVersion: PGFAILOVER_VERSION,
    };
  }

  private async checkLoop(probe: (timeoutMs: number) => Promise<ProbeResult>, markChecked: () => void): Promise<void> {
    const { timeouts } = this.deps.config;
    while (!this.stopping.signal.aborted) {
      const timeoutMs = this.health.finalCheckDue ? timeouts.localTimeoutFinalMs : timeouts.localTimeoutMs;
      const result = await probe(timeoutMs);
      if (this.stopping.signal.aborted) return;
      const previous = this.health;
      this.health = nextLocalHealth(previous, result);
      if (result.kind === 'ok') this.facts = result.facts;
      this.logHealthChange(previous, this.health);
      if (!this.health.finalCheckDue) markChecked();
      // The final check follows a failed one at once, as EFM does; otherwise wait a period.
      if (!this.health.finalCheckDue) await this.pause(timeouts.localPeriodMs);
    }
  }

  private logHealthChange(previous: LocalHealth, next: LocalHealth): void {
    const agentType = this.currentHeartbeat('UP').agentType;
    if (previous.status === next.status && previous.reason === next.reason && agentType === this.lastKnownType) return;
    const extra = { from: previous.status, to: next.status, reason: next.reason, agentType };
    this.lastKnownType = agentType;
    if (next.status === 'UP') this.deps.logger.info(`local database is UP (${agentType})`, extra);
    else if (next.status === 'DOWN') this.deps.logger.error('local database is DOWN', extra);
    else if (next.phase === 'misconfigured') this.deps.logger.error(`local database cannot be checked: ${next.reason}`, extra);
    else this.deps.logger.warn('local database status UNKNOWN', extra);
  }

  private async heartbeatLoop(): Promise<void> {
    const { heartbeatIntervalMs: interval, timeouts } = this.deps.config;
    // The first heartbeat waits (boundedly) for the first verdict on the database, so that it says
    // something real rather than "starting".
    await Promise.race([this.firstCheckDone, this.pause(timeouts.localTimeoutMs + timeouts.localTimeoutFinalMs)]);
    while (!this.stopping.signal.aborted) {
      try {
        await this.writeHeartbeat('UP');
        if (this.storeFailures > 0) this.deps.logger.info('state store reachable again', { failedAttempts: this.storeFailures });
        this.storeFailures = 0;
      } catch (error) {
        this.storeFailures++;
        // Log the first failure and then every tenth, so an outage does not flood the log.
        if (this.storeFailures === 1 || this.storeFailures % 10 === 0) {
          this.deps.logger.error('cannot write heartbeat to the state store; retrying with backoff', { failedAttempts: this.storeFailures, error: String(error) });
        }
      }
      const delay = this.storeFailures === 0 ? interval : Math.min(MAX_BACKOFF_MS, interval * 2 ** Math.min(this.storeFailures - 1, 10));
      await this.pause(delay);
    }
  }

  private async writeHeartbeat(agentStatus: HeartbeatRecord['agentStatus']): Promise<void> {
    const { config, store, clock, logger } = this.deps;
    const membership = await store.getMembership(config.cluster);
    const allowed = membership ? findAllowed(membership, config.nodeId) : undefined;
    const rejection = !membership
      ? `cluster ${config.cluster} does not exist in the state table; create it with: pgfailover init --cluster ${config.cluster}`
      : !allowed
        ? `node ${config.nodeId} is not in the allowed node list of cluster ${config.cluster}; allow it with: pgfailover allow-node --cluster ${config.cluster} ${config.nodeId} --address ${config.address}`
        : allowed.address !== config.address
          ? `node ${config.nodeId} is allowed with address ${allowed.address} but this agent reports ${config.address}; fix "address" in the agent config or re-run allow-node with the right address`
          : undefined;
    if (rejection) {
      if (rejection !== this.rejectedReason) logger.error(`heartbeat rejected: ${rejection}`);
      this.rejectedReason = rejection;
      if (agentStatus === 'UP') await store.recordRejected(config.cluster, config.nodeId, config.address, rejection, clock.nowMs());
      return;
    }
    if (this.rejectedReason) logger.info('heartbeat accepted: this node is now allowed in the cluster');
    this.rejectedReason = undefined;
    this.seq++;
    try {
      await store.putHeartbeat(this.currentHeartbeat(agentStatus));
    } catch (error) {
      if (!(error instanceof StoreConflictError)) throw error;
      // A newer heartbeat of this very run is stored: a slow retry lost, which is harmless.
      logger.debug('an older heartbeat lost to a newer one', { seq: this.seq });
    }
  }

  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }
}

async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
