// The lease this node's server holds, and everything that keeps it honest: the renewals (on their own
// schedule and store connection), the end kept on disk for a restarted agent, the watchdog armed with that
// end, and the watch that stops the server before the end passes unrenewed. It owns that state alone; the
// agent asks it and tells it (LeaseKeeperHost), and the decisions are core/agent-rules.ts's.

import type { Logger } from '@aws-lambda-powertools/logger';
import type { AgentConfig } from '../core/agent-config.ts';
import type { Clock } from '../core/clock.ts';
import { withDeadline } from '../core/deadline.ts';
import { StoreConflictError } from '../core/errors.ts';
import {
  LEASE_REQUEST_TIMEOUT_MS,
  LEASE_RETRY_INTERVAL_MS,
  leaseWatchSleepMs,
  renewIntervalMs,
  WATCHDOG_LEAD_MS,
} from '../core/lease-timing.ts';
import { renewsLease, selfFenceDue, type AgentView } from '../core/agent-rules.ts';
import type { ClusterRecord } from '../core/records.ts';
import type { LeaseMemory } from './lease-file.ts';
import type { HeartbeatStore } from './ports/heartbeat-store.ts';
import type { NodeOps } from './ports/node-ops.ts';
import type { Watchdog } from './watchdog/watchdog.ts';
import { Wake } from './wake.ts';

/**
 * Renewal attempts that may be under way at once while renewals fail (each on its own connection): enough
 * that one goes out every LEASE_RETRY_INTERVAL_MS while each waits out its deadline.
 */
const MAX_RENEWALS_IN_FLIGHT = Math.ceil((LEASE_REQUEST_TIMEOUT_MS + 100) / LEASE_RETRY_INTERVAL_MS) + 1;

export interface LeaseKeeperDeps {
  config: AgentConfig;
  clock: Clock;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** The renewals' own connection (short timeout, no retries). */
  leaseStore: Pick<HeartbeatStore, 'renewLease'>;
  ops: Pick<NodeOps, 'fence'>;
  leaseMemory?: LeaseMemory | undefined;
  watchdog?: Watchdog | undefined;
}

/** What the keeper needs of the agent around it. */
export interface LeaseKeeperHost {
  goal(): ClusterRecord | undefined;
  term(): number;
  /** The agent's view for `goal` (core/agent-rules.ts), with this keeper's lease in it. */
  view(goal: ClusterRecord | undefined): AgentView;
  /** The local server is known writable (the watch then looks often). */
  writable(): boolean;
  /** A renewal brought the cluster record back: a new goal in the same term is learned and acted on. */
  renewed(after: ClusterRecord): void;
  /** The self-fence stopped the server: what the checks knew is gone, and it is recorded and reported. */
  selfFenced(): void;
  pause(ms: number, wake: Wake): Promise<void>;
  readonly stopping: AbortSignal;
}

export class LeaseKeeper {
  /**
   * On this host's monotonic clock: until when the lease this node's server may hold is valid, or null when
   * it holds none (core/agent-rules.ts, leaseRemainingMs). Starts from what a predecessor recorded.
   */
  private endMonoMs: number | null;
  /** Bumped whenever the lease is given up, so that a renewal sent before cannot bring it back. */
  private generation = 0;
  /** The deadline the watchdog is armed with (monotonic), or null when it is disarmed. */
  private watchdogDeadlineMonoMs: number | null = null;
  private renewFailures = 0;
  /** When the last successful renewal went out (monotonic), or null before the first. */
  private renewedSentMonoMs: number | null = null;
  private renewalsInFlight = 0;
  private selfFencing = false;
  /** When a renewal last brought the cluster record back (monotonic): a primary's goal is that fresh. */
  goalRenewedMonoMs: number | null = null;
  /** A new primary renews at once, not a tick later. */
  readonly wakeRenewal = new Wake();
  /** A lease taken anew, or a server that just became writable, is looked at by the watch at once. */
  readonly wakeWatch = new Wake();

  constructor(
    private readonly deps: LeaseKeeperDeps,
    private readonly host: LeaseKeeperHost,
  ) {
    this.endMonoMs = deps.leaseMemory?.load() ?? null;
  }

  /** A lease is recorded for this node's server (by a renewal, a promotion, or a predecessor). */
  get held(): boolean {
    return this.endMonoMs !== null;
  }

  leftMs(): number | null {
    return this.endMonoMs === null ? null : this.endMonoMs - this.deps.clock.monotonicMs();
  }

  watchdogArmed(): boolean {
    return this.watchdogDeadlineMonoMs !== null && this.watchdogDeadlineMonoMs > this.deps.clock.monotonicMs();
  }

  /**
   * The primary's lease renewals, on their own schedule and connection (LEASE_RENEW_INTERVAL_MS): the
   * renewal is a write conditional on the term and holder, so the goal it is based on may be a beat old.
   * Once an attempt has failed, a fresh one goes out every LEASE_RETRY_INTERVAL_MS without waiting for
   * the one in flight (each on a connection of its own, a few at most): when a blip ends, the next
   * renewal is then at most that far away, rather than a timed-out attempt's SYN retransmission away.
   */
  async renewLoop(): Promise<void> {
    const { config, clock, leaseStore } = this.deps;
    while (!this.host.stopping.aborted) {
      const startedMonoMs = clock.monotonicMs();
      const goal = this.host.goal();
      if (goal) {
        if (this.renewFailures === 0) await this.renewIfDue(goal, leaseStore);
        else if (this.renewalsInFlight < MAX_RENEWALS_IN_FLIGHT) void this.renewIfDue(goal, leaseStore);
      }
      // Heartbeats faster than the renewal interval (tests, tight set-ups) carry the renewals' pace too.
      const intervalMs = this.renewFailures > 0 ? LEASE_RETRY_INTERVAL_MS : renewIntervalMs(config.heartbeatIntervalMs);
      await this.host.pause(Math.max(0, intervalMs - (clock.monotonicMs() - startedMonoMs)), this.wakeRenewal);
    }
  }

  /**
   * Renews the lease when this node should hold it and the last successful renewal went out at least
   * most of a renewal interval ago (the heartbeat and the renewal loop share the schedule); always while
   * renewals fail. Failures are logged and retried, never backed off: the lease is running out.
   */
  async renewIfDue(goal: ClusterRecord, store: Pick<HeartbeatStore, 'renewLease'>): Promise<void> {
    const { config, clock, logger } = this.deps;
    if (goal.term !== this.host.term() || !renewsLease(this.host.view(goal))) return;
    const intervalMs = renewIntervalMs(config.heartbeatIntervalMs);
    // The lease is timed from before the request left: the evaluator saw the renewal later than that.
    const sentAtMonoMs = clock.monotonicMs();
    if (this.renewedSentMonoMs !== null && sentAtMonoMs - this.renewedSentMonoMs < intervalMs * 0.8) return;
    if (this.renewFailures === 0 && this.renewalsInFlight > 0) return;
    this.renewalsInFlight++;
    const generation = this.generation;
    try {
      const durationMs = goal.policy.leaseDurationMs;
      // Bounded here too: a store client without a short timeout must not hold the renewals up.
      const after = await withDeadline(
        store.renewLease(config.cluster, config.nodeId, goal.term, durationMs),
        LEASE_REQUEST_TIMEOUT_MS + 100,
        'the lease renewal got no answer',
      );
      this.renewedSentMonoMs = Math.max(this.renewedSentMonoMs ?? sentAtMonoMs, sentAtMonoMs);
      if (after.term === this.host.term()) this.goalRenewedMonoMs = clock.monotonicMs();
      this.host.renewed(after);
      if (this.host.term() === goal.term && generation === this.generation)
        await this.holdUntil(sentAtMonoMs + durationMs);
      if (this.renewFailures > 0) logger.info('lease renewed again', { failedAttempts: this.renewFailures });
      this.renewFailures = 0;
    } catch (error) {
      if (error instanceof StoreConflictError) {
        logger.warn('lease not renewed: this node is no longer the primary of the current term', { term: goal.term });
        return;
      }
      this.renewFailures++;
      if (this.renewFailures === 1 || this.renewFailures % 10 === 0)
        logger.error('cannot renew the lease; retrying', { failedAttempts: this.renewFailures, error: String(error) });
    } finally {
      this.renewalsInFlight--;
    }
  }

  /**
   * Stops a primary that can no longer prove its lease, before the lease runs out (EFM
   * stop.isolated.primary). Nothing else counts as proof: a standby that looks "streaming" in
   * pg_stat_replication may have been cut off silently and promoted long ago. This loop does not wait
   * for a goal action or a hook in progress, and makes no store call before fencing.
   */
  async watchLoop(): Promise<void> {
    while (!this.host.stopping.aborted) {
      // Sleeps to the fence point (renewals only ever move it later, and a new term's lease wakes the watch),
      // or, without a lease, until the server becomes writable: a primary at rest wakes once per lease, not
      // ten times a second.
      await this.host.pause(leaseWatchSleepMs(this.leftMs(), this.host.writable()), this.wakeWatch);
      const due = selfFenceDue(this.host.view(this.host.goal()));
      if (due) await this.selfFence(due);
    }
  }

  /**
   * A renewal (or the lease taken at promotion) was granted: the lease runs to `endMonoMs` at least. Kept on
   * disk for a restarted agent, then the watchdog re-armed.
   */
  async holdUntil(endMonoMs: number): Promise<void> {
    const fresh = this.endMonoMs === null;
    this.endMonoMs = Math.max(this.endMonoMs ?? endMonoMs, endMonoMs);
    this.save();
    // A lease taken anew (a promotion) moves the watch off its idle wait; a renewal only moves the fence
    // point later, which the watch finds when it wakes there.
    if (fresh) this.wakeWatch.wake();
    await this.arm(this.endMonoMs - WATCHDOG_LEAD_MS);
  }

  /** Store renewals are failing (the last attempt did not succeed). */
  renewalsFailing(): boolean {
    return this.renewFailures > 0;
  }

  /** Bumped whenever the lease is given up: an extension asked for before cannot bring it back. */
  get generationNow(): number {
    return this.generation;
  }

  /**
   * Peer leases: a majority of the members vouch for this primary until `endMonoMs`. Held as a renewal is,
   * unless the lease was given up since `generation` or has already run out (the watch is then fencing).
   */
  async extendByPeers(endMonoMs: number, generation: number): Promise<void> {
    const left = this.leftMs();
    if (generation !== this.generation || left === null || left <= 0) return;
    if (this.endMonoMs !== null && endMonoMs <= this.endMonoMs) return;
    await this.holdUntil(endMonoMs);
  }

  /** The server was stopped (a fence, a switchover's clean stop): it holds no lease any more. */
  drop(): void {
    this.generation++;
    this.endMonoMs = null;
    this.save();
  }

  private save(): void {
    try {
      this.deps.leaseMemory?.save(this.endMonoMs);
    } catch (error) {
      this.deps.logger.error('could not record the lease on disk; a restarted agent would fence early', {
        error: String(error),
      });
    }
  }

  async selfFence(reason: string): Promise<void> {
    if (this.selfFencing) return;
    this.selfFencing = true;
    try {
      this.deps.logger.error(`lease not renewed: stopping the database before the lease runs out (${reason})`);
      await this.deps.ops.fence(null);
      this.drop();
      this.host.selfFenced();
      await this.disarm('the database is stopped');
    } catch (error) {
      // Retried on the next tick; the watchdog, if any, still fires at the lease's end.
      this.deps.logger.error('self-fence failed; retrying', { error: String(error) });
    } finally {
      this.selfFencing = false;
    }
  }

  /** Arms (or re-arms) the watchdog; a failure is logged and reported as "not armed" in the heartbeat. */
  async arm(deadlineMonoMs: number): Promise<void> {
    const watchdog = this.deps.watchdog;
    if (!watchdog) return;
    try {
      await watchdog.arm(deadlineMonoMs);
      if (this.watchdogDeadlineMonoMs === null) this.deps.logger.info(`watchdog armed (${watchdog.describe})`);
      this.watchdogDeadlineMonoMs = deadlineMonoMs;
    } catch (error) {
      this.deps.logger.error("could not arm the watchdog: this node's lease is not protected against a frozen agent", {
        error: String(error),
      });
    }
  }

  async disarm(why: string): Promise<void> {
    const watchdog = this.deps.watchdog;
    if (!watchdog || this.watchdogDeadlineMonoMs === null) return;
    try {
      await watchdog.disarm();
      this.watchdogDeadlineMonoMs = null;
      this.deps.logger.info(`watchdog disarmed: ${why}`);
    } catch (error) {
      this.deps.logger.error('could not disarm the watchdog', { error: String(error) });
    }
  }
}
