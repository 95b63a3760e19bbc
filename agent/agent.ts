// The agent's shell: it wires the parts (each owning its state, docs/agent.md "How it is built"), starts their
// loops and stops them. It checks its database and the recorded primary's, writes heartbeats, keeps a
// primary's lease (stopping the database before it runs out), and converges on the evaluator's goal by
// the rule table (core/agent-rules.ts); the loops are separate so a hung check never delays a heartbeat.

import { withDeadline } from '../core/deadline.ts';
import type { AgentStep, AgentView } from '../core/agent-rules.ts';
import type { ClusterRecord, HeartbeatRecord, MembershipRecord } from '../core/records.ts';
import type { AgentDeps } from './deps.ts';
import type { HeartbeatStore } from './ports/heartbeat-store.ts';
import type { NodeOps } from './ports/node-ops.ts';
import type { ProgressStore } from './ports/progress-store.ts';
import { systemTimers } from './ports/timers.ts';
import { pauser, type Pause } from './pause.ts';
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
import { GoalState } from './goal-state.ts';
import { heartbeatRecord } from './heartbeat-record.ts';
import { HeartbeatWriter } from './heartbeat-writer.ts';
import { HeartbeatLoop } from './heartbeat-loop.ts';
import { AddressKeeper } from './address-keeper.ts';
import { StepExecutor } from './steps.ts';
import { wirePeerLeases, type PeerLeases } from './peer/peer-leases.ts';
import { renewsLease } from '../core/agent-rules.ts';

export type { AgentDeps, AgentLogger } from './deps.ts';
export type { HeartbeatStore, NodeOps, ProgressStore };

export class Agent {
  private readonly known: GoalState;
  private readonly hooks: SiteHooks;
  /** Steps done in the current term, on disk (pg_auto_failover's keeper state). */
  private readonly done: ProgressKeeper;
  private readonly boot: BootGate;
  private readonly stopping = new AbortController();
  private readonly pause: Pause;
  private readonly lease: LeaseKeeper;
  private readonly local: LocalChecks;
  private readonly primaryChecks: PrimaryChecks;
  private readonly address: AddressKeeper;
  private readonly steps: StepExecutor;
  private readonly follower: GoalFollower;
  private readonly beats: HeartbeatWriter;
  private readonly heartbeats: HeartbeatLoop;
  /** Peer leases, when configured: this member's vouches, and this primary's asks for them. */
  private readonly peerLeases: PeerLeases | undefined;
  private loops: Promise<void>[] = [];
  private firstCheckDone: Promise<void> = Promise.resolve();
  /** Cut the heartbeat's wait short when a verdict changes or an action is reported. */
  private readonly wakeHeartbeat = new Wake();

  constructor(private readonly deps: AgentDeps) {
    const stopping = this.stopping.signal;
    const pause = (this.pause = pauser(deps.timers ?? systemTimers, stopping));
    const news = () => this.wakeHeartbeat.wake();
    const known = (this.known = new GoalState(deps.config.nodeId, deps.logger, {
      primaryChanged: () => this.lease.wakeRenewal.wake(),
      roleChangeBegan: () => this.local.wake.wake(),
    }));
    const underWay = () => known.roleChangeUnderWay();
    this.local = new LocalChecks(deps.config, deps.logger, {
      roleChangeUnderWay: underWay,
      news,
      becameWritable: () => this.lease.wakeWatch.wake(),
      healthChanged: (previous, next) => this.hooks.onHealthChange(previous.status, next.status, next.reason),
      pause,
      stopping,
    });
    this.beats = new HeartbeatWriter(deps, {
      goal: () => known.goal,
      membership: () => known.membership,
      goalRenewedMonoMs: () => this.lease.goalRenewedMonoMs,
      learned: (membership, cluster) => known.learnMembership(membership, cluster),
      // The first renewal of a term goes out before the heartbeat that follows it, as a new primary's
      // lease must be held before anything may judge it; the renewal loop keeps it up from there.
      beforeWrite: async (cluster, agentStatus) => {
        if (agentStatus === 'UP' && cluster) await this.lease.renewIfDue(cluster, this.deps.store);
      },
      heartbeat: (agentStatus, seq) => this.currentHeartbeat(agentStatus, seq),
    });
    this.primaryChecks = new PrimaryChecks(deps.config, deps.ops, deps.logger, {
      primary: () => known.otherPrimary(),
      news,
      pause,
      stopping,
    });
    this.address = new AddressKeeper(deps.ops, deps.logger, {
      nodeId: deps.config.nodeId,
      term: () => known.term,
      demoteStopped: () => this.local.demoteStopped,
      writable: () => this.local.writable(),
    });
    const { config, clock, logger, ops, leaseMemory, watchdog } = deps;
    this.lease = new LeaseKeeper(
      { config, clock, logger, leaseStore: deps.leaseStore ?? deps.store, ops, leaseMemory, watchdog },
      {
        goal: () => known.goal,
        term: () => known.term,
        view: (goal) => this.view(goal, known.membership),
        writable: () => this.local.writable(),
        renewed: (after) => this.renewed(after),
        selfFenced: () => this.selfFenced(),
        pause,
        stopping,
      },
    );
    this.done = new ProgressKeeper(deps.progressStore, deps.logger);
    this.peerLeases = wirePeerLeases(deps, {
      known,
      primaryChecks: this.primaryChecks,
      beats: this.beats,
      lease: this.lease,
      local: this.local,
      renews: (goal) => renewsLease(this.view(goal, known.membership)),
      pause,
      stopping,
    });
    this.follower = new GoalFollower(deps, {
      term: () => known.term,
      view: (goal, membership) => this.view(goal, membership),
      learnGoal: (goal) => known.learn(goal),
      selfFence: (reason) => this.lease.selfFence(reason),
      execute: (step, goal, membership, reason) => this.steps.execute(step, goal, membership, reason),
      news,
    });
    this.boot = new BootGate(deps, { goal: () => known.goal, term: () => known.term });
    this.hooks = new SiteHooks({
      config,
      ops,
      store: deps.store,
      logger,
      clock,
      term: () => known.term,
      membership: () => known.membership,
    });
    this.steps = new StepExecutor(
      { ...deps, hooks: this.hooks, lease: this.lease, address: this.address },
      {
        record: (step) => this.record(step),
        forget: (step) => this.done.forget(step),
        report: (step, detail, facts) => this.follower.report(step, detail, facts),
        refreshNow: () => this.refreshNow(),
        stoppedForSwitchover: (term) => {
          this.lease.drop();
          this.local.stoppedForSwitchover(term);
        },
        forgetTimeline: () => this.local.forgetTimeline(),
        progress: () => this.done.progress,
        healthReason: () => this.local.health.reason,
        facts: () => this.local.facts,
        membership: () => known.membership,
        pause: (ms) => pause(ms),
        stopped: () => stopping.aborted,
      },
    );
    this.heartbeats = new HeartbeatLoop(deps, {
      firstCheckDone: () => this.firstCheckDone,
      write: (agentStatus) => this.beats.write(agentStatus),
      follow: () => this.follow(),
      signalBootWhenSafe: () => this.boot.signalWhenSafe(),
      // While the primary looks down from here, or a role change is under way, beat (and read the goal) more
      // often: the next step of a failover waits on this node reading it.
      busy: () =>
        (this.primaryChecks.primaryNodeId !== null && this.primaryChecks.health.status !== 'UP') || underWay(),
      pause,
      wake: this.wakeHeartbeat,
      stopping,
    });
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
    const watched = {
      target: () => this.known.otherPrimary()?.address,
      onGoal: (listener: () => void) => this.known.onChange(listener),
      pause: this.pause,
      stopping: this.stopping.signal,
    };
    if (ops.probe) {
      let markChecked: () => void = () => undefined;
      this.firstCheckDone = new Promise((resolve) => (markChecked = resolve));
      this.loops.push(this.local.loop(ops.probe, markChecked));
      this.loops.push(this.lease.watchLoop());
      this.loops.push(this.lease.renewLoop());
      if (this.peerLeases) this.loops.push(this.peerLeases.loop());
      if (ops.watch) this.loops.push(watchConnection('local', this.deps, watched, this.local.wake));
    }
    this.loops.push(this.primaryChecks.loop());
    if (ops.watch) this.loops.push(watchConnection('primary', this.deps, watched, this.primaryChecks.wake));
    this.loops.push(this.heartbeats.run());
  }

  /** Stops the loops, then says in the store that this agent has exited (bounded by `timeoutMs`). */
  async stop(timeoutMs = 3000): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled(this.loops);
    await this.peerLeases?.close();
    // Hooks have their own time limit; a stop does not wait longer than its own.
    await withDeadline(this.hooks.settled(), timeoutMs, 'hooks did not finish').catch(() => undefined);
    // A deliberate stop stands the watchdog down (the heartbeat then says so): the database keeps
    // running unwatched, and the evaluator will not fail it over automatically while it cannot be fenced.
    await this.lease.disarm('the agent is stopping');
    try {
      await withDeadline(this.beats.write('EXITED'), timeoutMs, 'marking the agent exited did not finish');
      this.deps.logger.info('agent stopped; marked EXITED in the state store');
    } catch (error) {
      this.deps.logger.warn('agent stopped without marking itself EXITED in the state store', { error: String(error) });
    }
  }

  /** The heartbeat this agent would send now. */
  currentHeartbeat(agentStatus: HeartbeatRecord['agentStatus'], seq = this.beats.sequence): HeartbeatRecord {
    const checked = this.primaryChecks.primaryNodeId;
    const beat = heartbeatRecord({
      config: this.deps.config,
      host: this.deps.host,
      bootId: this.deps.bootId,
      seq,
      sentAtMs: this.deps.clock.nowMs(),
      agentStatus,
      agentType: this.local.agentType(),
      health: this.local.health,
      facts: this.local.facts,
      term: this.known.term,
      primaryCheck: checked
        ? {
            nodeId: checked,
            health: this.peerLeases?.vote(checked, this.primaryChecks.health) ?? this.primaryChecks.health,
          }
        : null,
      action: this.follower.action,
      watchdogArmed: this.lease.watchdogArmed(),
      hookFailures: this.hooks.failed(),
    });
    this.peerLeases?.noteHeartbeat(beat, this.known.goal?.primaryNodeId === this.deps.config.nodeId);
    return beat;
  }

  /** Converges on the newest goal after a heartbeat read it: steps, then the address, then the boot gate. */
  private follow(): void {
    const { goal, membership } = this.known;
    if (!goal || !membership) return;
    void this.follower
      .apply(goal, membership)
      .then(() => this.address.sync(goal))
      .then(() => this.boot.signalWhenSafe());
  }

  /** A renewal brought the record back: a new goal in the same term (a switchover asking this primary to
   * demote) is learned here, half a heartbeat sooner on average, and acted on at once. */
  private renewed(after: ClusterRecord): void {
    const goal = this.known.goal;
    if (after.phase === goal?.phase && after.version === goal.version) return;
    this.known.learn(after);
    this.wakeHeartbeat.wake();
  }

  /** The lease keeper stopped the server: the checks forget it, and the fence is recorded and reported. */
  private selfFenced(): void {
    this.local.selfFenced();
    this.record('fence');
    this.follower.report('fenced', 'isolated: the lease could not be renewed in time');
    const ownHost = this.hooks.ownHost();
    this.hooks.track(this.hooks.run('primaryIsolated', this.hooks.baseEnv(), { h: ownHost, f: ownHost, p: '' }));
  }

  /** What the rule table looks at: this node as it is now. */
  private view(goal: ClusterRecord | undefined, membership: MembershipRecord | undefined): AgentView {
    return agentView({
      config: this.deps.config,
      ops: this.deps.ops,
      goal,
      membership,
      seenTerm: this.known.term,
      health: this.local.health,
      facts: this.local.facts,
      writable: this.local.writable(),
      demoteStopped: this.local.demoteStopped,
      primaryAnswers: this.primaryChecks.answers(goal?.primaryNodeId),
      leaseRemainingMs: this.lease.leftMs(),
      leaseHeld: this.lease.held,
      firstBeatDone: this.heartbeats.firstBeatDone,
      progress: this.done.progress,
    });
  }

  private record(step: AgentStep): void {
    this.done.record(this.known.term, step);
  }

  /** Checks the database and sends a heartbeat at once, after an action changed what it would say. */
  private async refreshNow(): Promise<void> {
    const probe = this.deps.ops.probe;
    if (probe) await this.local.refresh(probe);
    await this.beats
      .write('UP')
      .catch((error: unknown) =>
        this.deps.logger.warn('immediate heartbeat failed; the next one will carry the news', { error: String(error) }),
      );
  }
}
