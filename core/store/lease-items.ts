// The primary's lease: renewed and released by its agent on the cluster record, only while it is still the
// primary of that term.

import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { SK, clusterRecordSchema, type ClusterRecord } from '../records.ts';
import { parseStored } from '../store-schema.ts';
import { StoreTable } from './table.ts';

/**
 * The primary's lease renewal: only while it is still the primary of that term. Returns the cluster
 * record as it stands after the renewal, so that the primary learns a new goal (a switchover) with
 * each renewal rather than at its next heartbeat, at no extra request.
 */
export async function renewLease(
  t: StoreTable,
  cluster: string,
  nodeId: string,
  term: number,
  durationMs: number,
): Promise<ClusterRecord> {
  return leaseUpdate(
    t,
    cluster,
    nodeId,
    term,
    'SET #leaseRenewals = #leaseRenewals + :one, #leaseGrantedMs = :duration',
    { '#leaseRenewals': 'leaseRenewals', '#leaseGrantedMs': 'leaseGrantedMs' },
    { ':one': 1, ':duration': durationMs },
  );
}

/** Said by a primary's agent after it fenced its own database: nobody need wait out its lease. */
export async function releaseLease(t: StoreTable, cluster: string, nodeId: string, term: number): Promise<void> {
  // The counter moves too: the evaluator's writes are conditional on it, so a decision read before the
  // release cannot write leaseReleased back to false (seen: it did, and the failover waited a second
  // for the agent to release again).
  await leaseUpdate(
    t,
    cluster,
    nodeId,
    term,
    'SET #leaseReleased = :yes, #leaseRenewals = #leaseRenewals + :one',
    { '#leaseReleased': 'leaseReleased', '#leaseRenewals': 'leaseRenewals' },
    { ':yes': true, ':one': 1 },
  );
}

async function leaseUpdate(
  t: StoreTable,
  cluster: string,
  nodeId: string,
  term: number,
  update: string,
  names: Record<string, string>,
  values: Record<string, unknown>,
): Promise<ClusterRecord> {
  let result;
  try {
    result = await t.documents.send(
      new UpdateCommand({
        TableName: t.table,
        Key: { cluster, sk: SK.cluster },
        UpdateExpression: update,
        ConditionExpression: '#term = :term AND #primary = :node',
        // DynamoDB refuses names that the expressions do not use, so each caller passes its own.
        ExpressionAttributeNames: { '#term': 'term', '#primary': 'primaryNodeId', ...names },
        ExpressionAttributeValues: { ':term': term, ':node': nodeId, ...values },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  } catch (error) {
    throw await t.conflictWithCurrent(
      error,
      `lease of ${nodeId} in term ${term}`,
      cluster,
      SK.cluster,
      clusterRecordSchema,
    );
  }
  return parseStored(clusterRecordSchema, result.Attributes ?? {}, `${cluster}/${SK.cluster} in table ${t.table}`);
}
