// The cluster's history: every decision and notice, appended, read newest first.

import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { SK, historyRecordSchema, type HistoryRecord } from '../records.ts';
import { readStored } from '../store-schema.ts';
import { StoreTable, type InvalidItem } from './table.ts';

export async function appendHistory(t: StoreTable, entry: HistoryRecord): Promise<void> {
  historyRecordSchema.parse(entry);
  await t.put({ Item: entry });
}

/** The newest `limit` history entries, oldest first. */
export async function readHistory(
  t: StoreTable,
  cluster: string,
  limit = 100,
): Promise<{ entries: HistoryRecord[]; invalid: InvalidItem[] }> {
  const page = await t.documents.send(
    new QueryCommand({
      TableName: t.table,
      KeyConditionExpression: '#cluster = :cluster AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#cluster': 'cluster', '#sk': 'sk' },
      ExpressionAttributeValues: { ':cluster': cluster, ':prefix': SK.historyPrefix },
      ScanIndexForward: false,
      Limit: limit,
    }),
  );
  const entries: HistoryRecord[] = [];
  const invalid: InvalidItem[] = [];
  for (const item of page.Items ?? []) {
    const parsed = readStored(historyRecordSchema, item, `${cluster}/${String(item.sk)}`);
    if (parsed.ok) entries.push(parsed.data);
    else invalid.push({ sk: String(item.sk), problems: parsed.problems });
  }
  return { entries: entries.reverse(), invalid };
}
