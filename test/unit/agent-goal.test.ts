// The agent's side of the protocol with its ports faked: what it does on each goal the evaluator writes,
// in which order, and what it refuses to do. The real processes are exercised in test/e2e.

import { systemClock, type Clock } from '../../core/clock.ts';
import type { Watchdog } from '../../agent/watchdog/watchdog.ts';
import { DeviceWatchdog } from '../../agent/watchdog/device-watchdog.ts';
import type { AgentProgress } from '../../core/agent-rules.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { Logger } from '@aws-lambda-powertools/logger';
import { Agent, type AgentDeps, type HeartbeatStore, type NodeOps } from '../../agent/agent.ts';
import type { DatabaseFacts, ProbeResult } from '../../agent/database-probe.ts';
import { parseAgentConfig } from '../../core/agent-config.ts';
import { StoreConflictError } from '../../core/errors.ts';
import { WATCHDOG_LEAD_MS } from '../../core/lease-timing.ts';
import {
  DEFAULT_CLUSTER_POLICY,
  type ClusterRecord,
  type HeartbeatRecord,
  type HistoryRecord,
  type MembershipRecord,
} from '../../core/records.ts';
import { expandPlaceholders } from '../../agent/hooks.ts';
import { SourceNotPrimaryError } from '../../agent/rejoin.ts';
import { clusterRecord, membership } from '../support/fixtures.ts';
import type { PeerChannel } from '../../agent/ports/peer-channel.ts';
import type { PeerMessage } from '../../agent/peer/peer-messages.ts';
import { VouchInMemory } from '../../agent/peer/vouch-file.ts';
import { pollUntil } from '../support/poll.ts';

const standbyFacts: DatabaseFacts = {
  inRecovery: true,
  timeline: 1,
  currentLsn: null,
  receivedLsn: '0/5000000',
  replayedLsn: '0/5000000',
  replayLagMs: 0,
  replication: [],
  upstream: '10.0.1.10:5432',
};
const primaryFacts: DatabaseFacts = {
  inRecovery: false,
  timeline: 1,
  currentLsn: '0/5000000',
  receivedLsn: null,
  replayedLsn: null,
  replayLagMs: null,
  replication: [],
  upstream: null,
};

/** A switchover to db2 under way: the cluster record's phase and request. */
const SWITCHOVER_TO_DB2 = {
  phase: 'demoting',
  switchover: { toNodeId: 'db2', requestedAtMs: 0, requestedBy: 'dba' },
} as const;

class FakeWorld {
  record: ClusterRecord = clusterRecord();
  members: MembershipRecord = membership(['db1', 'db2', 'db3'], ['db2', 'db3']);
  facts: DatabaseFacts = standbyFacts;
  dbUp = true;
  /** The server answers the check only to refuse it (no free connection slot: SQLSTATE 53300). */
  dbRefuses = false;
  /** When the last fence ran, on the monotonic clock. */
  fencedAtMonoMs: number | null = null;
  calls: string[] = [];
  beats: HeartbeatRecord[] = [];
  storeDown = false;
  hookExit = 0;
  /** standby.signal is in the data directory. */
  marked = true;
  readySignals: string[] = [];
  /** Hooks never finish (a site script stuck on the network). */
  hookHangs = false;
  /** Addresses whose database answers a remote check: the primary's as the membership has it (no port). */
  answering: string[] = ['10.0.1.10'];
  /** What each peer's database reports when read directly, by address; a peer not listed does not answer. */
  peers: Record<string, DatabaseFacts> = { '10.0.1.12': standbyFacts };
  peerReadCount = 0;
  /** What each peer reports on successive direct reads, by address (overrides `peers`). */
  peerReads: Record<string, DatabaseFacts[]> = {};
  /** A promotion lasts until the agent has checked its server (still a standby) twice. */
  slowPromote = false;
  /** A demotion's stop lasts until the agent has seen the server down and checked it twice more. */
  slowDemoteStop = false;
  /** The switchover's restart as a standby fails, after the clean stop. */
  standbyRestartFails = false;
  /** How many rejoins find the primary still in recovery (being promoted) and touch nothing. */
  sourceStillInRecovery = 0;
  /** A repoint to a peer streams its WAL here, unless this is set. */
  catchUpStalls = false;

  membershipReads = 0;
  clusterReads = 0;

  store: HeartbeatStore = {
    getMembership: async () => {
      this.membershipReads++;
      return this.reach(this.members);
    },
    getCluster: async () => {
      this.clusterReads++;
      return this.reach(this.record);
    },
    putHeartbeat: async (beat) => void this.beats.push(this.reach(beat)),
    recordRejected: async () => undefined,
    deleteRejected: async () => undefined,
    renewLease: async (_cluster, nodeId, term) => {
      this.renewAttempts++;
      if (this.renewHangs) await new Promise(() => undefined);
      this.reach(null);
      if (this.record.term !== term || this.record.primaryNodeId !== nodeId)
        throw new StoreConflictError('lease', this.record);
      this.calls.push(`renew:${term}`);
      this.record = { ...this.record, leaseRenewals: this.record.leaseRenewals + 1 };
      return this.renewAnswer ?? this.record;
    },
    releaseLease: async (_cluster, _nodeId, term) => void this.calls.push(`release:${term}`),
    withdrawVote: async (_cluster, _nodeId, term) => void this.calls.push(`withdraw:${term}`),
    appendHistory: async (entry) => void this.history.push(entry),
  };
  history: HistoryRecord[] = [];
  /** What renewals answer instead of the record (one written just before a change the agent has not seen). */
  renewAnswer: ClusterRecord | null = null;
  renewAttempts = 0;
  renewHangs = false;

  probes = 0;
  peerChecks = 0;
  /** Looks at the data directory (standby.signal, the rejoin lock). */
  fileReads = 0;

  ops: NodeOps = {
    probe: async (): Promise<ProbeResult> => {
      this.probes++;
      if (this.dbRefuses) return { kind: 'refused', reason: 'sorry, too many clients already (SQLSTATE 53300)' };
      return this.dbUp ? { kind: 'ok', facts: this.facts } : { kind: 'failed', reason: 'connection refused' };
    },
    checkPeer: async (address) => {
      this.peerChecks++;
      return this.answering.includes(address) ? { kind: 'ok' } : { kind: 'failed', reason: 'connection refused' };
    },
    promote: async () => {
      this.calls.push('promote');
      if (this.slowPromote) {
        // pg_promote() takes a while, and the agent's own checks still see a standby meanwhile.
        const probes = this.probes;
        await pollUntil(
          'two checks during the promotion',
          () => (this.probes >= probes + 2 ? true : undefined),
          5000,
          10,
        );
      }
      this.facts = primaryFacts;
    },
    probePeer: async (address) => {
      this.peerReadCount++;
      // A sequence of answers, one per read, the last repeated; else the peer's one answer.
      const sequence = this.peerReads[address];
      const facts = sequence && sequence.length > 1 ? sequence.shift() : (sequence?.[0] ?? this.peers[address]);
      return facts ? { kind: 'ok', facts } : { kind: 'failed', reason: 'timeout expired' };
    },
    repoint: async (conninfo) => {
      this.calls.push(`repoint:${conninfo.split(' ').slice(0, 2).join(' ')}`);
      const host = conninfo.split(' ')[0]?.replace('host=', '') ?? '';
      const peer = this.peers[host];
      this.facts =
        peer && !this.catchUpStalls
          ? { ...this.facts, receivedLsn: peer.receivedLsn, upstream: `${host}:5432` }
          : { ...this.facts, upstream: '10.0.1.11:5432' };
    },
    fence: async () => {
      this.calls.push('fence');
      this.fencedAtMonoMs = systemClock.monotonicMs();
      this.dbRefuses = false;
      this.dbUp = false;
      this.marked = true;
    },
    runHook: async ({ command, placeholders }) => {
      this.calls.push(`hook:${expandPlaceholders(command, placeholders)}`);
      if (this.hookHangs) await new Promise(() => undefined);
      return {
        ok: this.hookExit === 0,
        exitCode: this.hookExit,
        output: '',
        durationMs: 1,
        detail: `"${command}" exited with ${this.hookExit}`,
      };
    },
    conninfoFor: (address) => `host=${address} port=5432 user=replicator`,
    markedStandby: () => {
      this.fileReads++;
      return this.marked;
    },
    rejoinUnderWay: () => {
      this.fileReads++;
      return false;
    },
    rejoin: async (address) => {
      this.calls.push(`rejoin:${address}`);
      if (this.sourceStillInRecovery-- > 0) throw new SourceNotPrimaryError();
      this.dbUp = true;
      this.facts = { ...standbyFacts, upstream: address };
      return { how: 'rewound' } as const;
    },
    holdAddress: async (ip, hold) => void this.calls.push(`${hold ? 'up' : 'down'}:${ip}`),
    demote: async (_conninfo, stopped) => {
      this.calls.push('demote');
      if (this.slowDemoteStop) {
        // The clean stop takes a while, and the agent's own checks see the server down meanwhile.
        this.dbUp = false;
        await pollUntil(
          'a heartbeat saying the database is down',
          () => (this.lastBeat()?.dbStatus === 'DOWN' ? true : undefined),
          5000,
          10,
        );
        const probes = this.probes;
        await pollUntil('two more checks', () => (this.probes >= probes + 2 ? true : undefined), 5000, 10);
      }
      this.calls.push('stopped');
      await stopped('0/5000000');
      if (this.standbyRestartFails) {
        this.dbUp = false;
        throw new Error('pg_ctl: could not start server');
      }
      this.calls.push('restart-as-standby');
      this.facts = standbyFacts;
      this.dbUp = true;
      return '0/5000000';
    },
  };

  private reach<T>(value: T): T {
    if (this.storeDown) throw new Error('store unreachable');
    return value;
  }

  lastBeat(): HeartbeatRecord | undefined {
    return this.beats.at(-1);
  }

  /** Until the last heartbeat carries this verdict on the primary's database. */
  async untilVerdict(status: 'UP' | 'DOWN', timeoutMs: number): Promise<void> {
    await pollUntil(
      `the ${status} verdict in a heartbeat`,
      () => (this.lastBeat()?.primaryCheck?.status === status ? true : undefined),
      timeoutMs,
      10,
    );
  }
}

const agents: Agent[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop(500)));
});

/** A clock whose wall time can be stepped (NTP, VM resume) while its monotonic time runs on. */
class SteppingClock implements Clock {
  private wallOffsetMs = 0;
  nowMs(): number {
    return Date.now() + this.wallOffsetMs;
  }
  monotonicMs(): number {
    return systemClock.monotonicMs();
  }
  stepWallMs(ms: number): void {
    this.wallOffsetMs += ms;
  }
}

class RecordingWatchdog implements Watchdog {
  readonly describe = 'recording watchdog';
  deadlines: number[] = [];
  armedAtMonoMs: number[] = [];
  disarmed = 0;
  constructor(private readonly calls?: string[]) {}
  async arm(deadlineMonoMs: number): Promise<void> {
    this.calls?.push('arm');
    this.deadlines.push(deadlineMonoMs);
    this.armedAtMonoMs.push(systemClock.monotonicMs());
  }
  async disarm(): Promise<void> {
    this.disarmed++;
  }
}

/** The check timings these tests run with, with a node timeout long enough for their heartbeat interval. */
function fastTimeouts(nodeTimeoutMs: number) {
  return { localPeriodMs: 20, localTimeoutMs: 50, localTimeoutFinalMs: 20, remoteTimeoutMs: 50, nodeTimeoutMs };
}

function startAgent(
  world: FakeWorld,
  nodeId: string,
  extra: Record<string, unknown> = {},
  deps: Partial<Pick<AgentDeps, 'clock' | 'watchdog' | 'progressStore' | 'leaseMemory' | 'peers'>> = {},
): Agent {
  const config = parseAgentConfig({
    cluster: 'prod',
    nodeId,
    address: `10.0.1.${10 + Number(nodeId.slice(2)) - 1}`,
    database: { dataDirectory: '/data' },
    heartbeatIntervalMs: 50,
    timeouts: fastTimeouts(500),
    ...extra,
  });
  const agent = new Agent({
    config,
    store: world.store,
    ops: world.ops,
    clock: deps.clock ?? systemClock,
    watchdog: deps.watchdog,
    progressStore: deps.progressStore,
    leaseMemory: deps.leaseMemory,
    ...(deps.peers ? { peers: deps.peers } : {}),
    logger: new Logger({ logLevel: 'SILENT' }),
    host: { hostname: nodeId, address: config.address, dbPort: 5432, privateIp: null, instanceId: null, eniId: null },
    bootId: 'boot',
    readiness: { ready: async (status) => void world.readySignals.push(status) },
  });
  agents.push(agent);
  agent.start();
  return agent;
}

describe('agent: boot order (systemd Type=notify; PostgreSQL waits for it)', () => {
  it('an old primary coming back after a failover: ready only once standby.signal is written', async () => {
    // Prepare: db1's server is down and unmarked; the record says db2 is the primary of term 2.
    const world = new FakeWorld();
    world.dbUp = false;
    world.marked = false;
    world.record = clusterRecord({ term: 2, primaryNodeId: 'db2' });
    // Act
    startAgent(world, 'db1');
    // Assess
    await pollUntil('the ready signal', () => world.readySignals[0], 5000, 10);
    expect(world.calls).toContain('fence');
    expect(world.readySignals).toEqual([
      'standby.signal is in the data directory: PostgreSQL can only start as a standby',
    ]);
  });

  it('the primary of the term: ready once it has read the term', async () => {
    const world = new FakeWorld();
    world.facts = primaryFacts;
    world.marked = false;
    world.record = clusterRecord({ term: 3, primaryNodeId: 'db1' });
    startAgent(world, 'db1');
    await pollUntil('the ready signal', () => world.readySignals[0], 5000, 10);
    expect(world.readySignals).toEqual(['this node is the primary of term 3']);
    expect(world.calls).not.toContain('fence');
  });

  it('a new cluster with no primary recorded yet: its primary-to-be is ready, so the evaluator can record it', async () => {
    const world = new FakeWorld();
    world.dbUp = false;
    world.marked = false;
    world.record = clusterRecord({ term: 1, primaryNodeId: null });
    startAgent(world, 'db1');
    await pollUntil('the ready signal', () => world.readySignals[0], 5000, 10);
    expect(world.readySignals[0]).toMatch(/a new cluster with no primary recorded yet/);
  });

  it('an unmarked node that cannot read the term never says ready (PostgreSQL waits)', async () => {
    const world = new FakeWorld();
    world.dbUp = false;
    world.marked = false;
    world.storeDown = true;
    startAgent(world, 'db1');
    // The agent's loop runs many times in this window; nothing may be signalled whatever it does.
    await pollUntil('several heartbeat attempts', () => (world.beats.length === 0 ? true : undefined), 5000, 10);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(world.readySignals).toEqual([]);
  });
});

describe('agent: following the goal', () => {
  it('as the chosen candidate: runs the fencing hook, takes the lease, promotes, in that order', async () => {
    // Prepare
    const world = new FakeWorld();
    world.record = clusterRecord({
      term: 2,
      primaryNodeId: 'db2',
      phase: 'promoting',
      failover: {
        kind: 'failover',
        fromNodeId: 'db1',
        toNodeId: 'db2',
        startedAtMs: 0,
        reason: 'db1 down',
        promotedAtMs: null,
        addressMovedAtMs: null,
      },
    });
    // Act
    startAgent(world, 'db2', { hooks: { fence: 'fence.sh' } });
    // Assess
    await pollUntil(
      'the promotion to be reported',
      () => (world.lastBeat()?.action?.step === 'promoted' ? true : undefined),
      5000,
      10,
    );
    expect(world.calls.slice(0, 3)).toEqual(['hook:fence.sh', 'renew:2', 'promote']);
    expect(world.lastBeat()).toMatchObject({ term: 2, agentType: 'primary', action: { term: 2, step: 'promoted' } });
  });

  it.each<[string, Partial<FakeWorld>, string[], 'promoted' | 'promote-failed']>([
    ['level with the other standby: promotes at once', {}, ['renew:2', 'promote'], 'promoted'],
    [
      'behind the other standby: streams the WAL it lacks from it, then promotes',
      { peers: { '10.0.1.12': { ...standbyFacts, receivedLsn: '0/5000100', replayedLsn: '0/5000080' } } },
      ['repoint:host=10.0.1.12 port=5432', 'renew:2', 'promote'],
      'promoted',
    ],
    [
      'behind the other standby, and the WAL does not come: does not promote, so that the evaluator chooses again',
      {
        peers: { '10.0.1.12': { ...standbyFacts, receivedLsn: '0/5000100', replayedLsn: '0/5000080' } },
        catchUpStalls: true,
      },
      ['repoint:host=10.0.1.12 port=5432'],
      'promote-failed',
    ],
    [
      'the other standby does not answer: promotes (it is cut off from the new primary too)',
      { peers: {} },
      ['renew:2', 'promote'],
      'promoted',
    ],
    [
      'the other standby is still receiving what the old primary sent last: waits for its final position, then catches up to it',
      {
        peerReads: {
          '10.0.1.12': [
            { ...standbyFacts, upstream: '10.0.1.10:5432' },
            { ...standbyFacts, receivedLsn: '0/5000100', replayedLsn: '0/5000080', upstream: null },
          ],
        },
        peers: { '10.0.1.12': { ...standbyFacts, receivedLsn: '0/5000100', replayedLsn: '0/5000080', upstream: null } },
      },
      ['repoint:host=10.0.1.12 port=5432', 'renew:2', 'promote'],
      'promoted',
    ],
    [
      'the other standby streams on another timeline: not fetched from',
      {
        peers: { '10.0.1.12': { ...standbyFacts, timeline: 2, receivedLsn: '0/6000000', upstream: '10.0.1.99:5432' } },
      },
      ['renew:2', 'promote'],
      'promoted',
    ],
    [
      'the other standby is ahead, its receiver stopped and its timeline read from an old restartpoint: fetched from',
      {
        peers: {
          '10.0.1.12': {
            ...standbyFacts,
            timeline: 1,
            receivedLsn: '0/5000100',
            replayedLsn: '0/5000100',
            upstream: null,
          },
        },
        facts: { ...standbyFacts, timeline: 3 },
      },
      ['repoint:host=10.0.1.12 port=5432', 'renew:2', 'promote'],
      'promoted',
    ],
  ])('as a failover candidate %s', async (_name, setup, calls, outcome) => {
    // Prepare: db2 is chosen to replace db1; db3 (10.0.1.12) is the other standby.
    const world = Object.assign(new FakeWorld(), setup);
    world.record = clusterRecord({
      term: 2,
      primaryNodeId: 'db2',
      phase: 'promoting',
      failover: {
        kind: 'failover',
        fromNodeId: 'db1',
        toNodeId: 'db2',
        startedAtMs: 0,
        reason: 'db1 down',
        promotedAtMs: null,
        addressMovedAtMs: null,
      },
    });
    // Act
    startAgent(world, 'db2');
    // Assess
    const beat = await pollUntil(
      'the outcome to be reported',
      () => world.beats.find((candidate) => candidate.action?.step === outcome),
      5000,
      10,
    );
    // A candidate renews only once writable: its first calls are the catch-up, the lease, pg_promote().
    expect(world.calls.slice(0, calls.length)).toEqual(calls);
    if (outcome === 'promote-failed') {
      expect(world.calls).not.toContain('promote');
      expect(beat.action?.detail).toMatch(/^db3 has more WAL \(0\/5000100\) than this node.*not promoting/);
    }
    if (calls[0]?.startsWith('repoint')) expect(world.history.map((entry) => entry.event)).toContain('catch-up');
  });

  it('as a failover candidate after a silent crash: a peer whose receiver has heard nothing for seconds is read once', async () => {
    // Prepare: db3 still "streams" from the dead db1 (its receiver holds on), silent for 3 s: nothing is in flight.
    const world = new FakeWorld();
    world.peers = { '10.0.1.12': { ...standbyFacts, receiverQuietMs: 3000 } };
    world.record = clusterRecord({
      term: 2,
      primaryNodeId: 'db2',
      phase: 'promoting',
      failover: {
        kind: 'failover',
        fromNodeId: 'db1',
        toNodeId: 'db2',
        startedAtMs: 0,
        reason: 'db1 silent',
        promotedAtMs: null,
        addressMovedAtMs: null,
      },
    });
    // Act: remote timeout 1 s, so a wait for the receiver to let go would take that long.
    startAgent(world, 'db2', { timeouts: { ...fastTimeouts(5000), remoteTimeoutMs: 1000 } });
    // Assess
    await pollUntil('promoted', () => (world.calls.includes('promote') ? true : undefined), 5000, 10);
    expect(world.peerReadCount).toBe(1);
  });

  it("as a standby whose primary died: reports the timeline it streamed on, not its last restartpoint's", async () => {
    // Prepare: streaming on timeline 4 from db1.
    const world = new FakeWorld();
    world.facts = { ...standbyFacts, timeline: 4 };
    startAgent(world, 'db2');
    await pollUntil('a beat on timeline 4', () => (world.lastBeat()?.timeline === 4 ? true : undefined), 5000, 10);
    // Act: db1 dies; the receiver is gone and the server says only its last restartpoint's timeline, 2.
    world.facts = { ...standbyFacts, timeline: 2, upstream: null };
    await pollUntil(
      'a beat without a receiver',
      () => (world.lastBeat()?.upstream === null ? true : undefined),
      5000,
      10,
    );
    // Assess
    expect(world.lastBeat()?.timeline).toBe(4);
  });

  it('as the candidate: a failing fencing hook stops the promotion and is reported', async () => {
    const world = new FakeWorld();
    world.hookExit = 3;
    world.record = clusterRecord({ term: 2, primaryNodeId: 'db2', phase: 'promoting' });
    startAgent(world, 'db2', { hooks: { fence: 'fence.sh' } });
    await pollUntil(
      'the hook failure to be reported',
      () => (world.lastBeat()?.action?.step === 'fence-hook-failed' ? true : undefined),
      5000,
      10,
    );
    expect(world.calls).not.toContain('promote');
    expect(world.lastBeat()?.action?.detail).toMatch(/exited with 3/);
  });

  it("as the new primary: detaches the failed primary's host from the load balancer (%h), once promoted", async () => {
    // Prepare
    const world = new FakeWorld();
    world.record = clusterRecord({
      term: 2,
      primaryNodeId: 'db2',
      phase: 'promoting',
      failover: {
        kind: 'failover',
        fromNodeId: 'db1',
        toNodeId: 'db2',
        startedAtMs: 0,
        reason: 'db1 down',
        promotedAtMs: null,
        addressMovedAtMs: null,
      },
    });
    // Act
    startAgent(world, 'db2', { hooks: { fence: 'fence.sh %f %p', loadBalancerDetach: 'detach.sh %h' } });
    // Assess
    await pollUntil(
      'the detach hook',
      () => (world.calls.some((call) => call.startsWith('hook:detach.sh')) ? true : undefined),
      5000,
      10,
    );
    expect(world.calls).toContain("hook:fence.sh '10.0.1.10' '10.0.1.11'");
    expect(world.calls.indexOf("hook:detach.sh '10.0.1.10'")).toBeGreaterThan(world.calls.indexOf('promote'));
    expect(world.history.map((entry) => entry.event)).toEqual(
      expect.arrayContaining(['hook-fence', 'hook-loadBalancerDetach']),
    );
  });

  it('when its database fails: runs the db-failure and detach hooks (%h itself); attach when it returns; a failure is in the heartbeat until a run succeeds', async () => {
    // Prepare
    const world = new FakeWorld();
    world.hookExit = 4;
    startAgent(world, 'db3', {
      hooks: { dbFailure: 'dbdown.sh %h', loadBalancerDetach: 'detach.sh %h', loadBalancerAttach: 'attach.sh %h' },
    });
    await pollUntil('a first heartbeat', () => world.lastBeat(), 5000, 10);
    // Act
    world.dbUp = false;
    // Assess
    await pollUntil(
      'the failure hooks, reported failed in the heartbeat',
      () => ((world.lastBeat()?.hookFailures.length ?? 0) === 2 ? true : undefined),
      5000,
      10,
    );
    expect(world.calls).toEqual(expect.arrayContaining(["hook:dbdown.sh '10.0.1.12'", "hook:detach.sh '10.0.1.12'"]));
    expect(world.lastBeat()?.hookFailures.map((failure) => [failure.hook, failure.exitCode])).toEqual(
      expect.arrayContaining([
        ['dbFailure', 4],
        ['loadBalancerDetach', 4],
      ]),
    );
    const failed = world.history.find((entry) => entry.event === 'hook-dbFailure');
    expect(failed).toMatchObject({
      kind: 'notice',
      severity: 'WARNING',
      subject: 'dbFailure hook on db3 exited with 4',
    });
    expect(failed?.body).toMatch(/Command: dbdown.sh %h\nExit code: 4/);
    // Act: the database returns, and the site scripts work again.
    world.hookExit = 0;
    world.dbUp = true;
    // Assess
    await pollUntil(
      'the attach hook',
      () => (world.calls.includes("hook:attach.sh '10.0.1.12'") ? true : undefined),
      5000,
      10,
    );
    expect(world.calls.filter((call) => call.startsWith('hook:dbdown.sh'))).toHaveLength(1);
  });

  it.each([
    ['still answers: refuses to promote', ['203.0.113.7:5432'], 'promote-failed'],
    ['no longer answers: promotes', [], 'promoted'],
  ])('as the candidate, checking the cluster address first, when it %s', async (_name, answering, step) => {
    const world = new FakeWorld();
    world.answering = answering;
    world.record = clusterRecord({
      term: 2,
      primaryNodeId: 'db2',
      phase: 'promoting',
      address: { mode: 'eip', value: '203.0.113.7', holderNodeId: 'db1', allocationId: 'eipalloc-01' },
    });
    startAgent(world, 'db2', { checkAddressBeforePromotion: true });
    await pollUntil('the outcome', () => (world.lastBeat()?.action?.term === 2 ? true : undefined), 5000, 10);
    expect(world.lastBeat()?.action?.step).toBe(step);
    expect(world.calls.includes('promote')).toBe(step === 'promoted');
  });

  it('as the new primary: runs the post-promotion hook only once the address has moved', async () => {
    const world = new FakeWorld();
    world.record = clusterRecord({ term: 2, primaryNodeId: 'db2', phase: 'promoting' });
    startAgent(world, 'db2', { hooks: { postPromotion: 'post.sh' } });
    await pollUntil('promotion', () => (world.calls.includes('promote') ? true : undefined), 5000, 10);
    expect(world.calls).not.toContain('hook:post.sh');
    world.record = { ...world.record, phase: 'promoted' };
    await pollUntil(
      'the post-promotion hook',
      () => (world.calls.includes('hook:post.sh') ? true : undefined),
      5000,
      10,
    );
  });

  it('as another standby: repoints to the new primary and reports once it streams from it', async () => {
    const world = new FakeWorld();
    world.record = clusterRecord({ term: 2, primaryNodeId: 'db2', phase: 'promoted' });
    startAgent(world, 'db3');
    await pollUntil('repointed', () => (world.lastBeat()?.action?.step === 'repointed' ? true : undefined), 5000, 10);
    expect(world.calls.filter((call) => call.startsWith('repoint'))).toEqual(['repoint:host=10.0.1.11 port=5432']);
    expect(world.lastBeat()).toMatchObject({ term: 2, upstream: '10.0.1.11:5432' });
  });

  it('as a stopped old primary with automatic rejoin: waits while the primary is still being promoted, then rejoins it', async () => {
    // Prepare
    const world = new FakeWorld();
    world.record = clusterRecord({ term: 2, primaryNodeId: 'db2', phase: 'steady' });
    world.record.policy = { ...world.record.policy, autoRejoin: true };
    world.dbUp = false;
    world.answering = ['10.0.1.11'];
    world.sourceStillInRecovery = 2;
    // Act
    startAgent(world, 'db1');
    await pollUntil('rejoined', () => (world.lastBeat()?.action?.step === 'rejoined' ? true : undefined), 5000, 10);
    // Assess: refused twice without a failure reported (nothing was touched), then done once.
    expect(world.calls.filter((call) => call.startsWith('rejoin'))).toEqual([
      'rejoin:10.0.1.11',
      'rejoin:10.0.1.11',
      'rejoin:10.0.1.11',
    ]);
    expect(world.beats.map((beat) => beat.action?.step)).not.toContain('rejoin-failed');
  });

  it('with automatic rejoin: a standby that stops again later in the same term is rejoined again (found by the simulation)', async () => {
    // Prepare: rejoined once
    const world = new FakeWorld();
    world.record = clusterRecord({ term: 2, primaryNodeId: 'db2', phase: 'steady' });
    world.record.policy = { ...world.record.policy, autoRejoin: true };
    world.dbUp = false;
    world.answering = ['10.0.1.11'];
    startAgent(world, 'db1');
    await pollUntil('rejoined', () => (world.calls.includes('rejoin:10.0.1.11') ? true : undefined), 5000, 10);
    // Act: its server crashes again
    world.dbUp = false;
    // Assess
    await pollUntil(
      'rejoined a second time',
      () => (world.calls.filter((call) => call === 'rejoin:10.0.1.11').length === 2 ? true : undefined),
      5000,
      10,
    );
  });

  it('as a writable node that is not the primary of the current term: fences itself', async () => {
    const world = new FakeWorld();
    world.facts = primaryFacts;
    world.record = clusterRecord({ term: 3, primaryNodeId: 'db2', phase: 'steady' });
    startAgent(world, 'db1');
    await pollUntil('fenced', () => (world.calls.includes('fence') ? true : undefined), 5000, 10);
    expect(world.calls).not.toContain('renew:3');
  });

  it('ignores a goal from an older term than it has seen', async () => {
    // Prepare: the agent has seen term 3 (db2 primary); a stale read says term 2 with db3 promoting.
    const world = new FakeWorld();
    world.record = clusterRecord({ term: 3, primaryNodeId: 'db2', phase: 'steady' });
    startAgent(world, 'db3');
    await pollUntil('term 3 seen', () => (world.lastBeat()?.term === 3 ? true : undefined), 5000, 10);
    // Act
    world.record = clusterRecord({ term: 2, primaryNodeId: 'db3', phase: 'promoting' });
    const beatsBefore = world.beats.length;
    await pollUntil('more heartbeats', () => (world.beats.length > beatsBefore + 5 ? true : undefined), 5000, 10);
    // Assess
    expect(world.calls).not.toContain('promote');
    expect(world.lastBeat()?.term).toBe(3);
  });

  it('as the primary: renews its lease every heartbeat', async () => {
    const world = new FakeWorld();
    world.facts = primaryFacts;
    startAgent(world, 'db1');
    await pollUntil(
      'three renewals',
      () => (world.calls.filter((call) => call === 'renew:1').length >= 3 ? true : undefined),
      5000,
      10,
    );
    expect(world.calls).not.toContain('fence');
  });

  it('as the primary: learns the goal from its renewals, and reads the cluster record again once they stop', async () => {
    // Prepare
    const world = new FakeWorld();
    world.facts = primaryFacts;
    startAgent(world, 'db1');
    await pollUntil('renewals', () => (world.calls.includes('renew:1') ? true : undefined), 5000, 10);
    const readsBefore = world.clusterReads;
    const beatsBefore = world.beats.length;
    await pollUntil('ten more heartbeats', () => (world.beats.length >= beatsBefore + 10 ? true : undefined), 5000, 10);
    const readsWhileRenewing = world.clusterReads - readsBefore;
    // Act: a failover elsewhere (term 2): the renewals conflict from now on.
    world.record = clusterRecord({ term: 2, primaryNodeId: 'db2', version: 5 });
    // Assess: at most one read in ten beats while renewals bring the record; the new term is read and acted on.
    expect(readsWhileRenewing).toBeLessThanOrEqual(1);
    await pollUntil('fenced in term 2', () => (world.calls.includes('fence') ? true : undefined), 5000, 10);
    expect(world.clusterReads).toBeGreaterThan(readsBefore + readsWhileRenewing);
  });

  it('reads the membership with its first heartbeat and then rarely, and at once when the goal names a node it does not know', async () => {
    // Prepare
    const world = new FakeWorld();
    startAgent(world, 'db2');
    const beatsBefore = world.beats.length;
    await pollUntil('ten heartbeats', () => (world.beats.length >= beatsBefore + 10 ? true : undefined), 5000, 10);
    const readsInTenBeats = world.membershipReads;
    // Act: db4 is allowed and becomes the primary of term 2.
    world.members = membership(['db1', 'db2', 'db3', 'db4'], ['db2', 'db3', 'db4']);
    world.record = clusterRecord({ term: 2, primaryNodeId: 'db4', version: 5 });
    // Assess: it repoints to db4, whose address only the new membership has.
    await pollUntil(
      'repointed to db4',
      () => (world.calls.includes('repoint:host=10.0.1.13 port=5432') ? true : undefined),
      5000,
      10,
    );
    expect(readsInTenBeats).toBe(1);
    expect(world.membershipReads).toBeGreaterThan(1);
  });

  it('as a primary whose renewals hang: gives each up, then sends a fresh one every 100 ms without waiting', async () => {
    // Prepare: a primary renewing normally (every 400 ms with these settings' 500 ms heartbeats).
    const world = new FakeWorld();
    world.facts = primaryFacts;
    startAgent(world, 'db1', {
      heartbeatIntervalMs: 500,
      timeouts: fastTimeouts(5000),
    });
    await pollUntil('a renewal', () => (world.calls.includes('renew:1') ? true : undefined), 5000, 10);
    // Act: the store stops answering renewals (a blip: requests hang).
    world.renewHangs = true;
    const before = world.renewAttempts;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // Assess: the first hung attempt is given up after ~0.5 s; from then on one goes out every ~100 ms
    // (at most four in flight), where waiting on each would have sent two or three in all.
    expect(world.renewAttempts - before).toBeGreaterThanOrEqual(4);
    world.renewHangs = false;
    await pollUntil(
      'renewed again',
      () => (world.calls.filter((c) => c === 'renew:1').length > 1 ? true : undefined),
      5000,
      10,
    );
  });

  it('as a primary whose database failed: fences it, then releases the lease', async () => {
    const world = new FakeWorld();
    world.facts = primaryFacts;
    startAgent(world, 'db1');
    await pollUntil('a renewal', () => (world.calls.includes('renew:1') ? true : undefined), 5000, 10);
    world.dbUp = false;
    await pollUntil('fence and release', () => (world.calls.includes('release:1') ? true : undefined), 5000, 10);
    expect(world.calls.indexOf('fence')).toBeLessThan(world.calls.indexOf('release:1'));
  });

  it('as a primary whose database fails just after a pause it has not yet learned: reads the goal afresh and does not fence', async () => {
    // Prepare: renewals keep answering with the record from before the pause (the race of a DBA who
    // pauses and restarts at once); the heartbeat then has no reason to read the record itself.
    const world = new FakeWorld();
    world.facts = primaryFacts;
    startAgent(world, 'db1');
    await pollUntil('a renewal', () => (world.calls.includes('renew:1') ? true : undefined), 5000, 10);
    world.renewAnswer = world.record;
    world.record = {
      ...world.record,
      version: world.record.version + 1,
      pause: { sinceMs: Date.now(), by: 'dba', reason: 'minor upgrade' },
    };
    // Act
    world.dbUp = false;
    // Assess: several heartbeats report the database down, and it is neither fenced nor its lease released.
    const beatsBefore = world.beats.length;
    await pollUntil(
      'five heartbeats reporting the database down',
      () => (world.beats.slice(beatsBefore).filter((beat) => beat.dbStatus === 'DOWN').length >= 5 ? true : undefined),
      5000,
      10,
    );
    expect(world.calls.filter((call) => call === 'fence' || call.startsWith('release'))).toEqual([]);
    expect(world.calls.filter((call) => call.startsWith('renew')).length).toBeGreaterThan(1);
  });

  it.each([
    ['no standby streams from it', []],
    // pg_stat_replication keeps a silently cut standby "streaming" for wal_sender_timeout: no proof.
    ['both database standbys seem to stream from it', ['db2', 'db3']],
  ])(
    'as a primary cut off from the store (%s): it stops its database before the lease ends',
    async (_name, streaming) => {
      // Prepare: a short lease, so the test runs in well under a second.
      const world = new FakeWorld();
      world.record = clusterRecord({ policy: { ...clusterRecord().policy, leaseDurationMs: 800 } });
      world.facts = {
        ...primaryFacts,
        replication: streaming.map((name) => ({
          applicationName: name,
          clientAddr: null,
          state: 'streaming',
          syncState: 'async',
          sentLsn: null,
          flushLsn: null,
          replayLsn: null,
        })),
      };
      startAgent(world, 'db1');
      await pollUntil('a renewal', () => (world.calls.includes('renew:1') ? true : undefined), 5000, 10);
      // Act
      world.storeDown = true;
      const cutAt = performance.now();
      // Assess
      await pollUntil('the self-fence', () => (world.calls.includes('fence') ? true : undefined), 5000, 10);
      expect(performance.now() - cutAt).toBeLessThan(800);
    },
  );

  it('as a primary whose wall clock steps back 30 s as it is cut off: the lease still ends on time (monotonic)', async () => {
    // Prepare
    const world = new FakeWorld();
    world.record = clusterRecord({ policy: { ...clusterRecord().policy, leaseDurationMs: 800 } });
    world.facts = primaryFacts;
    const clock = new SteppingClock();
    startAgent(world, 'db1', {}, { clock });
    await pollUntil('a renewal', () => (world.calls.includes('renew:1') ? true : undefined), 5000, 10);
    // Act
    clock.stepWallMs(-30_000);
    world.storeDown = true;
    const cutAt = performance.now();
    // Assess
    await pollUntil('the self-fence', () => (world.calls.includes('fence') ? true : undefined), 5000, 10);
    expect(performance.now() - cutAt).toBeLessThan(800);
  });

  it('as a primary whose server is full (its check refused: UNKNOWN): keeps renewing, and still stops it once it cannot', async () => {
    // Prepare
    const world = new FakeWorld();
    world.record = clusterRecord({ policy: { ...clusterRecord().policy, leaseDurationMs: 800 } });
    world.facts = primaryFacts;
    startAgent(world, 'db1');
    await pollUntil('a renewal', () => (world.calls.includes('renew:1') ? true : undefined), 5000, 10);
    // Act: a connection storm fills max_connections
    world.dbRefuses = true;
    await pollUntil('an UNKNOWN verdict', () => (world.lastBeat()?.dbStatus === 'UNKNOWN' ? true : undefined), 5000, 5);
    const renewals = world.renewAttempts;
    // Assess: two leases' worth of renewals later, still renewing and not stopped
    await pollUntil('renewals', () => (world.renewAttempts >= renewals + 4 ? true : undefined), 5000, 10);
    expect(world.calls).not.toContain('fence');
    // Act: now cut off from the store as well
    world.storeDown = true;
    // Assess: the server whose role it cannot check is stopped at the end of its lease all the same
    await pollUntil('the self-fence', () => (world.calls.includes('fence') ? true : undefined), 5000, 10);
  });

  it('restarted beside its server while cut off from the store: stops it before the lease its predecessor recorded ends', async () => {
    // Prepare: the last renewal the store granted the previous agent runs 600 ms more
    const world = new FakeWorld();
    world.facts = primaryFacts;
    world.dbRefuses = true;
    world.storeDown = true;
    const recordedEndMonoMs = systemClock.monotonicMs() + 600;
    const saved: (number | null)[] = [];
    const leaseMemory = { load: () => recordedEndMonoMs, save: (end: number | null) => void saved.push(end) };
    // Act
    startAgent(world, 'db1', {}, { leaseMemory });
    // Assess: fenced before that lease could end (the evaluator may promote once it has), and the lease dropped
    await pollUntil('the self-fence', () => (world.fencedAtMonoMs !== null ? true : undefined), 5000, 10);
    expect(world.fencedAtMonoMs).toBeLessThanOrEqual(recordedEndMonoMs - 100);
    expect(saved.at(-1)).toBeNull();
  });

  it('restarted beside a standby whose check is refused: leaves it running (a standby holds no lease)', async () => {
    // Prepare
    const world = new FakeWorld();
    world.dbRefuses = true;
    world.storeDown = true;
    const leaseMemory = { load: () => null, save: () => undefined };
    // Act
    startAgent(world, 'db2', {}, { leaseMemory });
    await pollUntil('a few checks', () => (world.probes >= 10 ? true : undefined), 5000, 10);
    // Assess
    expect(world.calls).not.toContain('fence');
  });

  it('as a new primary running a post-promotion hook that hangs: the self-fence does not wait for it', async () => {
    // Prepare
    const world = new FakeWorld();
    world.hookHangs = true;
    world.record = clusterRecord({
      term: 2,
      primaryNodeId: 'db2',
      phase: 'promoting',
      policy: { ...clusterRecord().policy, leaseDurationMs: 800 },
    });
    startAgent(world, 'db2', { hooks: { postPromotion: 'slow-post.sh' } });
    await pollUntil(
      'the promotion',
      () => (world.lastBeat()?.action?.step === 'promoted' ? true : undefined),
      5000,
      10,
    );
    world.record = { ...world.record, phase: 'promoted' };
    await pollUntil(
      'the hook to start',
      () => (world.calls.includes('hook:slow-post.sh') ? true : undefined),
      5000,
      10,
    );
    // Act
    world.storeDown = true;
    const cutAt = performance.now();
    // Assess
    await pollUntil('the self-fence', () => (world.calls.includes('fence') ? true : undefined), 5000, 10);
    expect(performance.now() - cutAt).toBeLessThan(800);
  });

  it('with a watchdog: every renewal arms it with the lease end (less its lead), a deliberate stop disarms it', async () => {
    // Prepare
    const world = new FakeWorld();
    world.facts = primaryFacts;
    const watchdog = new RecordingWatchdog();
    const agent = startAgent(world, 'db1', {}, { watchdog });
    // Act
    await pollUntil('two armings', () => (watchdog.deadlines.length >= 2 ? true : undefined), 5000, 10);
    // Assess: armed for about leaseDurationMs - WATCHDOG_LEAD_MS from the renewal, on the monotonic clock.
    const [first, second] = watchdog.deadlines as [number, number];
    const { leaseDurationMs } = DEFAULT_CLUSTER_POLICY;
    expect(first - watchdog.armedAtMonoMs[0]!).toBeGreaterThan(leaseDurationMs - WATCHDOG_LEAD_MS - 100);
    expect(first - watchdog.armedAtMonoMs[0]!).toBeLessThanOrEqual(leaseDurationMs - WATCHDOG_LEAD_MS);
    expect(second).toBeGreaterThan(first);
    await pollUntil(
      'a heartbeat saying so',
      () => (world.lastBeat()?.watchdogArmed === true ? true : undefined),
      5000,
      10,
    );
    await agent.stop(500);
    expect(watchdog.disarmed).toBe(1);
    expect(world.lastBeat()).toMatchObject({ agentStatus: 'EXITED', watchdogArmed: false });
  });

  it('with a device watchdog that counts longer than the lease: never opens it, and every heartbeat says the node is unprotected', async () => {
    // Prepare: softdog loaded without soft_margin (60 s) against a 2.8 s lease.
    const world = new FakeWorld();
    world.facts = primaryFacts;
    let opened = 0;
    const watchdog = new DeviceWatchdog('/dev/watchdog', systemClock, {
      readCountdownMs: async () => 60_000,
      openDevice: async () => {
        opened++;
        return { write: async () => undefined, close: async () => undefined };
      },
    });
    const agent = startAgent(world, 'db1', {}, { watchdog });
    // Act: several renewals go by.
    await pollUntil(
      'three renewals',
      () => (world.calls.filter((call) => call.startsWith('renew:')).length >= 3 ? true : undefined),
      5000,
      10,
    );
    await pollUntil('a heartbeat', () => world.lastBeat(), 5000, 10);
    // Assess: the evaluator reads watchdogArmed false, which is old-primary-unfenced under fencing "watchdog".
    expect(world.lastBeat()?.watchdogArmed).toBe(false);
    expect(opened).toBe(0);
    await agent.stop(500);
  });

  it('as the candidate of a watchdog-fenced cluster: arms the watchdog before pg_promote; without one it refuses', async () => {
    // Prepare
    const record = clusterRecord({
      term: 2,
      primaryNodeId: 'db2',
      phase: 'promoting',
      policy: { ...clusterRecord().policy, fencing: 'watchdog' },
    });
    const armed = new FakeWorld();
    armed.record = record;
    const watchdog = new RecordingWatchdog(armed.calls);
    const bare = new FakeWorld();
    bare.record = record;
    // Act
    startAgent(armed, 'db2', {}, { watchdog });
    startAgent(bare, 'db2');
    // Assess
    await pollUntil(
      'the promotion',
      () => (armed.lastBeat()?.action?.step === 'promoted' ? true : undefined),
      5000,
      10,
    );
    expect(armed.calls.slice(0, 3)).toEqual(['renew:2', 'arm', 'promote']);
    await pollUntil(
      'the refusal',
      () => (bare.lastBeat()?.action?.step === 'promote-failed' ? true : undefined),
      5000,
      10,
    );
    expect(bare.lastBeat()?.action?.detail).toMatch(/no(ne)? .*watchdog/);
    expect(bare.calls).not.toContain('promote');
  });

  it('with a secondary IP: brings it up on the new primary, and takes it off when the node stops being primary', async () => {
    const world = new FakeWorld();
    world.facts = primaryFacts;
    world.record = clusterRecord({ address: { mode: 'secondary-ip', value: '10.0.1.100', holderNodeId: 'db1' } });
    startAgent(world, 'db1');
    await pollUntil('address up', () => (world.calls.includes('up:10.0.1.100') ? true : undefined), 5000, 10);
    world.record = clusterRecord({
      term: 2,
      primaryNodeId: 'db2',
      address: { mode: 'secondary-ip', value: '10.0.1.100', holderNodeId: 'db2' },
    });
    await pollUntil('address down', () => (world.calls.includes('down:10.0.1.100') ? true : undefined), 5000, 10);
    expect(world.calls.filter((call) => call === 'up:10.0.1.100')).toHaveLength(1);
    expect(world.calls.indexOf('fence')).toBeLessThan(world.calls.indexOf('down:10.0.1.100'));
  });

  it('with a secondary IP, as the primary whose database dies: keeps it until a newer term names another primary', async () => {
    // Prepare
    const world = new FakeWorld();
    world.facts = primaryFacts;
    const address = { mode: 'secondary-ip', value: '10.0.1.100', holderNodeId: 'db1' } as const;
    world.record = clusterRecord({ address });
    startAgent(world, 'db1');
    await pollUntil('address up', () => (world.calls.includes('up:10.0.1.100') ? true : undefined), 5000, 10);
    // Act: the database dies; the agent fences it and releases the lease.
    world.dbUp = false;
    await pollUntil('the lease released', () => (world.calls.includes('release:1') ? true : undefined), 5000, 10);
    const beats = world.beats.length;
    await pollUntil('two more heartbeats', () => (world.beats.length >= beats + 2 ? true : undefined), 5000, 10);
    // Assess: until the address is moved, a client sent here is refused at once rather than dropped.
    expect(world.calls).not.toContain('down:10.0.1.100');
    world.record = clusterRecord({
      term: 2,
      primaryNodeId: 'db2',
      phase: 'promoting',
      address: { ...address, holderNodeId: 'db2' },
    });
    await pollUntil('address down', () => (world.calls.includes('down:10.0.1.100') ? true : undefined), 5000, 10);
  });

  it('with a secondary IP, as the candidate: brings it up before pg_promote() and keeps it through the promotion', async () => {
    // Prepare: db2 chosen in term 2, the address already moved to it; its promotion is slow.
    const world = new FakeWorld();
    world.slowPromote = true;
    world.answering = [];
    world.record = clusterRecord({
      term: 2,
      primaryNodeId: 'db2',
      phase: 'promoting',
      address: { mode: 'secondary-ip', value: '10.0.1.100', holderNodeId: 'db2' },
    });
    // Act
    startAgent(world, 'db2');
    await pollUntil('promoted', () => (world.lastBeat()?.action?.step === 'promoted' ? true : undefined), 5000, 10);
    const beats = world.beats.length;
    await pollUntil('two more heartbeats', () => (world.beats.length >= beats + 2 ? true : undefined), 5000, 10);
    // Assess: a client sent here while it promotes is answered rather than dropped, and the address never
    // went away in between.
    expect(world.calls.indexOf('up:10.0.1.100')).toBeGreaterThan(-1);
    expect(world.calls.indexOf('up:10.0.1.100')).toBeLessThan(world.calls.indexOf('promote'));
    expect(world.calls).not.toContain('down:10.0.1.100');
  });

  it('in a switchover, as the primary: demotes itself and reports where it stopped', async () => {
    const world = new FakeWorld();
    world.answering.push('10.0.1.11'); // the target answers
    world.facts = primaryFacts;
    world.record = clusterRecord(SWITCHOVER_TO_DB2);
    startAgent(world, 'db1');
    await pollUntil('demoted', () => (world.lastBeat()?.action?.step === 'demoted' ? true : undefined), 5000, 10);
    expect(world.lastBeat()?.action).toEqual({
      term: 1,
      step: 'demoted',
      detail: 'stopped cleanly at 0/5000000',
      stoppedAtLsn: '0/5000000',
    });
    expect(world.calls.filter((call) => call === 'demote')).toHaveLength(1);
  });

  it('in a switchover, as the primary: a restart as a standby that fails after the clean stop does not undo the report', async () => {
    // Prepare
    const world = new FakeWorld();
    world.answering.push('10.0.1.11'); // the target answers
    world.standbyRestartFails = true;
    world.facts = primaryFacts;
    world.record = clusterRecord(SWITCHOVER_TO_DB2);
    // Act
    startAgent(world, 'db1');
    // Assess: the evaluator is told where it stopped, and never that the demotion failed.
    await pollUntil('demoted', () => (world.lastBeat()?.action?.step === 'demoted' ? true : undefined), 5000, 10);
    const beats = world.beats.length;
    await pollUntil('two more heartbeats', () => (world.beats.length >= beats + 2 ? true : undefined), 5000, 10);
    expect(world.beats.map((beat) => beat.action?.step)).not.toContain('demote-failed');
    expect(world.calls).not.toContain('restart-as-standby');
  });

  it('in a switchover whose target does not answer, as the primary: does not stop, and reports why', async () => {
    // Prepare
    const world = new FakeWorld();
    world.facts = primaryFacts;
    world.record = clusterRecord(SWITCHOVER_TO_DB2);
    // Act
    startAgent(world, 'db1');
    // Assess
    await pollUntil(
      'demote-failed',
      () => (world.lastBeat()?.action?.step === 'demote-failed' ? true : undefined),
      5000,
      10,
    );
    expect(world.lastBeat()?.action?.detail).toMatch(/the target db2 does not answer .*: not stopping/);
    expect(world.calls).not.toContain('demote');
    expect(world.calls).not.toContain('fence');
  });

  it('in a switchover, as the primary holding a secondary IP: keeps the address while its server stops, then takes it off before restarting as a standby', async () => {
    // Prepare
    const world = new FakeWorld();
    world.answering.push('10.0.1.11'); // the target answers
    world.slowDemoteStop = true;
    world.facts = primaryFacts;
    const address = { mode: 'secondary-ip', value: '10.0.1.100', holderNodeId: 'db1' } as const;
    world.record = clusterRecord({ address });
    startAgent(world, 'db1');
    await pollUntil('address up', () => (world.calls.includes('up:10.0.1.100') ? true : undefined), 5000, 10);
    // Act
    world.record = clusterRecord({
      address,
      ...SWITCHOVER_TO_DB2,
    });
    await pollUntil('demoted', () => (world.lastBeat()?.action?.step === 'demoted' ? true : undefined), 5000, 10);
    // Assess: clients see the shutdown's error rather than a connection that hangs, and no handshake is cut
    // in half while the postmaster still runs.
    const down = world.calls.indexOf('down:10.0.1.100');
    expect(down).toBeGreaterThan(world.calls.indexOf('stopped'));
    expect(down).toBeLessThan(world.calls.indexOf('restart-as-standby'));
    expect(world.calls.filter((call) => call === 'down:10.0.1.100')).toHaveLength(1);
    expect(world.calls.filter((call) => call === 'up:10.0.1.100')).toHaveLength(1);
  });

  it('as the switchover candidate: checks its database at once and then often, so its replay position is fresh', async () => {
    // Prepare: local checks once a minute; heartbeats every 50 ms read the goal.
    const world = new FakeWorld();
    startAgent(world, 'db2', { timeouts: { ...fastTimeouts(120_000), localPeriodMs: 60_000 } });
    await pollUntil('a first beat', () => (world.beats.length > 0 ? true : undefined), 5000, 10);
    const probesBefore = world.probes;
    // Act: the evaluator starts a switchover to db2.
    world.record = {
      ...world.record,
      version: world.record.version + 1,
      ...SWITCHOVER_TO_DB2,
    };
    // Assess: several checks long before the minute is up.
    await pollUntil(
      'checks during the switchover',
      () => (world.probes >= probesBefore + 3 ? true : undefined),
      5000,
      10,
    );
  });

  it('as a standby: checks the primary twice a second even when its own database is checked once a minute', async () => {
    // Prepare
    const world = new FakeWorld();
    // Act
    startAgent(world, 'db2', { timeouts: { ...fastTimeouts(120_000), localPeriodMs: 60_000 } });
    // Assess: a silent primary's vote must not wait for the slow local period.
    await pollUntil('three checks of the primary', () => (world.peerChecks >= 3 ? true : undefined), 5000, 10);
    expect(world.probes).toBeLessThanOrEqual(2);
  });

  it('as a standby: moves its watched connection to a new primary as soon as it learns the goal naming it', async () => {
    // Prepare: a watch that holds until it is told to stop, as a healthy server's connection does.
    const world = new FakeWorld();
    const watched: string[] = [];
    world.ops.watch = (address, signal) => {
      if (address !== undefined) watched.push(address);
      return new Promise((resolve) => signal.addEventListener('abort', () => resolve(false), { once: true }));
    };
    world.answering = ['10.0.1.10', '10.0.1.12'];
    startAgent(world, 'db2', { heartbeatIntervalMs: 100 });
    await pollUntil('the watch on db1', () => (watched.includes('10.0.1.10') ? true : undefined), 5000, 10);
    // Act: db3 becomes the primary.
    world.record = clusterRecord({ term: 2, primaryNodeId: 'db3' });
    // Assess: the watch on db1 is dropped and one on db3 opened (without a goal listener it never ends).
    await pollUntil('the watch on db3', () => (watched.at(-1) === '10.0.1.12' ? true : undefined), 5000, 10);
    expect(watched.filter((address) => address === '10.0.1.10')).toHaveLength(1);
  });

  it('as a standby whose primary looks down: reads the goal every 50 ms, but writes a heartbeat only when it says something new', async () => {
    // Prepare: heartbeats every second while all is well; the primary's database does not answer.
    const world = new FakeWorld();
    world.answering = [];
    startAgent(world, 'db2', { heartbeatIntervalMs: 1000, timeouts: fastTimeouts(5000) });
    await world.untilVerdict('DOWN', 5000);
    // Act: some 0.8 s of busy rounds with nothing new to say.
    const [readsBefore, beatsBefore] = [world.clusterReads, world.beats.length];
    await pollUntil(
      'eight more reads of the goal',
      () => (world.clusterReads >= readsBefore + 8 ? true : undefined),
      5000,
      10,
    );
    // Assess: at most the beat the steady interval asks for (ten a second before).
    expect(world.beats.length - beatsBefore).toBeLessThanOrEqual(1);
    // Something new (the primary answers again) goes out at once, without waiting for the interval.
    world.answering = ['10.0.1.10'];
    await world.untilVerdict('UP', 900);
  });

  it('as a busy standby whose WAL positions move all the time: writes them at most every 100 ms, reading the goal twice as often', async () => {
    // Prepare: the primary's database does not answer; the local check (every 20 ms) finds more WAL each time.
    const world = new FakeWorld();
    world.answering = [];
    let received = 0x5000000;
    Object.defineProperty(world, 'facts', {
      get: () => ({ ...standbyFacts, receivedLsn: `0/${(received += 0x100).toString(16).toUpperCase()}` }),
      set: () => undefined,
    });
    startAgent(world, 'db2', { heartbeatIntervalMs: 5000, timeouts: fastTimeouts(10_000) });
    await world.untilVerdict('DOWN', 5000);
    // Act: twenty busy rounds, each with a new position to tell.
    const [readsBefore, beatsBefore] = [world.clusterReads, world.beats.length];
    await pollUntil('twenty more reads', () => (world.clusterReads >= readsBefore + 20 ? true : undefined), 5000, 10);
    // Assess: positions go out, but about every other round (one a round would be 20).
    const beats = world.beats.length - beatsBefore;
    expect(beats).toBeGreaterThanOrEqual(3);
    expect(beats).toBeLessThanOrEqual(12);
  });

  it.each([
    ['the primary', 'db1', 'renew:1'],
    ['a standby', 'db2', null],
  ])(
    'as %s at rest: lease renewals (or the check that there is none to make) read no files',
    async (_who, nodeId, renewal) => {
      // Prepare: heartbeats every 20 s, so that only the renewal loop runs (every 500 ms).
      const world = new FakeWorld();
      if (nodeId === 'db1') world.facts = primaryFacts;
      startAgent(world, nodeId, { heartbeatIntervalMs: 20_000, timeouts: fastTimeouts(60_000) });
      await pollUntil('the first heartbeat', () => (world.beats.length > 0 ? true : undefined), 5000, 10);
      // The first verdicts go out at once (a few beats, each acting on the goal); then all is quiet.
      const settled = world.probes + 20;
      await pollUntil('the first verdicts sent', () => (world.probes >= settled ? true : undefined), 5000, 10);
      const [readsBefore, probesBefore, beatsBefore] = [world.fileReads, world.probes, world.beats.length];
      // Act: a second and more of the renewal loop (the local check, every 20 ms, is no part of it).
      await pollUntil('40 more checks', () => (world.probes >= probesBefore + 40 ? true : undefined), 5000, 10);
      // Assess: no heartbeat in between (which would act on the goal and may read them), renewals made.
      expect(world.beats.length).toBe(beatsBefore);
      if (renewal) expect(world.calls.filter((call) => call === renewal).length).toBeGreaterThanOrEqual(2);
      expect(world.fileReads).toBe(readsBefore);
    },
  );

  it('as the primary with slow heartbeats: learns a switchover from its next lease renewal and demotes then', async () => {
    // Prepare: heartbeats every 20 s, so only a renewal (every 500 ms) can bring the new goal in time.
    const world = new FakeWorld();
    world.answering.push('10.0.1.11'); // the target answers
    world.facts = primaryFacts;
    startAgent(world, 'db1', {
      heartbeatIntervalMs: 20_000,
      timeouts: fastTimeouts(60_000),
    });
    await pollUntil('a first renewal', () => (world.calls.includes('renew:1') ? true : undefined), 5000, 10);
    const beatsBefore = world.beats.length;
    // Act: the evaluator starts a switchover (same term).
    world.record = {
      ...world.record,
      version: world.record.version + 1,
      ...SWITCHOVER_TO_DB2,
    };
    // Assess: demoted well before the next scheduled heartbeat.
    await pollUntil('demoted', () => (world.calls.includes('demote') ? true : undefined), 5000, 10);
    expect(world.beats.length).toBeGreaterThan(beatsBefore);
  });

  it('after a restart half-way through a term: neither promotes again nor forgets the post-promotion hook, and runs it once', async () => {
    // Prepare: the candidate promotes; its agent stops before the address moved.
    const world = new FakeWorld();
    let saved: AgentProgress = { term: 0, done: [] };
    const progressStore = { load: () => saved, save: (progress: AgentProgress) => void (saved = progress) };
    world.record = clusterRecord({ term: 2, primaryNodeId: 'db2', phase: 'promoting' });
    const first = startAgent(world, 'db2', { hooks: { postPromotion: 'post.sh' } }, { progressStore });
    await pollUntil(
      'the promotion',
      () => (world.lastBeat()?.action?.step === 'promoted' ? true : undefined),
      5000,
      10,
    );
    await first.stop(500);
    // Act: a new agent process; the evaluator has meanwhile moved the address.
    world.record = { ...world.record, phase: 'promoted' };
    const second = startAgent(world, 'db2', { hooks: { postPromotion: 'post.sh' } }, { progressStore });
    await pollUntil('the hook', () => (world.calls.includes('hook:post.sh') ? true : undefined), 5000, 10);
    await second.stop(500);
    const beatsBefore = world.beats.length;
    startAgent(world, 'db2', { hooks: { postPromotion: 'post.sh' } }, { progressStore });
    await pollUntil(
      'a few heartbeats of a third run',
      () => (world.beats.length > beatsBefore + 5 ? true : undefined),
      5000,
      10,
    );
    // Assess
    expect(world.calls.filter((call) => call === 'promote')).toHaveLength(1);
    expect(world.calls.filter((call) => call === 'hook:post.sh')).toHaveLength(1);
    expect(saved).toEqual({ term: 2, done: ['promote', 'post-promotion-hook'] });
  });

  it('in a switchover, as the primary with a watchdog: stands it down once demoted (a standby has no lease)', async () => {
    const world = new FakeWorld();
    world.answering.push('10.0.1.11'); // the target answers
    world.facts = primaryFacts;
    const watchdog = new RecordingWatchdog();
    startAgent(world, 'db1', {}, { watchdog });
    await pollUntil('armed', () => (watchdog.deadlines.length > 0 ? true : undefined), 5000, 10);
    world.record = clusterRecord(SWITCHOVER_TO_DB2);
    await pollUntil('demoted', () => (world.lastBeat()?.action?.step === 'demoted' ? true : undefined), 5000, 10);
    await pollUntil('disarmed', () => (watchdog.disarmed > 0 ? true : undefined), 5000, 10);
  });
});

/** The other members as the primary's peer channel sees them: each answers every ask while `granting`. */
class FakePeers implements PeerChannel {
  asks = 0;
  granting = new Set(['db2', 'db3']);
  private readonly listeners: ((message: PeerMessage) => void)[] = [];
  send(nodeId: string, message: PeerMessage): void {
    if (message.kind !== 'ask') return;
    this.asks++;
    if (!this.granting.has(nodeId)) return;
    const answer = { ...message, kind: 'answer' as const, from: nodeId, to: message.from, granted: true, reason: 'ok' };
    queueMicrotask(() => this.listeners.forEach((listener) => listener(answer)));
  }
  onMessage(listener: (message: PeerMessage) => void): void {
    this.listeners.push(listener);
  }
  async close(): Promise<void> {}
}

const PEER_CONFIG = {
  peerLeases: { peers: { db1: '10.0.1.10:7654', db2: '10.0.1.11:7654', db3: '10.0.1.12:7654' }, keyFile: '/k' },
};
const withPeerLeases = (overrides: Partial<ClusterRecord['policy']> = {}) =>
  clusterRecord({ policy: { ...clusterRecord().policy, peerLeases: true, leaseDurationMs: 800, ...overrides } });
const peersOf = (nodeId: string) => ({
  peerLeases: {
    ...PEER_CONFIG.peerLeases,
    peers: Object.fromEntries(Object.entries(PEER_CONFIG.peerLeases.peers).filter(([id]) => id !== nodeId)),
  },
});

describe('agent: peer leases (docs/peer-leases.md)', () => {
  it('as a primary cut off from the store: keeps its server while two of three members vouch, stops it once they no longer do', async () => {
    // Prepare
    const world = new FakeWorld();
    world.record = withPeerLeases();
    world.facts = primaryFacts;
    const channel = new FakePeers();
    startAgent(world, 'db1', peersOf('db1'), { peers: { channel, memory: new VouchInMemory() } });
    await pollUntil('a renewal', () => (world.calls.includes('renew:1') ? true : undefined), 5000, 10);
    // Act: the store goes away for longer than three leases.
    world.storeDown = true;
    const asksAtCut = channel.asks;
    await pollUntil(
      'rounds for three leases (250 ms apart)',
      () => (channel.asks >= asksAtCut + 2 * 10 ? true : undefined),
      10_000,
      20,
    );
    // Assess
    expect(world.calls).not.toContain('fence');
    // Act: the members stop vouching (the primary is cut off from them too).
    channel.granting.clear();
    // Assess: stopped before the last vouch it counted ran out.
    await pollUntil('the self-fence', () => (world.calls.includes('fence') ? true : undefined), 5000, 10);
  });

  it('as a primary vouched for by one member of four voters: itself and db2 are no majority, stopped at its store lease', async () => {
    // Prepare
    const world = new FakeWorld();
    world.record = withPeerLeases();
    world.facts = primaryFacts;
    const channel = new FakePeers();
    channel.granting = new Set(['db2']);
    world.members = membership(['db1', 'db2', 'db3', 'w1'], ['db2', 'db3']);
    startAgent(world, 'db1', peersOf('db1'), { peers: { channel, memory: new VouchInMemory() } });
    await pollUntil('a renewal', () => (world.calls.includes('renew:1') ? true : undefined), 5000, 10);
    // Act
    world.storeDown = true;
    // Assess: itself and db2 are two of four.
    await pollUntil('the self-fence', () => (world.calls.includes('fence') ? true : undefined), 5000, 10);
  });

  it('as a primary restarted while the store is away: asks on what it kept (its view and lease files) and keeps its server while vouched for', async () => {
    // Prepare: nothing can be read; the predecessor kept a lease 600 ms long and what peer leases need.
    const world = new FakeWorld();
    world.record = withPeerLeases();
    world.facts = primaryFacts;
    world.storeDown = true;
    const channel = new FakePeers();
    const recordedEndMonoMs = systemClock.monotonicMs() + 600;
    const leaseMemory = { load: () => recordedEndMonoMs, save: () => undefined };
    const memory = new VouchInMemory({
      promise: null,
      bound: null,
      view: { term: 1, primaryNodeId: 'db1', peerLeases: true, leaseDurationMs: 800, voters: ['db1', 'db2', 'db3'] },
    });
    // Act
    startAgent(world, 'db1', peersOf('db1'), { leaseMemory, peers: { channel, memory } });
    // Assess: well past the kept lease, still serving; stopped once the members no longer vouch.
    await pollUntil('rounds for three leases', () => (channel.asks >= 2 * 10 ? true : undefined), 10_000, 20);
    expect(world.calls).not.toContain('fence');
    channel.granting.clear();
    await pollUntil('the self-fence', () => (world.calls.includes('fence') ? true : undefined), 5000, 10);
  });

  it('as a standby: while its promise runs it reports the primary UP whatever its check says; once over, its down vote binds it first', async () => {
    // Prepare: a promise to db1 for the next 600 ms; db1's database no longer answers this standby's check.
    const world = new FakeWorld();
    world.record = withPeerLeases();
    world.answering = [];
    const memory = new VouchInMemory({
      promise: { primaryNodeId: 'db1', term: 1, promiseMs: 600, endMonoMs: systemClock.monotonicMs() + 600 },
      bound: null,
      view: null,
    });
    // Act
    startAgent(world, 'db2', peersOf('db2'), { peers: { channel: new FakePeers(), memory } });
    // Assess: first "vouched for", never "DOWN" while the promise runs.
    await pollUntil(
      'a vouched-for report',
      () => (/vouched for/.test(world.lastBeat()?.primaryCheck?.reason ?? '') ? true : undefined),
      5000,
      5,
    );
    expect(world.lastBeat()?.primaryCheck?.status).toBe('UP');
    expect(memory.load().bound).toBeNull();
    await world.untilVerdict('DOWN', 5000);
    const downAt = world.beats.findIndex((beat) => beat.primaryCheck?.status === 'DOWN');
    expect(world.beats.slice(0, downAt).some((beat) => /vouched for/.test(beat.primaryCheck?.reason ?? ''))).toBe(true);
    expect(memory.load().bound).toEqual({ primaryNodeId: 'db1', term: 1 });
  });
});
