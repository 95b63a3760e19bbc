// One entry of a cluster's history (decisions, notices, administrators' changes), built in one place so
// that its key sorts by time and its TTL is the same whoever writes it.

import { randomUUID } from 'node:crypto';
import { SK, type HistoryRecord } from './records.ts';

/** History entries are kept this long (DynamoDB TTL on expiresAt). */
export const HISTORY_RETENTION_MS = 90 * 24 * 3600 * 1000;

export type HistoryFields = Pick<
  HistoryRecord,
  'cluster' | 'term' | 'kind' | 'event' | 'severity' | 'subject' | 'body' | 'nodeId' | 'actor'
>;

export function historyEntry(fields: HistoryFields, atMs: number): HistoryRecord {
  return {
    ...fields,
    sk: `${SK.historyPrefix}${String(atMs).padStart(15, '0')}#${randomUUID().slice(0, 8)}`,
    atMs,
    expiresAt: Math.floor((atMs + HISTORY_RETENTION_MS) / 1000),
  };
}
