// A member's withdrawal of its down vote (peer leases, docs/peer-leases.md): a write to the cluster record
// that moves its version, so that a failover decided on the vote fails its conditional write, and that is
// refused once the term has moved (the failover won; the member must not vouch for the old primary then).

import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { SK, clusterRecordSchema } from '../records.ts';
import { StoreTable } from './table.ts';

export async function withdrawVote(
  t: StoreTable,
  cluster: string,
  nodeId: string,
  term: number,
  nowMs: number,
): Promise<void> {
  try {
    await t.documents.send(
      new UpdateCommand({
        TableName: t.table,
        Key: { cluster, sk: SK.cluster },
        UpdateExpression: 'SET #version = #version + :one, #updatedAtMs = :now',
        ConditionExpression: '#term = :term',
        ExpressionAttributeNames: { '#version': 'version', '#updatedAtMs': 'updatedAtMs', '#term': 'term' },
        ExpressionAttributeValues: { ':one': 1, ':now': nowMs, ':term': term },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  } catch (error) {
    throw await t.conflictWithCurrent(
      error,
      `withdrawal of ${nodeId}'s down vote in term ${term}`,
      cluster,
      SK.cluster,
      clusterRecordSchema,
    );
  }
}
