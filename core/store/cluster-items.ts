// The cluster's own items: its record (the goal, the term, the lease counter) and its membership, and the
// one-query snapshot the evaluator decides on.

import { retryConflicts } from '../conflict-retry.ts';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { z } from 'zod';
import { NotFoundError } from '../errors.ts';
import { fencingWarning } from '../fencing.ts';
import { historyEntry } from '../history.ts';
import type { Membership } from '../membership.ts';
import {
  SK,
  clusterRecordSchema,
  heartbeatRecordSchema,
  newClusterRecord,
  membershipRecordSchema,
  rejectedHeartbeatSchema,
  type ClusterPolicy,
  type ClusterRecord,
  type HeartbeatRecord,
  type MembershipRecord,
  type RejectedHeartbeat,
} from '../records.ts';
import { StoreTable, type InvalidItem } from './table.ts';
import { readStored } from '../store-schema.ts';
import { appendHistory } from './history-items.ts';
import { indexCluster } from './index-items.ts';

export interface ClusterSnapshot {
  cluster: ClusterRecord;
  membership: MembershipRecord;
  heartbeats: HeartbeatRecord[];
  rejected: RejectedHeartbeat[];
  /** Items that did not match their schema: reported, never counted. */
  invalid: InvalidItem[];
}

export interface NewCluster {
  cluster: string;
  policy: ClusterPolicy;
  address?: ClusterRecord['address'];
  primaryNodeId?: string | null;
}

/** A read that must see every write acknowledged before it, or one that may be a moment behind (half price). */
export type ReadConsistency = 'consistent' | 'eventual';

/** Creates the cluster record and an empty membership; fails if the cluster exists. */
export async function initCluster(t: StoreTable, spec: NewCluster, nowMs: number): Promise<ClusterRecord> {
  const record = newClusterRecord(spec, nowMs);
  clusterRecordSchema.parse(record);
  // The index entry first: a cluster is never left out of the evaluator's list; an entry whose cluster
  // record was never written (the put below failed) is skipped by listClusters' reader.
  await indexCluster(t, spec.cluster);
  await t.putIfAbsent(record, `cluster ${spec.cluster} already exists`, clusterRecordSchema);
  const membership: MembershipRecord = {
    cluster: spec.cluster,
    sk: SK.membership,
    version: 1,
    allowed: [],
    priority: [],
    updatedAtMs: nowMs,
  };
  await t.putIfAbsent(membership, `membership of cluster ${spec.cluster} already exists`, membershipRecordSchema);
  const gap = fencingWarning(spec.policy);
  if (gap)
    await appendHistory(
      t,
      historyEntry(
        {
          cluster: spec.cluster,
          term: record.term,
          kind: 'notice',
          event: 'fencing-agent',
          severity: 'WARNING',
          subject: `cluster ${spec.cluster} created with fencing "agent", chosen by name`,
          body: gap,
          nodeId: null,
          actor: 'pgfailover init',
        },
        nowMs,
      ),
    );
  return record;
}

export async function getCluster(t: StoreTable, cluster: string): Promise<ClusterRecord | undefined> {
  return t.getItem(cluster, SK.cluster, clusterRecordSchema);
}

export async function getMembership(t: StoreTable, cluster: string): Promise<MembershipRecord | undefined> {
  return t.getItem(cluster, SK.membership, membershipRecordSchema);
}

/**
 * Read-modify-write of the membership, conditioned on the version read; a concurrent change makes it
 * read again and re-apply `change`, so no edit is lost. `change` may throw a UsageError to refuse.
 */
export async function updateMembership(
  t: StoreTable,
  cluster: string,
  change: (current: Membership) => Membership,
  nowMs: number,
): Promise<MembershipRecord> {
  const attempt = async (): Promise<MembershipRecord> => {
    const current = await getMembership(t, cluster);
    if (!current)
      throw new NotFoundError(
        `cluster ${cluster} does not exist in table ${t.table}; create it with pgfailover init --cluster ${cluster}`,
      );
    const changed = change({ allowed: current.allowed, priority: current.priority });
    const next: MembershipRecord = { ...current, ...changed, version: current.version + 1, updatedAtMs: nowMs };
    membershipRecordSchema.parse(next);
    await t.put({
      Item: next,
      ConditionExpression: '#version = :read',
      ExpressionAttributeNames: { '#version': 'version' },
      ExpressionAttributeValues: { ':read': current.version },
    });
    return next;
  };
  try {
    return await retryConflicts(attempt, (error) => error instanceof ConditionalCheckFailedException);
  } catch (error) {
    throw t.conflict(error, 'membership update', undefined);
  }
}

/**
 * Everything the evaluator decides on, in one Query. Consistent by default; `eventual` costs half (and may
 * be a moment old), for a look that only decides whether to look again consistently (the evaluator).
 */
export async function readSnapshot(
  t: StoreTable,
  cluster: string,
  consistency: ReadConsistency = 'consistent',
): Promise<ClusterSnapshot> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await t.documents.send(
      new QueryCommand({
        TableName: t.table,
        // Everything but the history, which only grows: its keys sort last ("~"), so a key range skips it.
        KeyConditionExpression: '#cluster = :cluster AND #sk < :history',
        ExpressionAttributeNames: { '#cluster': 'cluster', '#sk': 'sk' },
        ExpressionAttributeValues: { ':cluster': cluster, ':history': SK.historyPrefix },
        ConsistentRead: consistency === 'consistent',
        ExclusiveStartKey: startKey,
      }),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);

  const invalid: InvalidItem[] = [];
  const parse = <S extends z.ZodType>(schema: S, item: Record<string, unknown>): z.infer<S> | undefined => {
    const result = readStored(schema, item, `${cluster}/${String(item.sk)}`);
    if (result.ok) return result.data;
    invalid.push({ sk: String(item.sk), problems: result.problems });
    return undefined;
  };

  let clusterRecord: ClusterRecord | undefined;
  let membership: MembershipRecord | undefined;
  const heartbeats: HeartbeatRecord[] = [];
  const rejected: RejectedHeartbeat[] = [];
  for (const item of items) {
    const sk = String(item.sk);
    if (sk === SK.cluster) clusterRecord = parse(clusterRecordSchema, item);
    else if (sk === SK.membership) membership = parse(membershipRecordSchema, item);
    else if (sk.startsWith(SK.heartbeatPrefix)) pushDefined(heartbeats, parse(heartbeatRecordSchema, item));
    else if (sk.startsWith(SK.rejectedPrefix)) pushDefined(rejected, parse(rejectedHeartbeatSchema, item));
    // History entries are read with readHistory.
  }
  if (!clusterRecord || !membership) {
    const broken = invalid.find((entry) => entry.sk === SK.cluster || entry.sk === SK.membership);
    if (broken)
      throw new Error(`cluster ${cluster}: the ${broken.sk} item is not valid: ${broken.problems.join('; ')}`);
    throw new NotFoundError(
      `cluster ${cluster} does not exist in table ${t.table}; create it with pgfailover init --cluster ${cluster}`,
    );
  }
  return { cluster: clusterRecord, membership, heartbeats, rejected, invalid };
}

/**
 * The evaluator's write of a decision: lands only if nobody else wrote the cluster record since it was
 * read (version) and the primary has not renewed its lease since (leaseRenewals), so a decision made on
 * a lease that was in fact renewed can never take effect.
 */
export async function writeCluster(
  t: StoreTable,
  next: ClusterRecord,
  expected: { version: number; leaseRenewals: number },
): Promise<void> {
  clusterRecordSchema.parse(next);
  try {
    await t.put({
      Item: next,
      ConditionExpression: '#version = :version AND #leaseRenewals = :renewals',
      ExpressionAttributeNames: { '#version': 'version', '#leaseRenewals': 'leaseRenewals' },
      ExpressionAttributeValues: { ':version': expected.version, ':renewals': expected.leaseRenewals },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  } catch (error) {
    throw await t.conflictWithCurrent(
      error,
      `cluster ${next.cluster} (term ${next.term})`,
      next.cluster,
      SK.cluster,
      clusterRecordSchema,
    );
  }
}

/**
 * Records that the address now reaches `holderNodeId`, after the move, on the record the evaluator
 * wrote (same version and term). Not conditioned on the lease counter: the new primary renews it
 * several times a second, and the holder does not depend on it.
 */
export async function recordAddressHolder(
  t: StoreTable,
  cluster: ClusterRecord,
  holderNodeId: string,
  movedAtMs: number,
): Promise<void> {
  const setFailover = cluster.failover !== null && cluster.failover.addressMovedAtMs === null;
  try {
    await t.documents.send(
      new UpdateCommand({
        TableName: t.table,
        Key: { cluster: cluster.cluster, sk: SK.cluster },
        UpdateExpression: `SET #address.#holder = :holder, #version = :next, #updatedAtMs = :now${setFailover ? ', #failover.#movedAt = :now' : ''}`,
        ConditionExpression: '#version = :version AND #term = :term',
        ExpressionAttributeNames: {
          '#address': 'address',
          '#holder': 'holderNodeId',
          '#version': 'version',
          '#updatedAtMs': 'updatedAtMs',
          '#term': 'term',
          ...(setFailover ? { '#failover': 'failover', '#movedAt': 'addressMovedAtMs' } : {}),
        },
        ExpressionAttributeValues: {
          ':holder': holderNodeId,
          ':next': cluster.version + 1,
          ':now': movedAtMs,
          ':version': cluster.version,
          ':term': cluster.term,
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  } catch (error) {
    throw await t.conflictWithCurrent(
      error,
      `address holder of cluster ${cluster.cluster}`,
      cluster.cluster,
      SK.cluster,
      clusterRecordSchema,
    );
  }
}

/** fencing "ec2-stop": records that the node the evaluator is fencing is stopped, on the record it wrote. */
export async function recordNodeStopped(t: StoreTable, cluster: ClusterRecord, stoppedAtMs: number): Promise<void> {
  if (!cluster.fence) throw new Error(`cluster ${cluster.cluster} has no fence under way`);
  try {
    await t.documents.send(
      new UpdateCommand({
        TableName: t.table,
        Key: { cluster: cluster.cluster, sk: SK.cluster },
        UpdateExpression: 'SET #fence.#stoppedAt = :now, #version = :next, #updatedAtMs = :now',
        ConditionExpression: '#version = :version AND #fence.#nodeId = :node AND #fence.#term = :term',
        ExpressionAttributeNames: {
          '#fence': 'fence',
          '#stoppedAt': 'stoppedAtMs',
          '#version': 'version',
          '#updatedAtMs': 'updatedAtMs',
          '#nodeId': 'nodeId',
          '#term': 'term',
        },
        ExpressionAttributeValues: {
          ':now': stoppedAtMs,
          ':next': cluster.version + 1,
          ':version': cluster.version,
          ':node': cluster.fence.nodeId,
          ':term': cluster.fence.term,
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  } catch (error) {
    throw await t.conflictWithCurrent(
      error,
      `fence of ${cluster.fence.nodeId} in cluster ${cluster.cluster}`,
      cluster.cluster,
      SK.cluster,
      clusterRecordSchema,
    );
  }
}

function pushDefined<T>(list: T[], value: T | undefined): void {
  if (value !== undefined) list.push(value);
}
