// The evaluator: reads each cluster, decides with the pure core, runs the decision's actions, records it
// with a conditional write, then notifies and appends the history. Overlapping evaluators are safe: only
// the one whose write lands notifies, and a failover left half-way is simply the next decision's input.

import type { Logger } from '@aws-lambda-powertools/logger';
import { instantOf, type Clock, type Instant } from '../../core/clock.ts';
import { BUSY_RULE_IDS, decideOn, gatherFacts, type Decision, type Facts } from '../../core/decide.ts';
import type { EvaluationMetrics } from './evaluation-metrics.ts';
import { StoreConflictError } from '../../core/errors.ts';
import { sleepMs } from '../../core/deadline.ts';
import { leaseWindowMs } from '../../core/lease-timing.ts';
import { DecisionEffects } from './effects.ts';
import { NO_OBSERVATIONS, observe, type Observations } from '../../core/observations.ts';
import type { AddressMover, NodeFencer, Notifier } from '../../core/ports.ts';
import type { ClusterRecord } from '../../core/records.ts';
import type { ClusterSnapshot, ReadConsistency, StateStore } from '../../core/state-store.ts';

/**
 * How often every cluster is evaluated while all is well. The evaluator times a lease from the round
 * that first saw its renewal, so half a period is added to a node-crash failover on average; each
 * round is one Query per cluster, a glance at half price while it rests quiet (docs/benchmarks.md has
 * what it costs). Not a divisor of the lease renewal interval (500 ms): a new primary takes its lease
 * just after the round that granted it, and with 250 ms every renewal after that would land at the same
 * point of the round cycle, seen the same (long) time later in every run; measured, that added about
 * 0.07 s to the median node-crash failover. At 240 ms the renewals walk through the cycle, 20 ms a time.
 */
export const EVALUATION_PERIOD_MS = 240;
/** While a failure is suspected or a role change is under way, evaluate this often: each step is a round. */
export const BUSY_PERIOD_MS = 100;
/**
 * While a candidate promotes, evaluate this often: the other standbys follow it only once its promotion is
 * recorded, and with a synchronous standby no commit is acknowledged until one of them does. The phase
 * lasts a tenth of a second or so, a few requests.
 */
export const PROMOTING_PERIOD_MS = 25;

/** How soon the next round should come, slowest first. */
const PACES = ['quiet', 'busy', 'promoting'] as const;
export type RoundPace = (typeof PACES)[number];

/** The pace a cluster asks for after `decision`. */
function paceAfter(decision: Decision): RoundPace {
  if (decision.rule === 'awaiting-promotion' || decision.next?.phase === 'promoting') return 'promoting';
  const underWay = decision.next !== null && decision.next.phase !== 'steady' && decision.next.phase !== 'halted';
  return BUSY_RULE_IDS.has(decision.rule) || underWay ? 'busy' : 'quiet';
}

type Judged = { snapshot: ClusterSnapshot; at: Instant; facts: Facts; decision: Decision };

/** A decision that starts a new term on members' votes, in a cluster whose primary may hold peer vouches. */
function countsVotesUnderPeerLeases({ snapshot, decision }: Judged): boolean {
  return snapshot.cluster.policy.peerLeases && decision.next !== null && decision.next.term > snapshot.cluster.term;
}

/** A decision that writes nothing, suspects nothing and needs no look before the next quiet round. */
function restsQuiet(decision: Decision): boolean {
  return decision.next === null && decision.recheckInMs === null && paceAfter(decision) === 'quiet';
}

export interface EvaluatorDeps {
  store: Pick<
    StateStore,
    | 'readSnapshot'
    | 'getCluster'
    | 'writeCluster'
    | 'recordAddressHolder'
    | 'recordNodeStopped'
    | 'appendHistory'
    | 'listClusters'
    | 'claimEvaluation'
    | 'evaluationOwner'
  >;
  /** The address mover for a cluster, by its address mode. */
  moverFor: (cluster: ClusterRecord) => AddressMover;
  /** Stops a node's instance, for clusters with fencing "ec2-stop". */
  fencerFor?: (cluster: ClusterRecord) => NodeFencer;
  notifier: Notifier;
  clock: Clock;
  logger: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  /** Who decided, for the history ("evaluator:<invocation id>"). */
  actor: string;
  /** How many clusters are evaluated at once (each evaluation is a few requests, mostly waiting). */
  concurrency?: number;
  /** CloudWatch metrics (lambdas/evaluator/evaluation-metrics.ts); none when absent. */
  metrics?: EvaluationMetrics;
  /** The period while something is under way (BUSY_PERIOD_MS unless a test says otherwise). */
  busyPeriodMs?: number;
}

/** Metrics are written once a minute (EMF lines cost by the gigabyte). */
const METRICS_FLUSH_MS = 60_000;
/**
 * How long the list of clusters serves before it is read again. Clusters are added and removed by an
 * administrator's command, so a new one waits this long at most for its first evaluation; reading the list
 * every round would be a third of the requests of a one-cluster deployment at rest. A failed evaluation (a
 * removed cluster, the store going away) has it read again at the next round.
 */
export const CLUSTER_LIST_REFRESH_MS = 5000;
/**
 * How often an invocation looks whether a newer one has taken over. Overlapping invocations are safe (only
 * the conditional write that wins is acted on): a later look costs this long of a second Lambda, once a
 * minute, against a request every round.
 */
export const OWNER_CHECK_MS = 1000;

/** Clusters evaluated at once by default: 1,000 clusters in well under a second on DynamoDB latencies. */
export const DEFAULT_CONCURRENCY = 32;

/** Runs `work` on every item, at most `limit` at a time. */
async function inPool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

export class Evaluator {
  private readonly observations = new Map<string, Observations>();
  private readonly lastRule = new Map<string, string>();
  private storeDown = false;
  /** The clusters last listed, and when (monotonic); dropped by a failed evaluation, so the next round lists. */
  private listed: { names: string[]; atMonoMs: number } | undefined;
  /** Per cluster, when (monotonic) its last decision said the facts alone change it: a lease running out. */
  private readonly rechecks = new Map<string, number>();
  /**
   * Clusters whose last decision rested quiet. Their next round first reads eventually consistently (half the
   * read cost of the most frequent request); only if that look finds anything to do or suspect is the cluster
   * read again consistently, and only a decision on a consistent read is acted on. A look a moment behind can
   * only see a change later than it happened: the lease and liveness it times are then seen later, which
   * delays a failover by at most that moment and never hastens one.
   */
  private readonly quiet = new Set<string>();
  /** Per cluster, its lease window as last read: how long this invocation must watch before its judgement is whole. */
  private readonly leaseWindows = new Map<string, number>();

  private readonly effects: DecisionEffects;

  constructor(private readonly deps: EvaluatorDeps) {
    this.effects = new DecisionEffects(deps);
  }

  /** Reads cluster `name`, adds what it shows to what has been observed of it, and decides on it. */
  private async judge(name: string, consistency: ReadConsistency) {
    const snapshot = await this.deps.store.readSnapshot(name, consistency);
    // Liveness, the lease and phase ages are judged on the monotonic clock; the wall clock only dates records.
    const at = instantOf(this.deps.clock);
    const observations = observe(
      this.observations.get(name) ?? NO_OBSERVATIONS,
      snapshot.cluster,
      snapshot.heartbeats,
      at.monoMs,
    );
    this.observations.set(name, observations);
    this.leaseWindows.set(name, leaseWindowMs(snapshot.cluster.policy, snapshot.cluster.leaseGrantedMs));
    const facts = gatherFacts({ ...snapshot, observations }, at);
    return { snapshot, at, facts, decision: decideOn(facts) };
  }

  /**
   * A new term that counts down votes, under peer leases, is decided on votes read after the record its write
   * is conditioned on: a member withdraws a down vote (to vouch) by first saying so in its heartbeat and then
   * bumping the record, so either this write fails on the bump, or the votes read after the record already
   * say the withdrawal (docs/peer-leases.md). One Query promises no order among its items; two reads do.
   */
  private async judgeAfterRecord(name: string): Promise<Judged> {
    const record = await this.deps.store.getCluster(name);
    const again = await this.judge(name, 'consistent');
    if (record && record.version === again.snapshot.cluster.version) return again;
    // The record moved between the two reads: this round writes nothing; the next one decides afresh.
    return { ...again, decision: { ...again.decision, next: null, actions: [], notices: [] } };
  }

  /** One evaluation of one cluster. Returns the decision (written or not). */
  async evaluateCluster(name: string): Promise<Decision> {
    const { store, logger } = this.deps;
    const glance = this.quiet.has(name) ? await this.judge(name, 'eventual') : undefined;
    const judged = glance && restsQuiet(glance.decision) ? glance : await this.judge(name, 'consistent');
    const { snapshot, at, facts, decision } = countsVotesUnderPeerLeases(judged)
      ? await this.judgeAfterRecord(name)
      : judged;
    if (restsQuiet(decision)) this.quiet.add(name);
    else this.quiet.delete(name);
    this.deps.metrics?.observe(facts, decision.rule);
    const completed =
      decision.next?.phase === 'steady' && snapshot.cluster.phase === 'promoted' ? snapshot.cluster.failover : null;
    if (completed) this.deps.metrics?.roleChangeCompleted(name, completed.kind, at.wallMs - completed.startedAtMs);
    if (this.lastRule.get(name) !== decision.rule)
      logger.info(`${name}: ${decision.rule}: ${decision.reason}`, {
        cluster: name,
        rule: decision.rule,
        term: snapshot.cluster.term,
      });
    this.lastRule.set(name, decision.rule);
    if (decision.recheckInMs === null) this.rechecks.delete(name);
    else this.rechecks.set(name, at.monoMs + decision.recheckInMs);
    if (!decision.next) return decision;

    try {
      await store.writeCluster(decision.next, {
        version: snapshot.cluster.version,
        leaseRenewals: decision.expectLeaseRenewals ?? snapshot.cluster.leaseRenewals,
      });
    } catch (error) {
      if (!(error instanceof StoreConflictError)) throw error;
      // Another evaluator decided first, or the primary renewed its lease: decide again next round.
      logger.info(`${name}: decision ${decision.rule} not recorded: the cluster record changed since it was read`, {
        cluster: name,
      });
      return decision;
    }
    // `decision` and `notice` are the fields the stack's metric filters count (failovers, stale heartbeats).
    logger.info(`${name}: recorded ${decision.rule} (term ${decision.next.term}, ${decision.next.phase})`, {
      cluster: name,
      decision: decision.rule,
      reason: decision.reason,
    });
    await this.effects.carryOut(snapshot, decision, decision.next);
    return decision;
  }

  /** One cluster's evaluation, or undefined when it failed: logged, and the next round tries again. */
  private async evaluateOrLog(name: string): Promise<Decision | undefined> {
    try {
      return await this.evaluateCluster(name);
    } catch (error) {
      this.deps.logger.error(`${name}: evaluation failed`, { cluster: name, error: String(error) });
      this.listed = undefined;
      return undefined;
    }
  }

  /**
   * Evaluates every cluster once. Returns the pace the busiest of them asks for: 'busy' while one is in the
   * middle of something (a suspected failure, a failover or switchover under way), 'promoting' while a
   * candidate promotes; the caller then evaluates again sooner.
   */
  async evaluateAll(): Promise<RoundPace> {
    let clusters: string[];
    try {
      clusters = await this.clusters();
    } catch (error) {
      if (!this.storeDown) {
        this.deps.logger.error('state store unreachable: nothing can be decided, nobody is promoted', {
          error: String(error),
        });
        await this.deps.notifier
          .notify('*', {
            event: 'store-unreachable',
            severity: 'SEVERE',
            subject: 'SEVERE: pgfailover state store unreachable: no failover possible',
            body: `The evaluator cannot read the state table: ${String(error)}\nNo promotion can happen until it is back. Primaries keep serving while their standbys stream from them.`,
            nodeId: null,
          })
          .catch((notifyError: unknown) =>
            this.deps.logger.error('notification failed', { error: String(notifyError) }),
          );
      }
      this.storeDown = true;
      this.deps.metrics?.storeError();
      return 'quiet';
    }
    let pace: RoundPace = 'quiet';
    await inPool(clusters, this.deps.concurrency ?? DEFAULT_CONCURRENCY, async (name) => {
      const decision = await this.evaluateOrLog(name);
      const clusterPace = decision ? paceAfter(decision) : 'quiet';
      if (PACES.indexOf(clusterPace) > PACES.indexOf(pace)) pace = clusterPace;
    });
    return pace;
  }

  /** The clusters to evaluate: the list read last, unless it is old or empty, or a failure since dropped it. */
  private async clusters(): Promise<string[]> {
    const nowMonoMs = this.deps.clock.monotonicMs();
    const listed = this.listed;
    if (listed && listed.names.length > 0 && nowMonoMs - listed.atMonoMs < CLUSTER_LIST_REFRESH_MS) return listed.names;
    const names = await this.deps.store.listClusters();
    this.listed = { names, atMonoMs: nowMonoMs };
    if (this.storeDown) this.deps.logger.info('state store reachable again');
    this.storeDown = false;
    return names;
  }

  /** Evaluates every cluster about every `periodMs` until `deadlineMonoMs` on the monotonic clock (or until `signal` aborts). */
  async runUntil(deadlineMonoMs: number, periodMs = EVALUATION_PERIOD_MS, signal?: AbortSignal): Promise<number> {
    let rounds = 0;
    const { clock, store, actor, logger } = this.deps;
    // The schedule starts an invocation a minute and each runs a little longer: the newest takes over, and
    // the older stands down once the newer has watched every lease for a whole window (never leaving a gap
    // if the newer fails). A fresh invocation counts every lease as just renewed, so handing over at its
    // first round would let a primary that died just before wait out one more lease (about 2.8 s).
    const claim = (evaluating: boolean) =>
      store
        .claimEvaluation(actor, clock.nowMs(), evaluating)
        .catch((error: unknown) => logger.warn('could not claim the evaluation', { error: String(error) }));
    await claim(false);
    let flushedAtMonoMs = clock.monotonicMs();
    let ownerCheckedAtMonoMs = Number.NEGATIVE_INFINITY;
    const watchingSinceMonoMs = clock.monotonicMs();
    let claimed = false;
    while (clock.monotonicMs() + periodMs < deadlineMonoMs && !signal?.aborted) {
      if (clock.monotonicMs() - flushedAtMonoMs >= METRICS_FLUSH_MS) {
        this.deps.metrics?.flush();
        flushedAtMonoMs = clock.monotonicMs();
      }
      const started = clock.monotonicMs();
      const checkOwner = started - ownerCheckedAtMonoMs >= OWNER_CHECK_MS;
      if (checkOwner) ownerCheckedAtMonoMs = started;
      const current = checkOwner ? await store.evaluationOwner().catch(() => undefined) : undefined;
      if (current && current.owner !== actor && current.evaluating) {
        logger.info(`a newer evaluator (${current.owner}) has taken over; this one stops`, { rounds });
        this.deps.metrics?.flush();
        return rounds;
      }
      const pace = await this.evaluateAll();
      rounds++;
      this.deps.metrics?.roundCompleted();
      if (!claimed && clock.monotonicMs() - watchingSinceMonoMs >= this.warmUpMs()) {
        claimed = true;
        await claim(true);
      }
      const busyPeriodMs = pace === 'promoting' ? PROMOTING_PERIOD_MS : (this.deps.busyPeriodMs ?? BUSY_PERIOD_MS);
      const nextTickMonoMs = started + (pace === 'quiet' ? periodMs : Math.min(periodMs, busyPeriodMs));
      await this.recheckUntil(nextTickMonoMs, signal);
      const rest = nextTickMonoMs - clock.monotonicMs();
      if (rest > 0) await sleepMs(rest, signal);
    }
    this.deps.metrics?.flush();
    return rounds;
  }

  /** How long this invocation must have watched before its leases are judged as well as its predecessor's. */
  private warmUpMs(): number {
    return Math.max(0, ...this.leaseWindows.values());
  }

  /**
   * Until the next tick, evaluates each cluster whose lease runs out before it at the moment it does, on
   * its own: a node-crash failover then waits out the lease, not the lease and part of a tick.
   */
  private async recheckUntil(nextTickMonoMs: number, signal?: AbortSignal): Promise<void> {
    const { clock } = this.deps;
    while (!signal?.aborted) {
      const soonest = Math.min(...this.rechecks.values());
      if (soonest >= nextTickMonoMs) return;
      const waitMs = soonest - clock.monotonicMs();
      if (waitMs > 0) await sleepMs(waitMs, signal);
      const now = clock.monotonicMs();
      const due = [...this.rechecks].filter(([, atMonoMs]) => atMonoMs <= now).map(([name]) => name);
      for (const name of due) this.rechecks.delete(name);
      await inPool(due, this.deps.concurrency ?? DEFAULT_CONCURRENCY, async (name) => {
        await this.evaluateOrLog(name);
      });
    }
  }
}
