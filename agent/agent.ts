// The agent: checks its local database every localPeriodMs (EFM's rules, core/local-health.ts), checks
// the recorded primary's database from here (EFM's remote check), and on its own timer writes a heartbeat
// with what it last saw. The loops are separate so that a check that hangs for its timeout never delays
// the heartbeat that proves this node is alive.
//
// It also converges on the goal the evaluator writes in the cluster record: the chosen standby promotes,
// the others repoint to it, and a node that is writable but not the primary of the current term fences
// itself. A primary renews its lease with every heartbeat and stops its database before the lease runs
// out if it cannot renew. Leases are timed on the monotonic clock. With a watchdog (fencing "watchdog"),
// every renewal also re-arms it, so the database is stopped at the lease's end even if this process
// freezes or dies; the self-fence and the watchdog never wait for a hook or a store call.

import type { Logger } from '@aws-lambda-powertools/logger';
import type { AgentConfig } from '../core/agent-config.ts';
import type { Clock } from '../core/clock.ts';
import { withDeadline } from '../core/deadline.ts';
import { findAllowed } from '../core/membership.ts';
import type { AgentStep, AgentView } from '../core/agent-rules.ts';
import type { ClusterRecord, HeartbeatRecord, MembershipRecord } from '../core/records.ts';
import type { Readiness } from './readiness.ts';
import type { LeaseMemory } from './lease-file.ts';
import type { HeartbeatStore } from './ports/heartbeat-store.ts';
import type { NodeOps } from './ports/node-ops.ts';
import type { ProgressStore } from './ports/progress-store.ts';
import type { Watchdog } from './watchdog/watchdog.ts';
import { SiteHooks } from './site-hooks.ts';
import { Wake } from './wake.ts';
import { LeaseKeeper } from './lease-keeper.ts';
import { LocalChecks } from './local-checks.ts';
import { PrimaryChecks } from './primary-checks.ts';
import { watchConnection } from './connection-watch.ts';
import { agentView } from './view.ts';
import { BootGate } from './boot-gate.ts';
import { ProgressKeeper } from './progress-keeper.ts';
import { GoalFollower } from './goal-follower.ts';
import { heartbeatRecord } from './heartbeat-record.ts';
import { HeartbeatWriter } from './heartbeat-writer.ts';
import { AddressKeeper } from './address-keeper.ts';
import { StepExecutor } from './steps.ts';

export type { HeartbeatStore, NodeOps, ProgressStore };

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
  logger: AgentLogger;
  host: HeartbeatRecord['host'];
  bootId: string;
  /** The host watchdog, when configured (required by clusters with fencing "watchdog"). */
  watchdog?: Watchdog;
  /** Where the steps done per term are kept across restarts (agent/progress-file.ts); memory only if absent. */
  progressStore?: ProgressStore;
  /** Where the lease's end is kept across restarts of the agent (agent/lease-file.ts); memory only if absent. */
  leaseMemory?: LeaseMemory;
  /** Told once starting PostgreSQL is safe (systemd Type=notify: its unit waits); agent/readiness.ts. */
  readiness?: Readiness;
}

/**
 * Heartbeat interval while a failure is suspected or a failover is under way: how soon a candidate reads
 * the goal that names it (half of it on average, in every failover). Only what is new is written.
 */
const BUSY_HEARTBEAT_MS = 50;
/** Longest wait between heartbeat attempts while the store is unreachable. */
const MAX_BACKOFF_MS = 10_000;

export class Agent {
  private term = 0;
  private goal: ClusterRecord | undefined;
  private membership: MembershipRecord | undefined;
  private readonly hooks: SiteHooks;
  /** Steps done in the current term, on disk (pg_auto_failover's keeper state). */
  private readonly done: ProgressKeeper;
  private readonly boot: BootGate;
  private firstBeatDone = false;
  /** The last term in which a switchover stopped this primary's server. */
  private demoteStopped: number | null = null;
  private storeFailures = 0;
  private readonly stopping = new AbortController();
  private readonly lease: LeaseKeeper;
  private readonly local: LocalChecks;
  private readonly primaryChecks: PrimaryChecks;
  private readonly address: AddressKeeper;
  private readonly steps: StepExecutor;
  private readonly follower: GoalFollower;
  private readonly beats: HeartbeatWriter;
  private loops: Promise<void>[] = [];
  private firstCheckDone: Promise<void> = Promise.resolve();
  /** Cut a loop's wait short: a check when a watched connection breaks, a heartbeat when a verdict changes. */
  private readonly wakeHeartbeat = new Wake();
  /** Told whenever the goal or the membership is learned: the watch loops follow the primary by it. */
  private readonly goalListeners = new Set<() => void>();

  constructor(private readonly deps: AgentDeps) {
    this.local = new LocalChecks(deps.config, deps.logger, {
      roleChangeUnderWay: () => this.roleChangeUnderWay(),
      news: () => this.wakeHeartbeat.wake(),
      becameWritable: () => this.lease.wakeWatch.wake(),
      healthChanged: (previous, next) => this.hooks.onHealthChange(previous.status, next.status, next.reason),
      pause: (ms, wake) => this.pause(ms, wake),
      stopping: this.stopping.signal,
    });
    this.beats = new HeartbeatWriter(deps, {
      goal: () => this.goal,
      membership: () => this.membership,
      goalRenewedMonoMs: () => this.lease.goalRenewedMonoMs,
      learned: (membership, cluster) => {
        this.membership = membership;
        if (cluster) this.learnGoal(cluster);
        this.goalListeners.forEach((listener) => listener());
      },
      // The first renewal of a term goes out before the heartbeat that follows it, as a new primary's
      // lease must be held before anything may judge it; the renewal loop keeps it up from there.
      beforeWrite: async (cluster, agentStatus) => {
        if (agentStatus === 'UP' && cluster) await this.lease.renewIfDue(cluster, this.deps.store);
      },
      heartbeat: (agentStatus, seq) => this.currentHeartbeat(agentStatus, seq),
    });
    this.primaryChecks = new PrimaryChecks(deps.config, deps.ops, deps.logger, {
      primary: () => {
        const address = this.primaryAddress();
        const nodeId = this.goal?.primaryNodeId;
        return address && nodeId ? { nodeId, address } : undefined;
      },
      news: () => this.wakeHeartbeat.wake(),
      pause: (ms, wake) => this.pause(ms, wake),
      stopping: this.stopping.signal,
    });
    this.address = new AddressKeeper(deps.ops, deps.logger, {
      nodeId: deps.config.nodeId,
      term: () => this.term,
      demoteStopped: () => this.demoteStopped,
      writable: () => this.local.writable(),
    });
    this.lease = new LeaseKeeper(
      {
        config: deps.config,
        clock: deps.clock,
        logger: deps.logger,
        leaseStore: deps.leaseStore ?? deps.store,
        ops: deps.ops,
        leaseMemory: deps.leaseMemory,
        watchdog: deps.watchdog,
      },
      {
        goal: () => this.goal,
        term: () => this.term,
        view: (goal) => this.view(goal, this.membership),
        writable: () => this.local.writable(),
        renewed: (after) => this.renewed(after),
        selfFenced: () => this.selfFenced(),
        pause: (ms, wake) => this.pause(ms, wake),
        stopping: this.stopping.signal,
      },
    );
    this.done = new ProgressKeeper(deps.progressStore, deps.logger);
    this.follower = new GoalFollower(deps, {
      term: () => this.term,
      view: (goal, membership) => this.view(goal, membership),
      learnGoal: (goal) => this.learnGoal(goal),
      selfFence: (reason) => this.lease.selfFence(reason),
      execute: (step, goal, membership, reason) => this.steps.execute(step, goal, membership, reason),
      news: () => this.wakeHeartbeat.wake(),
    });
    this.boot = new BootGate(deps, { goal: () => this.goal, term: () => this.term });
    this.hooks = new SiteHooks({
      config: deps.config,
      ops: deps.ops,
      store: deps.store,
      logger: deps.logger,
      clock: deps.clock,
      term: () => this.term,
      membership: () => this.membership,
    });
    this.steps = new StepExecutor(
      { ...deps, hooks: this.hooks, lease: this.lease, address: this.address },
      {
        record: (step) => this.record(step),
        forget: (step) => this.forget(step),
        report: (step, detail, facts) => this.report(step, detail, facts),
        refreshNow: () => this.refreshNow(),
        stoppedForSwitchover: (term) => this.stoppedForSwitchover(term),
        forgetTimeline: () => this.local.forgetTimeline(),
        progress: () => this.done.progress,
        healthReason: () => this.local.health.reason,
        facts: () => this.local.facts,
        membership: () => this.membership,
        pause: (ms) => this.pause(ms),
        stopped: () => this.stopping.signal.aborted,
      },
    );
  }

  start(): void {
    const { config, logger, ops } = this.deps;
    logger.info('agent starting', {
      cluster: config.cluster,
      nodeId: config.nodeId,
      role: config.role,
      bootId: this.deps.bootId,
      timeouts: config.timeouts,
    });
    if (this.lease.held)
      logger.warn(
        `a lease is recorded for this node's server (${this.lease.leftMs() ?? 0} ms left): it is stopped before the lease ends unless renewed`,
      );
    if (ops.probe) {
      let markChecked: () => void = () => undefined;
      this.firstCheckDone = new Promise((resolve) => (markChecked = resolve));
      this.loops.push(this.local.loop(ops.probe, markChecked));
      this.loops.push(this.lease.watchLoop());
      this.loops.push(this.lease.renewLoop());
      if (ops.watch) this.loops.push(watchConnection('local', this.deps, this.watchHost(), this.local.wake));
    }
    this.loops.push(this.primaryChecks.loop());
    if (ops.watch) this.loops.push(watchConnection('primary', this.deps, this.watchHost(), this.primaryChecks.wake));
    this.loops.push(this.heartbeatLoop());
  }

  /** Stops the loops, then says in the store that this agent has exited (bounded by `timeoutMs`). */
  async stop(timeoutMs = 3000): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled(this.loops);
    // Hooks have their own time limit; a stop does not wait longer than its own.
    await withDeadline(this.hooks.settled(), timeoutMs, 'hooks did not finish').catch(() => undefined);
    // A deliberate stop stands the watchdog down (the heartbeat then says so): the database keeps
    // running unwatched, and the evaluator will not fail it over automatically while it cannot be fenced.
    await this.lease.disarm('the agent is stopping');
    try {
      await withDeadline(this.writeHeartbeat('EXITED'), timeoutMs, 'marking the agent exited did not finish');
      this.deps.logger.info('agent stopped; marked EXITED in the state store');
    } catch (error) {
      this.deps.logger.warn('agent stopped without marking itself EXITED in the state store', { error: String(error) });
    }
  }

  /** The heartbeat this agent would send now. */
  currentHeartbeat(agentStatus: HeartbeatRecord['agentStatus'], seq = this.beats.sequence): HeartbeatRecord {
    const checked = this.primaryChecks.primaryNodeId;
    return heartbeatRecord({
      config: this.deps.config,
      host: this.deps.host,
      bootId: this.deps.bootId,
      seq,
      sentAtMs: this.deps.clock.nowMs(),
      agentStatus,
      agentType: this.local.agentType(),
      health: this.local.health,
      facts: this.local.facts,
      term: this.term,
      primaryCheck: checked ? { nodeId: checked, health: this.primaryChecks.health } : null,
      action: this.follower.action,
      watchdogArmed: this.lease.watchdogArmed(),
      hookFailures: this.hooks.failed(),
    });
  }

  // ---- the recorded primary, checked from here (EFM remote.timeout) ------------------------------

  /** The address of the recorded primary when it is another node, which this agent then checks. */
  private primaryAddress(): string | undefined {
    const primaryId = this.goal?.primaryNodeId ?? null;
    return primaryId && primaryId !== this.deps.config.nodeId && this.membership
      ? findAllowed(this.membership, primaryId)?.address
      : undefined;
  }

  // ---- heartbeats, lease, goal -----------------------------------------------------------------

  private async heartbeatLoop(): Promise<void> {
    const { heartbeatIntervalMs: interval, timeouts } = this.deps.config;
    // The first heartbeat waits (boundedly) for the first verdict on the database, so that it says
    // something real rather than "starting".
    await Promise.race([this.firstCheckDone, this.pause(timeouts.localTimeoutMs + timeouts.localTimeoutFinalMs)]);
    // A node already marked standby may let PostgreSQL start at once, even while the store is unreachable.
    await this.boot.signalWhenSafe();
    while (!this.stopping.signal.aborted) {
      try {
        await this.writeHeartbeat('UP');
        if (this.storeFailures > 0)
          this.deps.logger.info('state store reachable again', { failedAttempts: this.storeFailures });
        this.storeFailures = 0;
      } catch (error) {
        this.storeFailures++;
        // Log the first failure and then every tenth, so an outage does not flood the log.
        if (this.storeFailures === 1 || this.storeFailures % 10 === 0) {
          this.deps.logger.error('cannot write heartbeat to the state store; retrying with backoff', {
            failedAttempts: this.storeFailures,
            error: String(error),
          });
        }
      }
      this.firstBeatDone = true;
      if (this.goal && this.membership) {
        const goal = this.goal;
        void this.follower
          .apply(goal, this.membership)
          .then(() => this.address.sync(goal))
          .then(() => this.boot.signalWhenSafe());
      }
      // While the primary looks down from here, or a role change is under way, beat (and read the goal)
      // more often: the next step of a failover waits on this node reading it.
      const busy =
        (this.primaryChecks.primaryNodeId !== null && this.primaryChecks.health.status !== 'UP') ||
        this.roleChangeUnderWay();
      const steadyDelay = busy ? Math.min(interval, BUSY_HEARTBEAT_MS) : interval;
      const delay =
        this.storeFailures === 0
          ? steadyDelay
          : Math.min(MAX_BACKOFF_MS, interval * 2 ** Math.min(this.storeFailures - 1, 10));
      await this.pause(delay, this.wakeHeartbeat);
    }
  }

  private writeHeartbeat(agentStatus: HeartbeatRecord['agentStatus']): Promise<void> {
    return this.beats.write(agentStatus);
  }

  /** Every goal carries its term; anything older than what this agent has seen is ignored. */
  private learnGoal(cluster: ClusterRecord): void {
    if (cluster.term < this.term) {
      this.deps.logger.warn('ignoring a cluster record from an older term', { seen: this.term, got: cluster.term });
      return;
    }
    if (cluster.term > this.term && this.term > 0)
      this.deps.logger.info(
        `cluster term ${cluster.term}: primary is ${cluster.primaryNodeId ?? 'none'} (${cluster.phase})`,
      );
    // A new primary (or an agent that just learned it is one) renews at once, not a tick later.
    if (cluster.term !== this.term || cluster.primaryNodeId !== this.goal?.primaryNodeId) this.lease.wakeRenewal.wake();
    const wasUnderWay = this.roleChangeUnderWay();
    this.term = cluster.term;
    this.goal = cluster;
    this.goalListeners.forEach((listener) => listener());
    // A role change just began: check the local database now and then often (BUSY_CHECK_MS).
    if (!wasUnderWay && this.roleChangeUnderWay()) this.local.wake.wake();
  }

  /** A switchover or failover is in progress in the newest goal. */
  private roleChangeUnderWay(): boolean {
    return this.goal !== undefined && this.goal.phase !== 'steady' && this.goal.phase !== 'halted';
  }

  private watchHost() {
    return {
      target: () => this.primaryAddress(),
      onGoal: (listener: () => void) => {
        this.goalListeners.add(listener);
        return () => void this.goalListeners.delete(listener);
      },
      pause: (ms: number, wake?: Wake) => this.pause(ms, wake),
      stopping: this.stopping.signal,
    };
  }

  /**
   * The switchover's clean stop is over: the server holds no lease, and what the checks knew of it is gone
   * (a check begun before the stop would say writable, and a writable server without a lease is fenced:
   * the standby it restarts as would be).
   */
  private stoppedForSwitchover(term: number): void {
    this.demoteStopped = term;
    this.lease.drop();
    this.local.stopped({
      phase: 'starting',
      status: 'UNKNOWN',
      reason: 'stopped cleanly for a switchover; restarting as a standby',
      finalCheckDue: false,
    });
  }

  /** A renewal brought the record back: a new goal in the same term (a switchover asking this primary to
   * demote) is learned here, half a heartbeat sooner on average, and acted on at once. */
  private renewed(after: ClusterRecord): void {
    if (after.phase === this.goal?.phase && after.version === this.goal.version) return;
    this.learnGoal(after);
    this.wakeHeartbeat.wake();
  }

  /**
   * The lease keeper stopped the server. What the checks knew is gone with it: without this, a check begun
   * before the stop would keep the server "writable" and the watch would fence it again every tick.
   */
  private selfFenced(): void {
    this.local.stopped({
      phase: 'down',
      status: 'DOWN',
      reason: 'stopped by its agent: the lease could not be renewed',
      finalCheckDue: false,
    });
    this.record('fence');
    this.report('fenced', 'isolated: the lease could not be renewed in time');
    this.hooks.track(
      this.hooks.run('primaryIsolated', this.hooks.baseEnv(), {
        h: this.hooks.ownHost(),
        f: this.hooks.ownHost(),
        p: '',
      }),
    );
  }

  /** What the rule table looks at: this node as it is now. */
  private view(goal: ClusterRecord | undefined, membership: MembershipRecord | undefined): AgentView {
    return agentView({
      config: this.deps.config,
      ops: this.deps.ops,
      goal,
      membership,
      seenTerm: this.term,
      health: this.local.health,
      facts: this.local.facts,
      writable: this.local.writable(),
      demoteStopped: this.demoteStopped,
      primaryAnswers: this.primaryChecks.answers(goal?.primaryNodeId),
      leaseRemainingMs: this.lease.leftMs(),
      leaseHeld: this.lease.held,
      firstBeatDone: this.firstBeatDone,
      progress: this.done.progress,
    });
  }

  private forget(step: AgentStep): void {
    this.done.forget(step);
  }

  private record(step: AgentStep): void {
    this.done.record(this.term, step);
  }

  /** Checks the database and sends a heartbeat at once, after an action changed what it would say. */
  private async refreshNow(): Promise<void> {
    const probe = this.deps.ops.probe;
    if (probe) await this.local.refresh(probe);
    await this.writeHeartbeat('UP').catch((error: unknown) =>
      this.deps.logger.warn('immediate heartbeat failed; the next one will carry the news', { error: String(error) }),
    );
  }

  private report(
    step: NonNullable<HeartbeatRecord['action']>['step'],
    detail: string,
    facts: Pick<NonNullable<HeartbeatRecord['action']>, 'stoppedAtLsn'> = {},
  ): void {
    this.follower.report(step, detail, facts);
  }

  /**
   * Waits `ms`, or less when `wake` is woken or the agent stops. A wait ended early cancels its timer and its
   * listener on the stop signal at once (the busy loops are woken many times a second, and pending timers
   * would pile up). A plain timer rather than an aborted sleep: an abort builds an error with a stack
   * trace, and the loops at rest wait a few dozen times a second.
   */
  private pause(ms: number, wake?: Wake): Promise<void> {
    const stopping = this.stopping.signal;
    if (stopping.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer);
        stopping.removeEventListener('abort', end);
        wake?.stopWaiting();
        resolve();
      };
      const timer = setTimeout(end, ms);
      stopping.addEventListener('abort', end, { once: true });
      if (wake) void wake.next().then(end);
    });
  }
}
