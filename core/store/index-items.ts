// The table's index partition: which clusters exist (for the evaluator's list) and which evaluator
// invocation owns the evaluation.

import { GetCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { INDEX_PARTITION, SK } from '../records.ts';
import { StoreTable } from './table.ts';

/** Lists a cluster in the index partition (idempotent). */
export async function indexCluster(t: StoreTable, cluster: string): Promise<void> {
  await t.put({ Item: { cluster: INDEX_PARTITION, sk: `${SK.clusterIndexPrefix}${cluster}` } });
}

/**
 * The clusters in the table: one Query of the index partition (a few hundred bytes per cluster), never a
 * Scan of heartbeats and history. A table written before the index existed is indexed once from a Scan.
 */
export async function listClusters(t: StoreTable): Promise<string[]> {
  const names: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await t.documents.send(
      new QueryCommand({
        TableName: t.table,
        KeyConditionExpression: '#cluster = :index AND begins_with(#sk, :prefix)',
        ExpressionAttributeNames: { '#cluster': 'cluster', '#sk': 'sk' },
        ExpressionAttributeValues: { ':index': INDEX_PARTITION, ':prefix': SK.clusterIndexPrefix },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) names.push(String(item.sk).slice(SK.clusterIndexPrefix.length));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  if (names.length === 0) return indexFromScan(t);
  return names.sort();
}

/** Once, for a table from before the index: finds the cluster records by Scan and indexes them. */
async function indexFromScan(t: StoreTable): Promise<string[]> {
  const names: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await t.documents.send(
      new ScanCommand({
        TableName: t.table,
        FilterExpression: '#sk = :sk',
        ExpressionAttributeNames: { '#sk': 'sk', '#cluster': 'cluster' },
        ExpressionAttributeValues: { ':sk': SK.cluster },
        ProjectionExpression: '#cluster',
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) names.push(String(item.cluster));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  for (const name of names) await indexCluster(t, name);
  return names.sort();
}

/**
 * Evaluator coordination: the newest invocation claims the evaluation; an older one that sees another
 * owner stands down, so two overlapping invocations do not double the load. Correctness never depends on
 * it (every decision is a conditional write); this only saves requests.
 */
export async function claimEvaluation(t: StoreTable, owner: string, nowMs: number, evaluating: boolean): Promise<void> {
  await t.put({ Item: { cluster: INDEX_PARTITION, sk: SK.evaluator, owner, sinceMs: nowMs, evaluating } });
}

/** Who claimed the evaluation last, and whether it has completed a round since (it really runs). */
export async function evaluationOwner(t: StoreTable): Promise<{ owner: string; evaluating: boolean } | undefined> {
  const result = await t.documents.send(
    new GetCommand({ TableName: t.table, Key: { cluster: INDEX_PARTITION, sk: SK.evaluator } }),
  );
  const item = result.Item;
  return typeof item?.owner === 'string' ? { owner: item.owner, evaluating: item.evaluating === true } : undefined;
}
