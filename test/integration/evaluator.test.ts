// The evaluator Lambda handler and the evaluation loop against dynalite, with the agents' side played
// by heartbeats written to the store: decisions recorded once, overlapping evaluators, a failover left
// half-way finished by a fresh evaluator, and the history.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../core/clock.ts';
import type { Notice } from '../../core/notices.ts';
import type { AddressTarget, Notifier } from '../../core/ports.ts';
import type { HeartbeatRecord } from '../../core/records.ts';
import { createHandler } from '../../lambdas/evaluator/handler.ts';
import {
  CLUSTER_LIST_REFRESH_MS,
  EVALUATION_PERIOD_MS,
  Evaluator,
  OWNER_CHECK_MS,
} from '../../lambdas/evaluator/evaluator.ts';
import { createSwitchoverHandler } from '../../lambdas/switchover/handler.ts';
import { Logger } from '@aws-lambda-powertools/logger';
import { seedCluster, startDynalite, type TestStore } from '../support/dynalite.ts';
import { heartbeat, primaryHeartbeat } from '../support/fixtures.ts';
import { pollUntil } from '../support/poll.ts';
import { leaseWindowMs } from '../../core/lease-timing.ts';
import type { ClusterSnapshot, ReadConsistency } from '../../core/state-store.ts';

let dynamo: TestStore;
let counter = 0;
const logger = new Logger({ serviceName: 'evaluator-test', logLevel: 'ERROR' });

beforeAll(async () => {
  dynamo = await startDynalite('evaluator-test');
});
afterAll(async () => {
  await dynamo?.close();
});

/** A cluster whose primary db1 reports its database DOWN, and whose standbys confirm. */
async function clusterWithFailedPrimary(): Promise<string> {
  const name = `e${++counter}`;
  const now = Date.now();
  await seedCluster(dynamo.store, name, '10.0.0.', { nowMs: now });
  await dynamo.store.releaseLease(name, 'db1', 1);
  const beats: HeartbeatRecord[] = [
    heartbeat('db1', {
      cluster: name,
      agentType: 'idle',
      dbStatus: 'DOWN',
      dbInfo: 'database down',
      receivedLsn: null,
      replayedLsn: null,
      sentAtMs: now,
    }),
    heartbeat('db2', {
      cluster: name,
      sentAtMs: now,
      primaryCheck: { primaryNodeId: 'db1', status: 'DOWN', reason: 'refused' },
    }),
    heartbeat('db3', {
      cluster: name,
      sentAtMs: now,
      primaryCheck: { primaryNodeId: 'db1', status: 'DOWN', reason: 'refused' },
    }),
  ];
  for (const beat of beats) await dynamo.store.putHeartbeat(beat);
  return name;
}

/** Gives cluster `name` an Elastic IP, held by `holderNodeId` as far as its record says. */
async function giveElasticIp(name: string, holderNodeId: string | null): Promise<void> {
  const record = (await dynamo.store.getCluster(name))!;
  await dynamo.store.writeCluster(
    { ...record, version: record.version + 1, address: { mode: 'eip', value: '203.0.113.7', holderNodeId } },
    { version: record.version, leaseRenewals: record.leaseRenewals },
  );
}

function recordingNotifier(): Notifier & { notices: Notice[] } {
  const notices: Notice[] = [];
  return { notices, notify: async (_cluster, notice) => void notices.push(notice) };
}

function evaluatorDeps(notifier: Notifier, moves: AddressTarget[] = [], clock: Clock = systemClock) {
  return {
    store: dynamo.store,
    moverFor: () => ({ moveTo: async (target: AddressTarget) => void moves.push(target) }),
    notifier,
    clock,
    logger,
    actor: 'test',
  };
}

/**
 * The test store as an evaluator sees it with `cluster` its only cluster (the store is shared by the tests,
 * and other tests leave clusters mid-failover), counting the reads of it.
 */
function oneClusterStore(cluster: string): { store: TestStore['store']; reads: () => number } {
  let reads = 0;
  const store = new Proxy(dynamo.store, {
    get(target, property, receiver) {
      if (property === 'listClusters') return async () => [cluster];
      if (property === 'readSnapshot')
        return async (name: string) => {
          if (name === cluster) reads++;
          return target.readSnapshot(name);
        };
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store, reads: () => reads };
}

function evaluator(notifier: Notifier, moves: AddressTarget[] = [], clock: Clock = systemClock): Evaluator {
  return new Evaluator(evaluatorDeps(notifier, moves, clock));
}

describe('evaluator', () => {
  it('stands down when a newer invocation takes over, so overlapping invocations do not double the load', async () => {
    // Prepare
    const older = new Evaluator({ ...evaluatorDeps(recordingNotifier()), actor: 'evaluator:older' });
    const stop = new AbortController();
    const running = older.runUntil(Number.POSITIVE_INFINITY, 50, stop.signal);
    // Act: the next scheduled invocation claims the evaluation; the older goes on until the newer has evaluated.
    await dynamo.store.claimEvaluation('evaluator:newer', Date.now(), false);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await Promise.race([running.then(() => 'stopped'), Promise.resolve('running')])).toBe('running');
    await dynamo.store.claimEvaluation('evaluator:newer', Date.now(), true);
    // Assess: the older one returns by itself (the abort is only a safety net for a failing test).
    const timer = setTimeout(() => stop.abort(), 10_000);
    const rounds = await running;
    clearTimeout(timer);
    expect(stop.signal.aborted).toBe(false);
    expect(rounds).toBeGreaterThanOrEqual(0);
  });

  it('reads the list of clusters once per refresh period, and again at the next round after an evaluation fails', async () => {
    // Prepare: a cluster, a clock moved by hand, a store counting the list reads and able to fail a read.
    const name = await clusterWithFailedPrimary();
    let monoMs = 1_000_000;
    const clock: Clock = { nowMs: () => Date.now(), monotonicMs: () => monoMs };
    let lists = 0;
    let failReads = false;
    const { store: oneCluster } = oneClusterStore(name);
    const store = new Proxy(oneCluster, {
      get(target, property, receiver) {
        if (property === 'listClusters')
          return async () => {
            lists++;
            return [name];
          };
        if (property === 'readSnapshot' && failReads)
          return async () => {
            throw new Error('read failed');
          };
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const watching = new Evaluator({ ...evaluatorDeps(recordingNotifier(), [], clock), store });
    // Act + Assess: rounds within the refresh period use the list read first.
    for (let round = 0; round < 5; round++) {
      await watching.evaluateAll();
      monoMs += EVALUATION_PERIOD_MS;
    }
    expect(lists).toBe(1);
    monoMs += CLUSTER_LIST_REFRESH_MS;
    await watching.evaluateAll();
    expect(lists).toBe(2);
    failReads = true;
    await watching.evaluateAll();
    expect(lists).toBe(2);
    failReads = false;
    await watching.evaluateAll();
    expect(lists).toBe(3);
  });

  it('looks whether a newer invocation took over about once a second, not every round', async () => {
    // Prepare: rounds every 20 ms, counting them and the looks at who evaluates.
    const name = await clusterWithFailedPrimary();
    const { store: oneCluster, reads } = oneClusterStore(name);
    let ownerLooks = 0;
    const store = new Proxy(oneCluster, {
      get(target, property, receiver) {
        if (property === 'evaluationOwner')
          return async () => {
            ownerLooks++;
            return target.evaluationOwner();
          };
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const watching = new Evaluator({ ...evaluatorDeps(recordingNotifier()), store, busyPeriodMs: 20 });
    const stop = new AbortController();
    const startedMonoMs = systemClock.monotonicMs();
    // Act
    const running = watching.runUntil(Number.POSITIVE_INFINITY, 20, stop.signal);
    await pollUntil('fifteen reads of the cluster', () => (reads() >= 15 ? true : undefined), 10_000, 5);
    stop.abort();
    const rounds = await running;
    const elapsedMs = systemClock.monotonicMs() - startedMonoMs;
    // Assess: one look at the start, then one per OWNER_CHECK_MS.
    expect(rounds).toBeGreaterThanOrEqual(10);
    expect(ownerLooks).toBeGreaterThanOrEqual(1);
    expect(ownerLooks).toBeLessThanOrEqual(1 + Math.floor(elapsedMs / OWNER_CHECK_MS));
    expect(ownerLooks).toBeLessThan(rounds);
  });

  it('takes over from the invocation before only once it has watched every lease for a whole window', async () => {
    // Prepare: a store that notes when each claim is made (monotonic).
    const name = await clusterWithFailedPrimary();
    const { store: oneCluster } = oneClusterStore(name);
    const claims: { evaluating: boolean; atMonoMs: number }[] = [];
    const store = new Proxy(oneCluster, {
      get(target, property, receiver) {
        if (property === 'claimEvaluation')
          return async (owner: string, nowMs: number, evaluating: boolean) => {
            claims.push({ evaluating, atMonoMs: systemClock.monotonicMs() });
            return target.claimEvaluation(owner, nowMs, evaluating);
          };
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const newer = new Evaluator({ ...evaluatorDeps(recordingNotifier()), store, actor: 'evaluator:handover' });
    const stop = new AbortController();
    const startedMonoMs = systemClock.monotonicMs();
    const windowMs = leaseWindowMs((await dynamo.store.getCluster(name))!.policy);
    // Act
    const running = newer.runUntil(Number.POSITIVE_INFINITY, 50, stop.signal);
    await pollUntil(
      'the newer invocation to claim the evaluation',
      () => claims.find((claim) => claim.evaluating),
      15_000,
      20,
    );
    stop.abort();
    await running;
    // Assess: it said it was there at once, and that it evaluates (which makes the older stand down) only
    // after a lease window of watching: until then the older one, whose leases are timed, goes on.
    expect(claims[0]?.evaluating).toBe(false);
    const taken = claims.find((claim) => claim.evaluating)!;
    expect(taken.atMonoMs - startedMonoMs).toBeGreaterThanOrEqual(windowMs);
  });

  it('decides a confirmed failure once, records it in the history and notifies', async () => {
    // Prepare
    const name = await clusterWithFailedPrimary();
    const notifier = recordingNotifier();
    // Act
    const decision = await evaluator(notifier).evaluateCluster(name);
    // Assess
    expect(decision.rule).toBe('failover');
    expect(await dynamo.store.getCluster(name)).toMatchObject({ term: 2, primaryNodeId: 'db2', phase: 'promoting' });
    expect(notifier.notices.map((notice) => notice.event)).toContain('failover-started');
    const { entries } = await dynamo.store.readHistory(name);
    expect(entries.map((entry) => `${entry.kind}:${entry.event}`)).toEqual(
      expect.arrayContaining(['decision:failover', 'notice:failover-started']),
    );
    expect(entries.find((entry) => entry.event === 'failover')?.body).toMatch(/promoting db2/);
  });

  it.each([
    ['a member withdrew its down vote between the two reads: nothing is written', true, 'primary-agent-left', 1],
    ['nothing moved: the failover is written on the second read', false, 'failover', 2],
  ] as const)(
    'under peer leases, a new term is decided on votes read after its record (%s)',
    async (_case, withdrawn, rule, term) => {
      // Prepare: db1 silent, its lease released; db2 and db3 vote it down; peer leases on.
      const name = `e${++counter}`;
      const now = Date.now();
      await seedCluster(dynamo.store, name, '10.0.0.', { nowMs: now });
      await dynamo.store.releaseLease(name, 'db1', 1);
      const seeded = (await dynamo.store.getCluster(name))!;
      await dynamo.store.writeCluster(
        { ...seeded, version: seeded.version + 1, policy: { ...seeded.policy, peerLeases: true } },
        { version: seeded.version, leaseRenewals: seeded.leaseRenewals },
      );
      const vote = (nodeId: string, status: 'UP' | 'DOWN') =>
        heartbeat(nodeId, {
          cluster: name,
          sentAtMs: now,
          seq: status === 'UP' ? 2 : 1,
          primaryCheck: { primaryNodeId: 'db1', status, reason: status === 'UP' ? 'vouched for' : 'refused' },
        });
      for (const nodeId of ['db2', 'db3']) await dynamo.store.putHeartbeat(vote(nodeId, 'DOWN'));
      const before = await dynamo.store.readSnapshot(name);
      if (withdrawn) {
        // db2 withdraws: a heartbeat that no longer votes down, then the record's version moves.
        await dynamo.store.putHeartbeat(vote('db2', 'UP'));
        await dynamo.store.withdrawVote(name, 'db2', 1, Date.now());
      }
      // The first read is the mixture one Query may return: the record as it is now, the votes from before.
      let reads = 0;
      const store = new Proxy(dynamo.store, {
        get(target, property, receiver) {
          if (property === 'readSnapshot')
            return async (cluster: string, consistency?: ReadConsistency) =>
              reads++ === 0
                ? { ...before, cluster: (await target.getCluster(cluster))! }
                : target.readSnapshot(cluster, consistency);
          const value: unknown = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      });
      // Act
      const decision = await new Evaluator({ ...evaluatorDeps(recordingNotifier()), store }).evaluateCluster(name);
      // Assess
      expect(decision.rule).toBe(rule);
      expect(reads).toBe(2);
      expect((await dynamo.store.getCluster(name))?.term).toBe(term);
    },
  );

  it('lets only one of two overlapping evaluators act', async () => {
    // Prepare
    const name = await clusterWithFailedPrimary();
    const first = recordingNotifier();
    const second = recordingNotifier();
    // Act: both read the same state and decide at once.
    await Promise.all([evaluator(first).evaluateCluster(name), evaluator(second).evaluateCluster(name)]);
    // Assess: one term bump, one failover in the history, one set of notices.
    expect((await dynamo.store.getCluster(name))?.term).toBe(2);
    const decisions = (await dynamo.store.readHistory(name)).entries.filter((entry) => entry.event === 'failover');
    expect(decisions).toHaveLength(1);
    expect([...first.notices, ...second.notices].filter((notice) => notice.event === 'failover-started')).toHaveLength(
      1,
    );
  });

  it('takes no side effect for a decision whose write lost: two evaluators, one address move', async () => {
    // Prepare: a failover decided, the candidate promoted, the address (an EIP) still on the old primary
    // because its move with the grant failed.
    const name = await clusterWithFailedPrimary();
    await giveElasticIp(name, 'db1');
    const failingMover = {
      moveTo: async () => {
        throw new Error('RequestLimitExceeded');
      },
    };
    await new Evaluator({ ...evaluatorDeps(recordingNotifier()), moverFor: () => failingMover }).evaluateCluster(name);
    expect(await dynamo.store.getCluster(name)).toMatchObject({ phase: 'promoting', address: { holderNodeId: 'db1' } });
    await dynamo.store.putHeartbeat(
      primaryHeartbeat('db2', '0/5000100', [], {
        cluster: name,
        seq: 11,
        term: 2,
        sentAtMs: Date.now(),
        action: { term: 2, step: 'promoted', detail: '' },
      }),
    );
    const moves: AddressTarget[] = [];
    // Act: both read the promoted candidate at once and decide "candidate-promoted".
    const decisions = await Promise.all([
      evaluator(recordingNotifier(), moves).evaluateCluster(name),
      evaluator(recordingNotifier(), moves).evaluateCluster(name),
    ]);
    // Assess: both decided, one write won, and only its evaluator moved the address, then recorded it.
    expect(decisions.map((decision) => decision.rule)).toEqual(['candidate-promoted', 'candidate-promoted']);
    expect(moves.map((move) => move.nodeId)).toEqual(['db2']);
    expect(await dynamo.store.getCluster(name)).toMatchObject({ phase: 'promoted', address: { holderNodeId: 'db2' } });
  });

  it('moves the address to the candidate with the grant and records it, so the promotion moves nothing', async () => {
    // Prepare
    const name = await clusterWithFailedPrimary();
    await giveElasticIp(name, 'db1');
    const moves: AddressTarget[] = [];
    // Act
    const decision = await evaluator(recordingNotifier(), moves).evaluateCluster(name);
    // Assess
    expect(decision.rule).toBe('failover');
    expect(moves.map((move) => move.nodeId)).toEqual(['db2']);
    const after = await dynamo.store.getCluster(name);
    expect(after).toMatchObject({ term: 2, phase: 'promoting', address: { holderNodeId: 'db2' } });
    expect(after?.failover?.addressMovedAtMs).toEqual(expect.any(Number));
  });

  it("evaluates a cluster again the moment its suspected primary's lease runs out, not at the next tick", async () => {
    // Prepare: db1's node is silent, its peers cannot reach it, and its lease has most of its window left.
    const name = `e${++counter}`;
    const now = Date.now();
    await seedCluster(dynamo.store, name, '10.0.0.', { nowMs: now });
    for (const nodeId of ['db2', 'db3'])
      await dynamo.store.putHeartbeat(
        heartbeat(nodeId, {
          cluster: name,
          sentAtMs: now,
          primaryCheck: { primaryNodeId: 'db1', status: 'DOWN', reason: 'timed out' },
        }),
      );
    const watching = new Evaluator({
      ...evaluatorDeps(recordingNotifier()),
      store: oneClusterStore(name).store,
      busyPeriodMs: 20_000,
    });
    const stop = new AbortController();
    // Act: ticks 20 s apart, busy or not; the lease window (2.9 s) ends well before the second tick.
    const running = watching.runUntil(Number.POSITIVE_INFINITY, 20_000, stop.signal);
    const failedOver = async () => ((await dynamo.store.getCluster(name))?.term === 2 ? true : undefined);
    await pollUntil('the failover', failedOver, 15_000, 50);
    stop.abort();
    // Assess: one tick (the first round) and the failover decided between ticks, at the lease's end.
    expect(await running).toBe(1);
    const { entries } = await dynamo.store.readHistory(name);
    expect(entries.map((entry) => entry.event)).toContain('failover');
  });

  it('while a candidate promotes, looks again every few tens of ms, however slow its busy rounds', async () => {
    // Prepare: a confirmed failure; busy rounds 20 s apart, so only the promoting period brings rounds soon.
    const name = await clusterWithFailedPrimary();
    const { store, reads } = oneClusterStore(name);
    const watching = new Evaluator({ ...evaluatorDeps(recordingNotifier()), store, busyPeriodMs: 20_000 });
    const stop = new AbortController();
    // Act: the first round grants the term; the candidate (nobody plays it here) never reports promoted.
    const running = watching.runUntil(Number.POSITIVE_INFINITY, 20_000, stop.signal);
    await pollUntil('four reads of the promoting cluster', () => (reads() >= 4 ? true : undefined), 10_000, 10);
    stop.abort();
    // Assess
    expect(await running).toBeGreaterThanOrEqual(4);
    expect(await dynamo.store.getCluster(name)).toMatchObject({ term: 2, phase: 'promoting' });
  });

  it('finishes a failover that a crashed evaluator left half-way', async () => {
    // Prepare: one evaluator decided and then "crashed"; the candidate has since promoted.
    const name = await clusterWithFailedPrimary();
    await evaluator(recordingNotifier()).evaluateCluster(name);
    await dynamo.store.putHeartbeat(
      primaryHeartbeat('db2', '0/5000100', [], {
        cluster: name,
        seq: 11,
        term: 2,
        sentAtMs: Date.now(),
        action: { term: 2, step: 'promoted', detail: '' },
      }),
    );
    const moves: AddressTarget[] = [];
    // Act: a brand-new evaluator (a new invocation) looks at the cluster.
    const decision = await evaluator(recordingNotifier(), moves).evaluateCluster(name);
    // Assess
    expect(decision.rule).toBe('candidate-promoted');
    expect(await dynamo.store.getCluster(name)).toMatchObject({ term: 2, phase: 'promoted', primaryNodeId: 'db2' });
    expect(moves).toEqual([]); // address mode "none": nothing to move
  });

  it('runs as a Lambda handler until shortly before its timeout', async () => {
    // Prepare
    const name = await clusterWithFailedPrimary();
    const handler = createHandler({
      TABLE_NAME: 'evaluator-test',
      PGFAILOVER_STORE_ENDPOINT: dynamo.endpoint,
      AWS_REGION: 'local',
      EVALUATION_PERIOD_MS: '100',
      LOG_LEVEL: 'ERROR',
    });
    // Act: 5.6 s left, of which the handler keeps 5 s in reserve: a few rounds of 100 ms.
    const result = await handler({}, { awsRequestId: 'req-1', getRemainingTimeInMillis: () => 5600 });
    // Assess
    expect(result.rounds).toBeGreaterThanOrEqual(2);
    expect((await dynamo.store.getCluster(name))?.primaryNodeId).toBe('db2');
    expect((await dynamo.store.readHistory(name)).entries.find((entry) => entry.event === 'failover')?.actor).toBe(
      'evaluator:req-1',
    );
  });

  it('does not write when nothing changed', async () => {
    const name = await clusterWithFailedPrimary();
    const subject = evaluator(recordingNotifier());
    await subject.evaluateCluster(name);
    const version = (await dynamo.store.getCluster(name))?.version;
    const again = await subject.evaluateCluster(name);
    expect(again.rule).toBe('awaiting-promotion');
    expect(again.next).toBeNull();
    expect((await dynamo.store.getCluster(name))?.version).toBe(version);
  });

  it('glances at a quiet cluster with half-price reads, and acts only on what a consistent read shows', async () => {
    // Prepare: a healthy cluster; eventually consistent reads answer with `stale` while it is set.
    const name = `e${++counter}`;
    const now = Date.now();
    await seedCluster(dynamo.store, name, '10.0.0.', { nowMs: now });
    await dynamo.store.renewLease(name, 'db1', 1, 2800);
    const healthy = [
      primaryHeartbeat('db1', '0/5000000', ['db2', 'db3'], { cluster: name, sentAtMs: now }),
      heartbeat('db2', { cluster: name, sentAtMs: now }),
      heartbeat('db3', { cluster: name, sentAtMs: now }),
    ];
    for (const beat of healthy) await dynamo.store.putHeartbeat(beat);
    const reads: string[] = [];
    let stale: ClusterSnapshot | undefined;
    const store = new Proxy(dynamo.store, {
      get(target, property, receiver) {
        if (property === 'readSnapshot')
          return async (cluster: string, consistency: ReadConsistency = 'consistent') => {
            reads.push(consistency);
            return consistency === 'eventual' && stale ? stale : target.readSnapshot(cluster, consistency);
          };
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const subject = new Evaluator({ ...evaluatorDeps(recordingNotifier()), store });
    // Act: a first look (consistent, nothing known yet), then quiet rounds.
    const first = await subject.evaluateCluster(name);
    const second = await subject.evaluateCluster(name);
    // Assess
    expect(first.next).toBeNull();
    expect(second.rule).toBe(first.rule);
    expect(reads).toEqual(['consistent', 'eventual']);

    // Act: a glance that shows the primary's database down (as a lagging replica could not, but say it did)
    // while the table says it is up.
    const current = await dynamo.store.readSnapshot(name);
    stale = {
      ...current,
      cluster: { ...current.cluster, leaseReleased: true },
      heartbeats: current.heartbeats.map((beat) =>
        beat.nodeId === 'db1'
          ? { ...beat, seq: beat.seq + 1, agentType: 'idle', dbStatus: 'DOWN', dbInfo: 'database down' }
          : { ...beat, seq: beat.seq + 1, primaryCheck: { primaryNodeId: 'db1', status: 'DOWN', reason: 'refused' } },
      ),
    };
    reads.length = 0;
    const third = await subject.evaluateCluster(name);
    // Assess: nothing done, the primary unchanged: the glance was checked by a consistent read.
    expect(third.next).toBeNull();
    expect((await dynamo.store.getCluster(name))?.primaryNodeId).toBe('db1');
    expect(reads).toEqual(['eventual', 'consistent']);

    // Act: the failure is real now; glances show it too.
    await dynamo.store.releaseLease(name, 'db1', 1);
    for (const beat of stale.heartbeats) await dynamo.store.putHeartbeat({ ...beat, seq: beat.seq + 1 });
    stale = undefined;
    reads.length = 0;
    await subject.evaluateCluster(name);
    const failover = await subject.evaluateCluster(name);
    // Assess: decided on consistent reads, and the cluster is no longer quiet (no more glances).
    expect(failover.rule === 'failover' || failover.rule === 'awaiting-promotion').toBe(true);
    expect((await dynamo.store.getCluster(name))?.primaryNodeId).toBe('db2');
    expect(reads.slice(1)).not.toContain('eventual');
  });

  it('reports a failed address move as SEVERE and does not record the address on the new holder', async () => {
    const name = await clusterWithFailedPrimary();
    await giveElasticIp(name, null);
    const notifier = recordingNotifier();
    const failing = new Evaluator({
      store: dynamo.store,
      moverFor: () => ({
        moveTo: async () => Promise.reject(new Error('UnauthorizedOperation: ec2:AssociateAddress')),
      }),
      notifier,
      clock: systemClock,
      logger,
      actor: 'test',
    });
    // Healthy primary (both standbys stream from it), address elsewhere: the evaluator tries to move it.
    await dynamo.store.putHeartbeat(
      primaryHeartbeat('db1', '0/5000000', ['db2', 'db3'], { cluster: name, seq: 50, sentAtMs: Date.now() }),
    );
    await dynamo.store.putHeartbeat(heartbeat('db2', { cluster: name, seq: 50, sentAtMs: Date.now() }));
    await dynamo.store.putHeartbeat(heartbeat('db3', { cluster: name, seq: 50, sentAtMs: Date.now() }));
    const decision = await failing.evaluateCluster(name);
    expect(decision.rule).toBe('address-not-on-primary');
    // The decision's write won (so this evaluator, and only it, acted), then the move failed.
    expect(notifier.notices.map((notice) => `${notice.severity} ${notice.event}`)).toEqual([
      'INFO address-assigned',
      'SEVERE address-move-failed',
    ]);
    expect(notifier.notices[1]?.body).toMatch(/UnauthorizedOperation: ec2:AssociateAddress/);
    expect((await dynamo.store.getCluster(name))?.address.holderNodeId).toBeNull();
    // A later round retries, and records the holder once the move has happened.
    const working = new Evaluator({
      store: dynamo.store,
      moverFor: () => ({ moveTo: async () => undefined }),
      notifier,
      clock: systemClock,
      logger,
      actor: 'test',
    });
    await working.evaluateCluster(name);
    expect((await dynamo.store.getCluster(name))?.address.holderNodeId).toBe('db1');
  });
});

describe('switchover Lambda', () => {
  it('records a valid request and refuses bad ones with the reason, changing nothing', async () => {
    // Prepare: a healthy cluster.
    const name = `s${++counter}`;
    const now = Date.now();
    await seedCluster(dynamo.store, name, '10.0.0.', { nowMs: now });
    await dynamo.store.putHeartbeat(
      primaryHeartbeat('db1', '0/5000000', ['db2', 'db3'], { cluster: name, sentAtMs: now }),
    );
    for (const id of ['db2', 'db3']) await dynamo.store.putHeartbeat(heartbeat(id, { cluster: name, sentAtMs: now }));
    const handler = createSwitchoverHandler({ store: dynamo.store, clock: systemClock });
    // Act
    const bad = await handler({ cluster: name }, { awsRequestId: 'r1' });
    const nameless = await handler({ cluster: name, to: 'db3' }, { awsRequestId: 'r2' });
    const witness = await handler({ cluster: name, to: 'db9', requestedBy: 'alice' }, { awsRequestId: 'r2' });
    const good = await handler({ cluster: name, to: 'db3', requestedBy: 'alice' }, { awsRequestId: 'r3' });
    // Assess
    expect(bad).toEqual({
      accepted: false,
      message: expect.stringMatching(
        /expected \{"cluster": "NAME", "to": "NODE", "requestedBy": "who is asking"\}: to: required key is missing/,
      ),
    });
    expect(nameless).toEqual({
      accepted: false,
      message: expect.stringMatching(/requestedBy: required key is missing/),
    });
    expect(witness).toEqual({ accepted: false, message: expect.stringMatching(/db9 is not in the allowed node list/) });
    expect(good.accepted).toBe(true);
    expect((await dynamo.store.getCluster(name))?.switchover).toMatchObject({
      toNodeId: 'db3',
      requestedBy: 'alice (console, Lambda request r3)',
    });
  });
});
