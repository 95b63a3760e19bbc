// What the agents write: their heartbeats (never overwritten by an older one of the same run), and the
// count of heartbeats refused because their node is not allowed.

import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { heartbeatKey, heartbeatRecordSchema, rejectedKey, type HeartbeatRecord } from '../records.ts';
import { StoreTable } from './table.ts';

/**
 * Writes a heartbeat unless a newer one from the same agent run is already stored: a delayed retry of
 * an old heartbeat must never overwrite a newer one.
 */
export async function putHeartbeat(t: StoreTable, heartbeat: HeartbeatRecord): Promise<void> {
  heartbeatRecordSchema.parse(heartbeat);
  try {
    await t.put({
      Item: heartbeat,
      ConditionExpression: 'attribute_not_exists(#sk) OR #bootId <> :boot OR #seq < :seq',
      ExpressionAttributeNames: { '#sk': 'sk', '#bootId': 'bootId', '#seq': 'seq' },
      ExpressionAttributeValues: { ':boot': heartbeat.bootId, ':seq': heartbeat.seq },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  } catch (error) {
    throw await t.conflictWithCurrent(
      error,
      `heartbeat ${heartbeat.nodeId} seq ${heartbeat.seq}`,
      heartbeat.cluster,
      heartbeat.sk,
      heartbeatRecordSchema,
    );
  }
}

/** Counts a heartbeat refused because its node is not allowed (or its address does not match). */
export async function recordRejected(
  t: StoreTable,
  cluster: string,
  nodeId: string,
  address: string,
  reason: string,
  nowMs: number,
): Promise<void> {
  await t.documents.send(
    new UpdateCommand({
      TableName: t.table,
      Key: { cluster, sk: rejectedKey(nodeId) },
      UpdateExpression:
        'SET #nodeId = :node, #address = :address, #reason = :reason, #lastAtMs = :now, #firstAtMs = if_not_exists(#firstAtMs, :now), #attempts = if_not_exists(#attempts, :zero) + :one',
      ExpressionAttributeNames: {
        '#nodeId': 'nodeId',
        '#address': 'address',
        '#reason': 'reason',
        '#lastAtMs': 'lastAtMs',
        '#firstAtMs': 'firstAtMs',
        '#attempts': 'attempts',
      },
      ExpressionAttributeValues: {
        ':node': nodeId,
        ':address': address,
        ':reason': reason,
        ':now': nowMs,
        ':zero': 0,
        ':one': 1,
      },
    }),
  );
}

export async function deleteRejected(t: StoreTable, cluster: string, nodeId: string): Promise<void> {
  await t.documents.send(new DeleteCommand({ TableName: t.table, Key: { cluster, sk: rejectedKey(nodeId) } }));
}

export async function deleteHeartbeat(t: StoreTable, cluster: string, nodeId: string): Promise<void> {
  await t.documents.send(new DeleteCommand({ TableName: t.table, Key: { cluster, sk: heartbeatKey(nodeId) } }));
}
