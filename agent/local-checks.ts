// This node's own database, checked every localPeriodMs by EFM's rules (core/local-health.ts): the
// verdict, the facts of the last good check, and the timeline a standby last streamed on. It owns that
// state; a stop the agent itself made (a fence, a switchover's clean stop) resets it, so that a check
// begun before the stop cannot report the server as it was.

import type { Logger } from '@aws-lambda-powertools/logger';
import type { AgentConfig } from '../core/agent-config.ts';
import { INITIAL_HEALTH, nextLocalHealth, type LocalHealth } from '../core/local-health.ts';
import type { HeartbeatRecord } from '../core/records.ts';
import type { DatabaseFacts, ProbeResult } from './database-probe.ts';
import { replicationNews } from './heartbeat-content.ts';
import { Wake } from './wake.ts';

/**
 * Local check interval while a role change is under way: a switchover waits on the candidate's reported
 * replay position reaching the old primary's stop position, and a report is only as fresh as the last check.
 */
const BUSY_CHECK_MS = 100;

export interface LocalChecksHost {
  roleChangeUnderWay(): boolean;
  /** A new verdict, or news of replication: the heartbeat carries it now. */
  news(): void;
  /** The server just became writable: the lease watch looks at once. */
  becameWritable(): void;
  /** A check's verdict (the site hooks run on a change). */
  healthChanged(previous: LocalHealth, next: LocalHealth): void;
  pause(ms: number, wake: Wake): Promise<void>;
  readonly stopping: AbortSignal;
}

export class LocalChecks {
  private current: LocalHealth = INITIAL_HEALTH;
  private lastFacts: DatabaseFacts | undefined;
  /** The timeline this standby last streamed on (withKnownTimeline), or null. */
  private streamedTimeline: number | null = null;
  /** Bumped when the agent stops the server, so that a check begun before cannot report it after. */
  private epoch = 0;
  /** The last term in which a switchover stopped this (then primary) server. */
  demoteStopped: number | null = null;
  private lastKnownType: HeartbeatRecord['agentType'] = 'idle';
  /** Cuts the wait short: a watched connection broke, or a role change began. */
  readonly wake = new Wake();

  constructor(
    private readonly config: AgentConfig,
    private readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>,
    private readonly host: LocalChecksHost,
  ) {}

  get health(): LocalHealth {
    return this.current;
  }

  get facts(): DatabaseFacts | undefined {
    return this.lastFacts;
  }

  writable(): boolean {
    return this.current.status === 'UP' && this.lastFacts !== undefined && !this.lastFacts.inRecovery;
  }

  /** What this node is now: it follows the database, which only counts while it is UP. */
  agentType(): HeartbeatRecord['agentType'] {
    if (this.config.role === 'witness') return 'witness';
    const facts = this.current.status === 'UP' ? this.lastFacts : undefined;
    return facts ? (facts.inRecovery ? 'standby' : 'primary') : 'idle';
  }

  async loop(probe: (timeoutMs: number) => Promise<ProbeResult>, markChecked: () => void): Promise<void> {
    const { timeouts } = this.config;
    while (!this.host.stopping.aborted) {
      const timeoutMs = this.current.finalCheckDue ? timeouts.localTimeoutFinalMs : timeouts.localTimeoutMs;
      const epoch = this.epoch;
      const result = await probe(timeoutMs);
      if (this.host.stopping.aborted) return;
      if (epoch !== this.epoch) continue;
      const previous = this.current;
      const replicationBefore = replicationNews(this.lastFacts);
      this.checked(
        nextLocalHealth(previous, result),
        result.kind === 'ok' ? (result.facts ? this.withKnownTimeline(result.facts) : undefined) : this.lastFacts,
      );
      this.logChange(previous, this.current);
      this.host.healthChanged(previous, this.current);
      // A new verdict goes out now rather than at the next heartbeat: a failover waits on it; so does news of
      // replication (commits that began to wait, a standby that stopped streaming), which is alerted on.
      if (previous.status !== this.current.status || replicationBefore !== replicationNews(this.lastFacts))
        this.host.news();
      if (!this.current.finalCheckDue) markChecked();
      // The final check follows a failed one at once, as EFM does; otherwise wait a period.
      if (!this.current.finalCheckDue)
        await this.host.pause(
          this.host.roleChangeUnderWay() ? Math.min(timeouts.localPeriodMs, BUSY_CHECK_MS) : timeouts.localPeriodMs,
          this.wake,
        );
    }
  }

  /** One check now (after an action changed what it would find); a check of a server stopped since is dropped. */
  async refresh(probe: (timeoutMs: number) => Promise<ProbeResult>): Promise<void> {
    const epoch = this.epoch;
    const result = await probe(this.config.timeouts.localTimeoutMs);
    if (result.kind !== 'ok' || epoch !== this.epoch) return;
    const previous = this.current;
    this.checked(nextLocalHealth(previous, result), result.facts);
    this.logChange(previous, this.current);
  }

  /** The agent stopped the server itself: what the checks knew is gone, and `health` says what it did. */
  stopped(health: LocalHealth): void {
    this.epoch++;
    this.current = health;
    this.lastFacts = undefined;
  }

  /**
   * The switchover's clean stop is over. What the checks knew of the server is gone: a check begun before
   * the stop would say writable, and a writable server without a lease is fenced (the standby it restarts
   * as would be).
   */
  stoppedForSwitchover(term: number): void {
    this.demoteStopped = term;
    this.stopped({
      phase: 'starting',
      status: 'UNKNOWN',
      reason: 'stopped cleanly for a switchover; restarting as a standby',
      finalCheckDue: false,
    });
  }

  /**
   * The lease keeper stopped the server. Without forgetting what the checks knew, a check begun before the
   * stop would keep the server "writable" and the watch would fence it again every tick.
   */
  selfFenced(): void {
    this.stopped({
      phase: 'down',
      status: 'DOWN',
      reason: 'stopped by its agent: the lease could not be renewed',
      finalCheckDue: false,
    });
  }

  /** A rejoin gave the data directory the primary's history: the timeline last streamed on is void. */
  forgetTimeline(): void {
    this.streamedTimeline = null;
  }

  /** Logs a change of verdict or role once, at the level it deserves. */
  logChange(previous: LocalHealth, next: LocalHealth): void {
    const agentType = this.agentType();
    if (previous.status === next.status && previous.reason === next.reason && agentType === this.lastKnownType) return;
    const extra = { from: previous.status, to: next.status, reason: next.reason, agentType };
    this.lastKnownType = agentType;
    if (next.status === 'UP') this.logger.info(`local database is UP (${agentType})`, extra);
    else if (next.status === 'DOWN') this.logger.error('local database is DOWN', extra);
    else if (next.phase === 'misconfigured')
      this.logger.error(`local database cannot be checked: ${next.reason}`, extra);
    else this.logger.warn('local database status UNKNOWN', extra);
  }

  /** What a check found; a server that just became writable is looked at by the lease watch at once. */
  private checked(health: LocalHealth, facts: DatabaseFacts | undefined): void {
    const wasWritable = this.writable();
    this.current = health;
    this.lastFacts = facts;
    if (!wasWritable && this.writable()) this.host.becameWritable();
  }

  /**
   * A standby without a WAL receiver (its primary just died) can say only the timeline of its last
   * restartpoint, which can be several failovers old: the evaluator would then veto every standby as "on
   * another timeline" and nobody could be promoted. The timeline it last streamed on is its history (a
   * standby streams a timeline only once its history matches it), and never ahead of it: reported instead.
   */
  private withKnownTimeline(facts: DatabaseFacts): DatabaseFacts {
    if (!facts.inRecovery) {
      this.streamedTimeline = null;
      return facts;
    }
    if (facts.upstream !== null && facts.timeline !== null) {
      this.streamedTimeline = facts.timeline;
      return facts;
    }
    return this.streamedTimeline !== null && (facts.timeline ?? 0) < this.streamedTimeline
      ? { ...facts, timeline: this.streamedTimeline }
      : facts;
  }
}
