// Mixed versions: a record that a newer release wrote, with fields this one does not know, is read, acted on
// and written back with those fields kept. Parsed strictly, one added attribute on the cluster record made
// every lease renewal of a healthy primary fail, and the primary stopped itself.

import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDocumentClient } from '../../core/state-store.ts';
import { SK, heartbeatKey } from '../../core/records.ts';
import { seedCluster, startDynalite, type TestStore } from '../support/dynalite.ts';
import { heartbeat } from '../support/fixtures.ts';
import { PEER_LEASES_SCHEMA, STORE_SCHEMA } from '../../core/store-schema.ts';
import { PGFAILOVER_VERSION } from '../../core/version.ts';

const TABLE = 'newer-records';
let dynamo: TestStore;

beforeAll(async () => {
  dynamo = await startDynalite(TABLE);
});
afterAll(async () => {
  await dynamo?.close();
});

const documents = () => createDocumentClient({ endpoint: dynamo.endpoint, region: 'local', maxAttempts: 1 });

describe('records written by a newer release', () => {
  it('a lease renewal succeeds on a cluster record with a field this release does not know, and keeps it', async () => {
    // Prepare: db1 the primary of term 1; a newer evaluator added an attribute to the cluster record.
    await seedCluster(dynamo.store, 'n1', '10.0.0.', { nowMs: Date.now() });
    await documents().send(
      new UpdateCommand({
        TableName: TABLE,
        Key: { cluster: 'n1', sk: SK.cluster },
        UpdateExpression: 'SET #future = :future',
        ExpressionAttributeNames: { '#future': 'placementHint' },
        ExpressionAttributeValues: { ':future': { zone: 'eu-west-1a' } },
      }),
    );
    // Act: the agent's renewal, then an evaluator's whole-record write of what it read.
    const renewed = await dynamo.store.renewLease('n1', 'db1', 1, 2800);
    const read = (await dynamo.store.getCluster('n1'))!;
    await dynamo.store.writeCluster(
      { ...read, version: read.version + 1 },
      { version: read.version, leaseRenewals: read.leaseRenewals },
    );
    const stored = await documents().send(new GetCommand({ TableName: TABLE, Key: { cluster: 'n1', sk: SK.cluster } }));
    // Assess
    expect(renewed.leaseRenewals).toBe(1);
    expect(stored.Item?.placementHint).toEqual({ zone: 'eu-west-1a' });
    expect(stored.Item?.version).toBe(read.version + 1);
  });

  it('a heartbeat with a field and a step this release does not know counts as a heartbeat, not as an invalid record', async () => {
    // Prepare
    await seedCluster(dynamo.store, 'n2', '10.0.0.', { nowMs: Date.now() });
    await documents().send(
      new PutCommand({
        TableName: TABLE,
        Item: {
          ...heartbeat('db2', { cluster: 'n2', sentAtMs: Date.now() }),
          sk: heartbeatKey('db2'),
          diskFreeBytes: 1e9,
          action: { term: 1, step: 'resynced', detail: 'a step of a newer release' },
        },
      }),
    );
    // Act
    const snapshot = await dynamo.store.readSnapshot('n2');
    // Assess
    expect(snapshot.invalid).toEqual([]);
    expect(snapshot.heartbeats.map((beat) => beat.nodeId)).toEqual(['db2']);
    expect(snapshot.heartbeats[0]?.action?.step).toBe('unknown');
  });

  it('refuses, naming the record and the release that wrote it, a record that needs a newer reader or holds a value this release cannot interpret', async () => {
    // Prepare: a newer release marked the cluster record unreadable by older ones, and wrote a phase it invented.
    await seedCluster(dynamo.store, 'n3', '10.0.0.', { nowMs: Date.now() });
    const stamp = async (cluster: string, values: Record<string, unknown>) =>
      documents().send(
        new UpdateCommand({
          TableName: TABLE,
          Key: { cluster, sk: SK.cluster },
          UpdateExpression: `SET ${Object.keys(values)
            .map((key, i) => `#k${i} = :v${i}`)
            .join(', ')}`,
          ExpressionAttributeNames: Object.fromEntries(Object.keys(values).map((key, i) => [`#k${i}`, key])),
          ExpressionAttributeValues: Object.fromEntries(Object.values(values).map((value, i) => [`:v${i}`, value])),
        }),
      );
    await stamp('n3', { schema: STORE_SCHEMA + 1, writtenBy: '0.9.0', minSchema: STORE_SCHEMA + 1 });
    // Act & Assess
    await expect(dynamo.store.getCluster('n3')).rejects.toThrow(
      new RegExp(
        `n3/CLUSTER in table ${TABLE} is not a record this release can read: .*written by pgfailover 0\\.9\\.0 \\(store schema ${STORE_SCHEMA + 1}\\) and needs a release that reads store schema ${STORE_SCHEMA + 1}; this is pgfailover ${PGFAILOVER_VERSION.replaceAll('.', '\\.')} \\(store schema ${STORE_SCHEMA}\\): upgrade it`,
      ),
    );
    // A value of a known field this release does not know, from a newer schema without minSchema.
    await seedCluster(dynamo.store, 'n4', '10.0.0.', { nowMs: Date.now() });
    await stamp('n4', { schema: STORE_SCHEMA + 1, writtenBy: '0.9.0', phase: 'relocating' });
    await expect(dynamo.store.getCluster('n4')).rejects.toThrow(
      new RegExp(
        `written by pgfailover 0\\.9\\.0 \\(store schema ${STORE_SCHEMA + 1}\\), newer than this pgfailover .*which cannot interpret phase: .*upgrade this program`,
      ),
    );
    // A heartbeat that needs a newer reader is one invalid item, named with its writer; the snapshot stands.
    await seedCluster(dynamo.store, 'n6', '10.0.0.', { nowMs: Date.now() });
    await documents().send(
      new PutCommand({
        TableName: TABLE,
        Item: {
          ...heartbeat('db2', { cluster: 'n6', sentAtMs: Date.now() }),
          sk: heartbeatKey('db2'),
          schema: STORE_SCHEMA + 1,
          minSchema: STORE_SCHEMA + 1,
          writtenBy: '0.9.0',
        },
      }),
    );
    const snapshot = await dynamo.store.readSnapshot('n6');
    expect(snapshot.heartbeats).toEqual([]);
    expect(snapshot.invalid).toEqual([
      {
        sk: heartbeatKey('db2'),
        problems: [expect.stringMatching(/n6\/HB#db2 was written by pgfailover 0\.9\.0 .*upgrade it/)],
      },
    ]);
  });

  it('a cluster record with peer leases on needs readers of store schema 2 (an older evaluator would take a watchdog as proof); off, it needs none', async () => {
    // Prepare
    const record = await seedCluster(dynamo.store, 'n7', '10.0.0.', { nowMs: Date.now() });
    const stored = async () =>
      (await documents().send(new GetCommand({ TableName: TABLE, Key: { cluster: 'n7', sk: SK.cluster } }))).Item;
    expect((await stored())?.minSchema).toBeUndefined();
    // Act: on
    await dynamo.store.writeCluster(
      { ...record, version: record.version + 1, policy: { ...record.policy, peerLeases: true } },
      { version: record.version, leaseRenewals: record.leaseRenewals },
    );
    // Assess
    expect(await stored()).toMatchObject({ minSchema: PEER_LEASES_SCHEMA, schema: STORE_SCHEMA });
    expect((await dynamo.store.getCluster('n7'))?.policy.peerLeases).toBe(true);
    // Act: off again, from the record as read (which carries minSchema)
    const on = (await dynamo.store.getCluster('n7'))!;
    await dynamo.store.writeCluster(
      { ...on, version: on.version + 1, policy: { ...on.policy, peerLeases: false } },
      { version: on.version, leaseRenewals: on.leaseRenewals },
    );
    // Assess
    expect((await stored())?.minSchema).toBeUndefined();
  });

  it('stamps what this release writes with its store schema and version', async () => {
    // Prepare & Act
    await seedCluster(dynamo.store, 'n5', '10.0.0.', { nowMs: Date.now() });
    await dynamo.store.putHeartbeat({
      ...heartbeat('db2', { cluster: 'n5', sentAtMs: Date.now() }),
      sk: heartbeatKey('db2'),
    });
    // Assess
    for (const sk of [SK.cluster, SK.membership, heartbeatKey('db2')]) {
      const stored = await documents().send(new GetCommand({ TableName: TABLE, Key: { cluster: 'n5', sk } }));
      expect(stored.Item).toMatchObject({ schema: STORE_SCHEMA, writtenBy: PGFAILOVER_VERSION });
    }
  });
});
