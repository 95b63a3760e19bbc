// The state store against dynalite: conditional writes, conflicts carrying the current record,
// schema checks on everything read.

import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, StoreConflictError } from '../../core/errors.ts';
import { allowNode } from '../../core/membership.ts';
import { updateClusterRecord } from '../../core/cluster-update.ts';
import { DEFAULT_CLUSTER_POLICY } from '../../core/records.ts';
import { createDocumentClient, StateStore } from '../../core/state-store.ts';
import { startDynalite, type TestStore } from '../support/dynalite.ts';
import { clusterRecord, heartbeat } from '../support/fixtures.ts';

let dynamo: TestStore;
let clusterCount = 0;
const newCluster = async () => {
  const name = `c${++clusterCount}`;
  await dynamo.store.initCluster({ cluster: name, policy: DEFAULT_CLUSTER_POLICY, primaryNodeId: 'db1' }, 1000);
  return name;
};

beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo?.close();
});

describe('state store on dynalite', () => {
  it('creates a cluster fenced by watchdog by default, and records a WARNING when agent fencing is named', async () => {
    // Prepare
    const safe = await newCluster();
    const named = `c${++clusterCount}`;
    // Act
    await dynamo.store.initCluster({ cluster: named, policy: { ...DEFAULT_CLUSTER_POLICY, fencing: 'agent' } }, 1000);
    // Assess
    expect((await dynamo.store.getCluster(safe))?.policy.fencing).toBe('watchdog');
    expect((await dynamo.store.readHistory(safe)).entries).toEqual([]);
    const { entries } = await dynamo.store.readHistory(named);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ event: 'fencing-agent', severity: 'WARNING' });
    expect(entries[0]?.body).toMatch(/frozen, hung, killed, or restarted while cut off/);
  });

  it('creates a cluster once; a second create fails with the record that exists', async () => {
    // Prepare
    const name = await newCluster();
    // Act
    const second = dynamo.store.initCluster(
      { cluster: name, policy: { ...DEFAULT_CLUSTER_POLICY, autoFailover: false } },
      2000,
    );
    // Assess
    const error = await second.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoreConflictError);
    expect((error as StoreConflictError<unknown>).current).toMatchObject({
      cluster: name,
      term: 1,
      primaryNodeId: 'db1',
      policy: { autoFailover: true },
    });
    expect((await dynamo.store.getCluster(name))?.policy.autoFailover).toBe(true);
  });

  it('loses no change when ten administrators edit the membership and ten the policy at once', async () => {
    // Prepare
    const name = await newCluster();
    const nodes = Array.from({ length: 10 }, (_, index) => ({
      nodeId: `db${String(index + 1).padStart(2, '0')}`,
      address: `10.0.0.${index + 1}`,
    }));
    const before = (await dynamo.store.getCluster(name))!;
    // Act: twenty concurrent read-modify-writes on two items.
    await Promise.all([
      ...nodes.map((node) => dynamo.store.updateMembership(name, (current) => allowNode(current, node), 3000)),
      ...nodes.map((_, index) =>
        updateClusterRecord(dynamo.store, name, Date.now, (snapshot) => ({
          policy: { ...snapshot.cluster.policy, maxLagBytes: snapshot.cluster.policy.maxLagBytes + index + 1 },
        })),
      ),
    ]);
    // Assess: every edit applied once, on top of the others.
    const membership = await dynamo.store.getMembership(name);
    expect(membership?.allowed.map((node) => node.nodeId).sort()).toEqual(nodes.map((node) => node.nodeId));
    expect(membership?.version).toBe(11);
    const after = (await dynamo.store.getCluster(name))!;
    expect(after.version).toBe(before.version + 10);
    expect(after.policy.maxLagBytes).toBe(before.policy.maxLagBytes + 55);
  });

  it('refuses a membership change for a cluster that does not exist, saying how to create it', async () => {
    await expect(dynamo.store.updateMembership('nope', (current) => current, 1)).rejects.toThrow(NotFoundError);
    await expect(dynamo.store.updateMembership('nope', (current) => current, 1)).rejects.toThrow(
      /pgfailover init --cluster nope/,
    );
  });

  it('never lets an older heartbeat overwrite a newer one of the same agent run', async () => {
    // Prepare
    const name = await newCluster();
    await dynamo.store.putHeartbeat(heartbeat('db2', { cluster: name, seq: 5, receivedLsn: '0/6000000' }));
    // Act
    const stale = await dynamo.store
      .putHeartbeat(heartbeat('db2', { cluster: name, seq: 4, receivedLsn: '0/5000000' }))
      .catch((caught: unknown) => caught);
    // Assess
    expect(stale).toBeInstanceOf(StoreConflictError);
    expect((stale as StoreConflictError<{ seq: number }>).current?.seq).toBe(5);
    const snapshot = await dynamo.store.readSnapshot(name);
    expect(snapshot.heartbeats).toEqual([expect.objectContaining({ nodeId: 'db2', seq: 5, receivedLsn: '0/6000000' })]);
  });

  it('accepts a lower sequence number from a new agent run (a restart)', async () => {
    const name = await newCluster();
    await dynamo.store.putHeartbeat(heartbeat('db2', { cluster: name, seq: 500 }));
    await dynamo.store.putHeartbeat(heartbeat('db2', { cluster: name, seq: 1, bootId: 'second-boot' }));
    expect((await dynamo.store.readSnapshot(name)).heartbeats[0]).toMatchObject({ seq: 1, bootId: 'second-boot' });
  });

  it('counts rejected heartbeats per node', async () => {
    const name = await newCluster();
    for (let attempt = 0; attempt < 3; attempt++)
      await dynamo.store.recordRejected(name, 'rogue', '10.9.9.9', 'not allowed', 5000 + attempt);
    expect((await dynamo.store.readSnapshot(name)).rejected).toEqual([
      expect.objectContaining({ nodeId: 'rogue', address: '10.9.9.9', attempts: 3, firstAtMs: 5000, lastAtMs: 5002 }),
    ]);
  });

  it('reports items that do not match their schema instead of counting them', async () => {
    // Prepare: an item written by something other than pgfailover.
    const name = await newCluster();
    const raw = createDocumentClient({ endpoint: dynamo.endpoint, region: 'local' });
    await raw.send(
      new PutCommand({ TableName: 'pgfailover', Item: { cluster: name, sk: 'HB#db7', nodeId: 'db7', seq: 'many' } }),
    );
    // Act
    const snapshot = await dynamo.store.readSnapshot(name);
    // Assess
    expect(snapshot.heartbeats).toEqual([]);
    expect(snapshot.invalid).toEqual([expect.objectContaining({ sk: 'HB#db7' })]);
    expect(snapshot.invalid[0]?.problems.join(' ')).toMatch(/seq/);
  });

  it('renews the lease only for the primary of the current term', async () => {
    // Prepare
    const name = await newCluster();
    // Act
    const first = await dynamo.store.renewLease(name, 'db1', 1, 3000);
    const second = await dynamo.store.renewLease(name, 'db1', 1, 5000);
    const impostor = await dynamo.store.renewLease(name, 'db2', 1, 3000).catch((caught: unknown) => caught);
    const oldTerm = await dynamo.store.renewLease(name, 'db1', 0, 3000).catch((caught: unknown) => caught);
    // Assess
    expect([first.leaseRenewals, second.leaseRenewals]).toEqual([1, 2]);
    expect(impostor).toBeInstanceOf(StoreConflictError);
    expect((impostor as StoreConflictError<{ primaryNodeId: string }>).current?.primaryNodeId).toBe('db1');
    expect(oldTerm).toBeInstanceOf(StoreConflictError);
    expect((await dynamo.store.getCluster(name))?.leaseRenewals).toBe(2);
    // The record says how long the holder believes its last renewal lasts.
    expect((await dynamo.store.getCluster(name))?.leaseGrantedMs).toBe(5000);
  });

  it('refuses a decision made on a lease that was renewed after it was read', async () => {
    // Prepare: an evaluator reads the record, then the primary renews.
    const name = await newCluster();
    const read = (await dynamo.store.getCluster(name))!;
    await dynamo.store.renewLease(name, 'db1', 1, 3000);
    const failover = { ...read, version: read.version + 1, term: 2, primaryNodeId: 'db2' };
    // Act
    const result = await dynamo.store
      .writeCluster(failover, { version: read.version, leaseRenewals: read.leaseRenewals })
      .catch((caught: unknown) => caught);
    // Assess
    expect(result).toBeInstanceOf(StoreConflictError);
    expect(await dynamo.store.getCluster(name)).toMatchObject({ term: 1, primaryNodeId: 'db1', leaseRenewals: 1 });
  });

  it('refuses a decision read before the lease was released, so that it cannot write the release back out', async () => {
    // Prepare: an evaluator reads the record (lease held), then the primary's agent fences and releases.
    const name = await newCluster();
    const read = (await dynamo.store.getCluster(name))!;
    await dynamo.store.releaseLease(name, 'db1', 1);
    const waiting = { ...read, version: read.version + 1, leaseReleased: false };
    // Act
    const result = await dynamo.store
      .writeCluster(waiting, { version: read.version, leaseRenewals: read.leaseRenewals })
      .catch((caught: unknown) => caught);
    // Assess
    expect(result).toBeInstanceOf(StoreConflictError);
    expect(await dynamo.store.getCluster(name)).toMatchObject({ term: 1, leaseReleased: true });
  });

  it('lets exactly one of two racing evaluators write a decision', async () => {
    const name = await newCluster();
    const read = (await dynamo.store.getCluster(name))!;
    const attempts = ['db2', 'db3'].map((primary) =>
      dynamo.store.writeCluster(
        { ...read, version: read.version + 1, term: 2, primaryNodeId: primary },
        { version: read.version, leaseRenewals: read.leaseRenewals },
      ),
    );
    const outcomes = await Promise.allSettled(attempts);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    expect((await dynamo.store.getCluster(name))?.term).toBe(2);
  });

  it('keeps the history apart from the live state and returns it oldest first', async () => {
    const name = await newCluster();
    for (const atMs of [3000, 1000, 2000]) {
      await dynamo.store.appendHistory({
        cluster: name,
        sk: `~HIST#${String(atMs).padStart(15, '0')}#x`,
        atMs,
        term: 1,
        kind: 'notice',
        event: 'test',
        severity: 'INFO',
        subject: `at ${atMs}`,
        body: '',
        nodeId: null,
        actor: 'test',
        expiresAt: 2_000_000_000,
      });
    }
    const { entries } = await dynamo.store.readHistory(name);
    expect(entries.map((entry) => entry.atMs)).toEqual([1000, 2000, 3000]);
    expect((await dynamo.store.readSnapshot(name)).invalid).toEqual([]);
  });

  it('lists the clusters from the index partition, with one Query and no Scan', async () => {
    // Prepare
    const name = await newCluster();
    const sent: string[] = [];
    const documents = createDocumentClient({ endpoint: dynamo.endpoint, region: 'local' });
    documents.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(context.commandName ?? '?');
        return next(args);
      },
      { step: 'initialize' },
    );
    const counting = new StateStore(documents, 'pgfailover');
    // Act
    const clusters = await counting.listClusters();
    // Assess
    expect(clusters).toContain(name);
    expect(sent).toEqual(['QueryCommand']);
  });

  it('indexes, once, the clusters of a table written before the index existed', async () => {
    // Prepare: a separate table whose cluster record has no index entry.
    const documents = createDocumentClient({ endpoint: dynamo.endpoint, region: 'local' });
    const legacy = new StateStore(documents, 'legacy');
    await legacy.createTableIfMissing();
    await documents.send(new PutCommand({ TableName: 'legacy', Item: clusterRecord({ cluster: 'old' }) }));
    // Act
    const first = await legacy.listClusters();
    const second = await legacy.listClusters();
    // Assess
    expect(first).toEqual(['old']);
    expect(second).toEqual(['old']);
  });

  it('hands the evaluation to the newest claimant', async () => {
    await dynamo.store.claimEvaluation('evaluator:a', 1, true);
    await dynamo.store.claimEvaluation('evaluator:b', 2, false);
    expect(await dynamo.store.evaluationOwner()).toEqual({ owner: 'evaluator:b', evaluating: false });
  });
});
