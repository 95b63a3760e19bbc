// Mixed versions: a record that a newer release wrote, with fields this one does not know, is read, acted on
// and written back with those fields kept. Parsed strictly, one added attribute on the cluster record made
// every lease renewal of a healthy primary fail, and the primary stopped itself.

import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDocumentClient } from '../../core/state-store.ts';
import { SK, heartbeatKey } from '../../core/records.ts';
import { seedCluster, startDynalite, type TestStore } from '../support/dynalite.ts';
import { heartbeat } from '../support/fixtures.ts';

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
});
