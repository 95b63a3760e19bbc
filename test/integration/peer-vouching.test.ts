// Peer leases between real agents' parts: vouches over real UDP on loopback, signed, and the withdrawal of a
// down vote written to a real (dynalite) store, against the evaluator's conditional write. The lab tests
// (test/e2e/peer-leases.test.ts) run the whole agents; this file pins each rule of the exchange.

import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig, type AgentConfig } from '../../core/agent-config.ts';
import { systemClock } from '../../core/clock.ts';
import { StoreConflictError } from '../../core/errors.ts';
import type { ClusterRecord, HeartbeatRecord, MembershipRecord } from '../../core/records.ts';
import { StateStore } from '../../core/state-store.ts';
import { UdpChannel } from '../../agent/peer/udp-channel.ts';
import { VouchInMemory, type VouchMemory } from '../../agent/peer/vouch-file.ts';
import { Voucher } from '../../agent/peer/voucher.ts';
import { VouchRounds } from '../../agent/peer/vouch-rounds.ts';
import { encodeMessage } from '../../agent/peer/peer-messages.ts';
import { heartbeat } from '../support/fixtures.ts';
import { seedCluster, startDynalite, type TestStore } from '../support/dynalite.ts';
import { pollUntil } from '../support/poll.ts';

const KEY = 'a'.repeat(64);
/** Each test has a cluster of its own (freshCluster). */
let CLUSTER = 'prod';
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

let dynalite: TestStore;
let ports: Record<string, number>;
const opened: UdpChannel[] = [];

beforeAll(async () => {
  dynalite = await startDynalite();
  ports = { db1: await freeUdpPort(), db2: await freeUdpPort(), witness: await freeUdpPort() };
});
afterAll(async () => {
  for (const channel of opened) await channel.close();
  await dynalite.close();
});

function configOf(nodeId: string, key = KEY): AgentConfig & { key: string } {
  const peers = Object.fromEntries(
    Object.entries(ports)
      .filter(([other]) => other !== nodeId)
      .map(([other, port]) => [other, `127.0.0.1:${port}`]),
  );
  const config = parseAgentConfig({
    cluster: CLUSTER,
    nodeId,
    role: nodeId === 'witness' ? 'witness' : 'database',
    address: '127.0.0.1',
    ...(nodeId === 'witness' ? {} : { database: {} }),
    peerLeases: { listen: `127.0.0.1:${ports[nodeId] ?? 0}`, peers, keyFile: '/unused' },
  });
  return { ...config, key };
}

async function channelFor(config: AgentConfig & { key: string }, warn: (line: string) => void = () => undefined) {
  const channel = await UdpChannel.open({
    cluster: CLUSTER,
    nodeId: config.nodeId,
    key: config.key,
    listen: config.peerLeases!.listen,
    peers: config.peerLeases!.peers,
    warn,
  });
  opened.push(channel);
  return channel;
}

interface Member {
  voucher: Voucher;
  /** What its voucher logged: a refusal is said there. */
  said: string[];
  memory: VouchMemory;
  heartbeatsWritten: number;
  seesDown: boolean;
  close(): Promise<void>;
}

/** A member's voucher on its own socket, against the store at `store`, knowing `goal`. */
async function member(
  nodeId: string,
  goal: () => ClusterRecord | undefined,
  store: StateStore = dynalite.store,
  memory: VouchMemory = new VouchInMemory(),
  /** false: an agent restarted while the store is away, which has read nothing yet. */
  reads = true,
): Promise<Member> {
  const config = configOf(nodeId);
  const channel = await channelFor(config);
  const state = { heartbeatsWritten: 0, seesDown: false };
  const said: string[] = [];
  const logger = { ...quiet, info: (line: string) => void said.push(line) };
  const voucher = new Voucher(
    { config, clock: systemClock, logger, store, channel, memory },
    {
      seesDown: () => state.seesDown,
      writeHeartbeat: async () => {
        await store.putHeartbeat(heartbeat(nodeId, { cluster: CLUSTER, seq: Date.now(), term: goal()?.term ?? 0 }));
        state.heartbeatsWritten++;
      },
    },
  );
  if (reads)
    voucher.learn(goal(), await store.getMembership(CLUSTER).catch(() => dynalite.store.getMembership(CLUSTER)));
  return {
    voucher,
    said,
    memory,
    get heartbeatsWritten() {
      return state.heartbeatsWritten;
    },
    get seesDown() {
      return state.seesDown;
    },
    set seesDown(value: boolean) {
      state.seesDown = value;
    },
    close: () => channel.close(),
  };
}

/** The primary's rounds, recording every extension of its lease. */
async function primary(goal: () => ClusterRecord | undefined, membership: MembershipRecord) {
  const config = configOf('db1');
  const channel = await channelFor(config);
  const extended: number[] = [];
  const stopping = new AbortController();
  const rounds = new VouchRounds(
    { config, clock: systemClock, logger: quiet, channel },
    {
      view: () => {
        const known = goal();
        return known
          ? {
              term: known.term,
              primaryNodeId: known.primaryNodeId,
              peerLeases: known.policy.peerLeases,
              leaseDurationMs: known.policy.leaseDurationMs,
              voters: membership.allowed.map((node) => node.nodeId),
            }
          : undefined;
      },
      wantsVouches: () => true,
      leaseGeneration: () => 0,
      extendLease: async (endMonoMs) => void extended.push(endMonoMs),
      selfBound: () => false,
      pause: async () => undefined,
      stopping: stopping.signal,
    },
  );
  return { rounds, extended, close: () => channel.close() };
}

const downVote = (nodeId: string, term: number): HeartbeatRecord =>
  heartbeat(nodeId, {
    cluster: CLUSTER,
    term,
    primaryCheck: { primaryNodeId: 'db1', status: 'DOWN', reason: 'connection refused' },
  });

async function freshCluster(name: string): Promise<{ goal: ClusterRecord; membership: MembershipRecord }> {
  // Prepare: peer leases on in the policy, three voters (db1, db2, the witness).
  CLUSTER = `prod-${name}`;
  await seedCluster(dynalite.store, CLUSTER, `10.9.${name}.`, {
    databases: 2,
    extra: [{ nodeId: 'witness', address: '10.9.0.99', role: 'witness' }],
  });
  let goal = (await dynalite.store.getCluster(CLUSTER))!;
  goal = { ...goal, policy: { ...goal.policy, peerLeases: true } };
  await dynalite.store.writeCluster(
    { ...goal, version: goal.version + 1 },
    {
      version: goal.version,
      leaseRenewals: goal.leaseRenewals,
    },
  );
  return {
    goal: (await dynalite.store.getCluster(CLUSTER))!,
    membership: (await dynalite.store.getMembership(CLUSTER))!,
  };
}

describe('vouching over UDP', () => {
  it("a majority of grants extends the lease to the ask's send time plus the promise less the margin", async () => {
    const { goal, membership } = await freshCluster('1');
    const db2 = await member('db2', () => goal);
    const witness = await member('witness', () => goal);
    const db1 = await primary(() => goal, membership);
    try {
      // Act
      const sentMonoMs = systemClock.monotonicMs();
      db1.rounds.round();
      // Assess: itself and one voucher are two of three; the extension counts from before the ask left.
      const until = await pollUntil('an extension', () => db1.extended.at(-1), 5000, 10);
      expect(until).toBeGreaterThanOrEqual(sentMonoMs + goal.policy.leaseDurationMs - 50);
      expect(until).toBeLessThanOrEqual(systemClock.monotonicMs() + goal.policy.leaseDurationMs - 50);
      expect(db2.voucher.promising('db1')).toBe(true);
      expect(witness.voucher.promising('db1')).toBe(true);
    } finally {
      await Promise.all([db2.close(), witness.close(), db1.close()]);
    }
  });

  it("a member bound by its down vote withdraws it (a heartbeat, then the record's version) before it vouches; a failover decided on the vote then fails its write", async () => {
    const { goal, membership } = await freshCluster('2');
    const db2 = await member('db2', () => goal);
    const db1 = await primary(() => goal, membership);
    try {
      // Prepare: db2's heartbeat voted db1 down in this term; an evaluator read the record then.
      db2.voucher.noteHeartbeat(downVote('db2', goal.term), false);
      expect(db2.voucher.boundOn('db1')).toBe(true);
      const read = (await dynalite.store.getCluster(CLUSTER))!;
      // Act
      db1.rounds.round();
      await pollUntil('db2 vouches', () => (db2.voucher.promising('db1') ? true : undefined), 5000, 10);
      // Assess
      expect(db2.heartbeatsWritten).toBe(1);
      expect(db2.voucher.boundOn('db1')).toBe(false);
      const after = (await dynalite.store.getCluster(CLUSTER))!;
      expect(after.version).toBe(read.version + 1);
      await expect(
        dynalite.store.writeCluster(
          { ...read, term: read.term + 1, primaryNodeId: 'db2', version: read.version + 1 },
          { version: read.version, leaseRenewals: read.leaseRenewals },
        ),
      ).rejects.toBeInstanceOf(StoreConflictError);
    } finally {
      await Promise.all([db2.close(), db1.close()]);
    }
  });

  it('once the failover has won, the withdrawal is refused and the member does not vouch', async () => {
    const { goal, membership } = await freshCluster('3');
    const db2 = await member('db2', () => goal);
    const db1 = await primary(() => goal, membership);
    try {
      // Prepare: db2 voted db1 down; the failover's new term is written.
      db2.voucher.noteHeartbeat(downVote('db2', goal.term), false);
      const read = (await dynalite.store.getCluster(CLUSTER))!;
      await dynalite.store.writeCluster(
        { ...read, term: read.term + 1, primaryNodeId: 'db2', version: read.version + 1 },
        { version: read.version, leaseRenewals: read.leaseRenewals },
      );
      // Act: db1, cut off from the store, still asks in the old term.
      db1.rounds.round();
      // Assess: the withdrawal was tried (its heartbeat went out) and refused; no promise, no extension.
      await pollUntil('the withdrawal tried', () => (db2.heartbeatsWritten > 0 ? true : undefined), 5000, 10);
      await pollUntil(
        'its refusal settled',
        async () => {
          await new Promise((resolve) => setImmediate(resolve));
          return db2.voucher.boundOn('db1') ? true : undefined;
        },
        2000,
        10,
      );
      expect(db2.voucher.promising('db1')).toBe(false);
      expect(db1.extended).toEqual([]);
    } finally {
      await Promise.all([db2.close(), db1.close()]);
    }
  });

  it('a bound member that cannot reach the store refuses (it cannot withdraw), and the primary gets no majority', async () => {
    const { goal, membership } = await freshCluster('4');
    // Prepare: db2's store is a port where nothing answers.
    const unreachable = StateStore.connect({
      table: 'pgfailover',
      endpoint: `http://127.0.0.1:${await freeUdpPort()}`,
      region: 'local',
      maxAttempts: 1,
      requestTimeoutMs: 300,
    });
    const db2 = await member('db2', () => goal, unreachable);
    const db1 = await primary(() => goal, membership);
    try {
      db2.voucher.noteHeartbeat(downVote('db2', goal.term), false);
      // Act
      db1.rounds.round();
      // Assess
      await pollUntil(
        'the refusal',
        () => (db2.said.some((line) => /no vouch for db1/.test(line)) ? true : undefined),
        5000,
        10,
      );
      expect(db2.said.join('\n')).toMatch(/could not be written \(the store is away\)/);
      expect(db2.voucher.boundOn('db1')).toBe(true);
      expect(db2.voucher.promising('db1')).toBe(false);
      expect(db1.extended).toEqual([]);
    } finally {
      await Promise.all([db2.close(), db1.close()]);
    }
  });

  it('a member that sees the primary down refuses; one restarted keeps its promise (no down vote while it runs)', async () => {
    const { goal, membership } = await freshCluster('5');
    const memory = new VouchInMemory();
    const first = await member('db2', () => goal, dynalite.store, memory);
    const db1 = await primary(() => goal, membership);
    let again: Member | undefined;
    try {
      first.seesDown = true;
      db1.rounds.round();
      await pollUntil(
        'the refusal',
        () => (first.said.some((line) => /own check finds db1/.test(line)) ? true : undefined),
        5000,
        10,
      );
      expect(first.voucher.promising('db1')).toBe(false);
      first.seesDown = false;
      db1.rounds.round();
      await pollUntil('db2 vouches', () => (first.voucher.promising('db1') ? true : undefined), 5000, 10);
      await first.close();
      // Act: the agent restarts (same memory, as its vouch file).
      again = await member('db2', () => goal, dynalite.store, memory, false);
      // Assess: the promise stands, and it vouches again on what it kept, having read nothing.
      expect(again.voucher.promising('db1')).toBe(true);
      const said = again.said.length;
      db1.rounds.round();
      await pollUntil(
        'a vouch from the restarted member',
        () => (again!.said.slice(said).some((line) => /vouching for db1/.test(line)) ? true : undefined),
        5000,
        10,
      );
    } finally {
      await Promise.all([first.close(), db1.close(), again?.close()]);
    }
  });

  it('an ask signed with another key is dropped unanswered, and said once in the log', async () => {
    const { goal } = await freshCluster('6');
    const warnings: string[] = [];
    const config = configOf('db2');
    const channel = await channelFor(config, (line) => warnings.push(line));
    const heard: unknown[] = [];
    channel.onMessage((message) => heard.push(message));
    const sender = createSocket('udp4');
    try {
      const forged = encodeMessage('b'.repeat(64), {
        kind: 'ask',
        cluster: CLUSTER,
        from: 'db1',
        to: 'db2',
        term: goal.term,
        nonce: 'ffffffffffffffffffff',
        promiseMs: 2800,
      });
      const signed = encodeMessage(KEY, {
        kind: 'ask',
        cluster: CLUSTER,
        from: 'db1',
        to: 'db2',
        term: goal.term,
        nonce: 'eeeeeeeeeeeeeeeeeeee',
        promiseMs: 2800,
      });
      for (let i = 0; i < 3; i++) sender.send(forged, ports.db2!, '127.0.0.1');
      // Then one signed with the key: once it is heard, the forged ones before it were handled.
      sender.send(signed, ports.db2!, '127.0.0.1');
      await pollUntil('the signed ask', () => (heard.length > 0 ? true : undefined), 5000, 10);
      expect(heard).toEqual([expect.objectContaining({ nonce: 'eeeeeeeeeeeeeeeeeeee' })]);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/bad signature/);
    } finally {
      sender.close();
      await channel.close();
    }
  });
});
