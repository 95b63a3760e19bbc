// The one typed module through which the agent, the Lambdas and the CLI reach the state table.
// Single-item conditional writes only (no transactions, no streams): the same protocol works on DynamoDB
// and on dynalite. Reads that feed a decision are consistent reads. Every item read is schema-checked.

import { Agent as HttpAgent } from 'node:http';
import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { z } from 'zod';
import { NotFoundError, StoreConflictError } from './errors.ts';
import { fencingWarning } from './fencing.ts';
import { historyEntry } from './history.ts';
import type { Membership } from './membership.ts';
import {
  INDEX_PARTITION,
  SK,
  clusterRecordSchema,
  describeIssues,
  heartbeatKey,
  heartbeatRecordSchema,
  newClusterRecord,
  historyRecordSchema,
  membershipRecordSchema,
  rejectedHeartbeatSchema,
  rejectedKey,
  type ClusterPolicy,
  type ClusterRecord,
  type HeartbeatRecord,
  type HistoryRecord,
  type MembershipRecord,
  type RejectedHeartbeat,
} from './records.ts';

export interface StoreConnection {
  table: string;
  region?: string | undefined;
  /** dynalite (local mode, tests): http://host:port, or unix:///path for its socket; unset for DynamoDB itself. */
  endpoint?: string | undefined;
  /** Per-request timeout, so a hung connection cannot stall a heartbeat loop. */
  requestTimeoutMs?: number;
  maxAttempts?: number;
}

/**
 * An HTTP agent that reaches the server through a Unix socket: how tools outside the local mode's
 * network lab reach the state store inside it (a socket file crosses network namespaces; no route does).
 */
class UnixSocketAgent extends HttpAgent {
  constructor(private readonly socketPath: string) {
    super({ keepAlive: true });
  }

  override createConnection(): Duplex {
    return createConnection(this.socketPath);
  }
}

/** "unix:///path/to/store.sock" names a local-mode store reached through its socket. */
const UNIX_ENDPOINT = /^unix:\/\/(\/.+)$/;

export function createDocumentClient(connection: Omit<StoreConnection, 'table'>): DynamoDBDocumentClient {
  const socketPath = connection.endpoint ? UNIX_ENDPOINT.exec(connection.endpoint)?.[1] : undefined;
  const client = new DynamoDBClient({
    region: connection.region ?? process.env.AWS_REGION ?? (connection.endpoint ? 'local' : undefined),
    ...(connection.endpoint
      ? {
          endpoint: socketPath ? 'http://localhost' : connection.endpoint,
          // dynalite checks that a signature is present, not whose it is.
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        }
      : {}),
    maxAttempts: connection.maxAttempts ?? 3,
    // A hung store must fail the request, not just log a warning: heartbeats, leases and decisions
    // all depend on hearing "no" in time.
    requestHandler: {
      requestTimeout: connection.requestTimeoutMs ?? 3000,
      connectionTimeout: connection.requestTimeoutMs ?? 3000,
      throwOnRequestTimeout: true,
      ...(socketPath ? { httpAgent: new UnixSocketAgent(socketPath) } : {}),
    },
  });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

export interface InvalidItem {
  sk: string;
  problems: string[];
}

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

export class StateStore {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  static connect(connection: StoreConnection): StateStore {
    return new StateStore(createDocumentClient(connection), connection.table);
  }

  /** For the local mode and tests; in AWS the CDK stack owns the table. */
  async createTableIfMissing(): Promise<void> {
    try {
      await this.documents.send(new DescribeTableCommand({ TableName: this.table }));
      return;
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
    await this.documents.send(
      new CreateTableCommand({
        TableName: this.table,
        AttributeDefinitions: [
          { AttributeName: 'cluster', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'cluster', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    for (let attempt = 0; attempt < 100; attempt++) {
      const description = await this.documents.send(new DescribeTableCommand({ TableName: this.table }));
      if (description.Table?.TableStatus === 'ACTIVE') return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`table ${this.table} did not become ACTIVE`);
  }

  /** Creates the cluster record and an empty membership; fails if the cluster exists. */
  async initCluster(spec: NewCluster, nowMs: number): Promise<ClusterRecord> {
    const record = newClusterRecord(spec, nowMs);
    clusterRecordSchema.parse(record);
    // The index entry first: a cluster is never left out of the evaluator's list; an entry whose cluster
    // record was never written (the put below failed) is skipped by listClusters' reader.
    await this.indexCluster(spec.cluster);
    await this.putIfAbsent(record, `cluster ${spec.cluster} already exists`, clusterRecordSchema);
    const membership: MembershipRecord = {
      cluster: spec.cluster,
      sk: SK.membership,
      version: 1,
      allowed: [],
      priority: [],
      updatedAtMs: nowMs,
    };
    await this.putIfAbsent(membership, `membership of cluster ${spec.cluster} already exists`, membershipRecordSchema);
    const gap = fencingWarning(spec.policy);
    if (gap)
      await this.appendHistory(
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

  async getCluster(cluster: string): Promise<ClusterRecord | undefined> {
    return this.getItem(cluster, SK.cluster, clusterRecordSchema);
  }

  async getMembership(cluster: string): Promise<MembershipRecord | undefined> {
    return this.getItem(cluster, SK.membership, membershipRecordSchema);
  }

  /**
   * Read-modify-write of the membership, conditioned on the version read; a concurrent change makes it
   * read again and re-apply `change`, so no edit is lost. `change` may throw a UsageError to refuse.
   */
  async updateMembership(
    cluster: string,
    change: (current: Membership) => Membership,
    nowMs: number,
  ): Promise<MembershipRecord> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.getMembership(cluster);
      if (!current)
        throw new NotFoundError(
          `cluster ${cluster} does not exist in table ${this.table}; create it with pgfailover init --cluster ${cluster}`,
        );
      const changed = change({ allowed: current.allowed, priority: current.priority });
      const next: MembershipRecord = { ...current, ...changed, version: current.version + 1, updatedAtMs: nowMs };
      membershipRecordSchema.parse(next);
      try {
        await this.documents.send(
          new PutCommand({
            TableName: this.table,
            Item: next,
            ConditionExpression: '#version = :read',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':read': current.version },
          }),
        );
        return next;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) || attempt >= 4)
          throw this.conflict(error, 'membership update', undefined);
      }
    }
  }

  /**
   * Writes a heartbeat unless a newer one from the same agent run is already stored: a delayed retry of
   * an old heartbeat must never overwrite a newer one.
   */
  async putHeartbeat(heartbeat: HeartbeatRecord): Promise<void> {
    heartbeatRecordSchema.parse(heartbeat);
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.table,
          Item: heartbeat,
          ConditionExpression: 'attribute_not_exists(#sk) OR #bootId <> :boot OR #seq < :seq',
          ExpressionAttributeNames: { '#sk': 'sk', '#bootId': 'bootId', '#seq': 'seq' },
          ExpressionAttributeValues: { ':boot': heartbeat.bootId, ':seq': heartbeat.seq },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (error) {
      throw await this.conflictWithCurrent(
        error,
        `heartbeat ${heartbeat.nodeId} seq ${heartbeat.seq}`,
        heartbeat.cluster,
        heartbeat.sk,
        heartbeatRecordSchema,
      );
    }
  }

  /** Counts a heartbeat refused because its node is not allowed (or its address does not match). */
  async recordRejected(cluster: string, nodeId: string, address: string, reason: string, nowMs: number): Promise<void> {
    await this.documents.send(
      new UpdateCommand({
        TableName: this.table,
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

  async deleteRejected(cluster: string, nodeId: string): Promise<void> {
    await this.documents.send(new DeleteCommand({ TableName: this.table, Key: { cluster, sk: rejectedKey(nodeId) } }));
  }

  async deleteHeartbeat(cluster: string, nodeId: string): Promise<void> {
    await this.documents.send(new DeleteCommand({ TableName: this.table, Key: { cluster, sk: heartbeatKey(nodeId) } }));
  }

  /** Everything about one cluster, read consistently in one query (one partition). */
  /**
   * Everything the evaluator decides on, in one Query. Consistent by default; `eventual` costs half (and may
   * be a moment old), for a look that only decides whether to look again consistently (the evaluator).
   */
  async readSnapshot(cluster: string, consistency: ReadConsistency = 'consistent'): Promise<ClusterSnapshot> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(
        new QueryCommand({
          TableName: this.table,
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
      const result = schema.safeParse(item);
      if (result.success) return result.data;
      invalid.push({ sk: String(item.sk), problems: describeIssues(result.error) });
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
        `cluster ${cluster} does not exist in table ${this.table}; create it with pgfailover init --cluster ${cluster}`,
      );
    }
    return { cluster: clusterRecord, membership, heartbeats, rejected, invalid };
  }

  /**
   * The evaluator's write of a decision: lands only if nobody else wrote the cluster record since it was
   * read (version) and the primary has not renewed its lease since (leaseRenewals), so a decision made on
   * a lease that was in fact renewed can never take effect.
   */
  async writeCluster(next: ClusterRecord, expected: { version: number; leaseRenewals: number }): Promise<void> {
    clusterRecordSchema.parse(next);
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.table,
          Item: next,
          ConditionExpression: '#version = :version AND #leaseRenewals = :renewals',
          ExpressionAttributeNames: { '#version': 'version', '#leaseRenewals': 'leaseRenewals' },
          ExpressionAttributeValues: { ':version': expected.version, ':renewals': expected.leaseRenewals },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (error) {
      throw await this.conflictWithCurrent(
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
  async recordAddressHolder(cluster: ClusterRecord, holderNodeId: string, movedAtMs: number): Promise<void> {
    const setFailover = cluster.failover !== null && cluster.failover.addressMovedAtMs === null;
    try {
      await this.documents.send(
        new UpdateCommand({
          TableName: this.table,
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
      throw await this.conflictWithCurrent(
        error,
        `address holder of cluster ${cluster.cluster}`,
        cluster.cluster,
        SK.cluster,
        clusterRecordSchema,
      );
    }
  }

  /** fencing "ec2-stop": records that the node the evaluator is fencing is stopped, on the record it wrote. */
  async recordNodeStopped(cluster: ClusterRecord, stoppedAtMs: number): Promise<void> {
    if (!cluster.fence) throw new Error(`cluster ${cluster.cluster} has no fence under way`);
    try {
      await this.documents.send(
        new UpdateCommand({
          TableName: this.table,
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
      throw await this.conflictWithCurrent(
        error,
        `fence of ${cluster.fence.nodeId} in cluster ${cluster.cluster}`,
        cluster.cluster,
        SK.cluster,
        clusterRecordSchema,
      );
    }
  }

  /**
   * The primary's lease renewal: only while it is still the primary of that term. Returns the cluster
   * record as it stands after the renewal, so that the primary learns a new goal (a switchover) with
   * each renewal rather than at its next heartbeat, at no extra request.
   */
  async renewLease(cluster: string, nodeId: string, term: number, durationMs: number): Promise<ClusterRecord> {
    return this.leaseUpdate(
      cluster,
      nodeId,
      term,
      'SET #leaseRenewals = #leaseRenewals + :one, #leaseGrantedMs = :duration',
      { '#leaseRenewals': 'leaseRenewals', '#leaseGrantedMs': 'leaseGrantedMs' },
      { ':one': 1, ':duration': durationMs },
    );
  }

  /** Said by a primary's agent after it fenced its own database: nobody need wait out its lease. */
  async releaseLease(cluster: string, nodeId: string, term: number): Promise<void> {
    // The counter moves too: the evaluator's writes are conditional on it, so a decision read before the
    // release cannot write leaseReleased back to false (seen: it did, and the failover waited a second
    // for the agent to release again).
    await this.leaseUpdate(
      cluster,
      nodeId,
      term,
      'SET #leaseReleased = :yes, #leaseRenewals = #leaseRenewals + :one',
      { '#leaseReleased': 'leaseReleased', '#leaseRenewals': 'leaseRenewals' },
      { ':yes': true, ':one': 1 },
    );
  }

  private async leaseUpdate(
    cluster: string,
    nodeId: string,
    term: number,
    update: string,
    names: Record<string, string>,
    values: Record<string, unknown>,
  ): Promise<ClusterRecord> {
    let result;
    try {
      result = await this.documents.send(
        new UpdateCommand({
          TableName: this.table,
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
      throw await this.conflictWithCurrent(
        error,
        `lease of ${nodeId} in term ${term}`,
        cluster,
        SK.cluster,
        clusterRecordSchema,
      );
    }
    const parsed = clusterRecordSchema.safeParse(result.Attributes);
    if (!parsed.success)
      throw new Error(
        `${cluster}/${SK.cluster} in table ${this.table} is not a valid record: ${describeIssues(parsed.error).join('; ')}`,
      );
    return parsed.data;
  }

  async appendHistory(entry: HistoryRecord): Promise<void> {
    historyRecordSchema.parse(entry);
    await this.documents.send(new PutCommand({ TableName: this.table, Item: entry }));
  }

  /** The newest `limit` history entries, oldest first. */
  async readHistory(cluster: string, limit = 100): Promise<{ entries: HistoryRecord[]; invalid: InvalidItem[] }> {
    const page = await this.documents.send(
      new QueryCommand({
        TableName: this.table,
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
      const parsed = historyRecordSchema.safeParse(item);
      if (parsed.success) entries.push(parsed.data);
      else invalid.push({ sk: String(item.sk), problems: describeIssues(parsed.error) });
    }
    return { entries: entries.reverse(), invalid };
  }

  /** Names of all clusters in the table (a small scan of cluster records). */
  /** Lists a cluster in the index partition (idempotent). */
  async indexCluster(cluster: string): Promise<void> {
    await this.documents.send(
      new PutCommand({
        TableName: this.table,
        Item: { cluster: INDEX_PARTITION, sk: `${SK.clusterIndexPrefix}${cluster}` },
      }),
    );
  }

  /**
   * The clusters in the table: one Query of the index partition (a few hundred bytes per cluster), never a
   * Scan of heartbeats and history. A table written before the index existed is indexed once from a Scan.
   */
  async listClusters(): Promise<string[]> {
    const names: string[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: '#cluster = :index AND begins_with(#sk, :prefix)',
          ExpressionAttributeNames: { '#cluster': 'cluster', '#sk': 'sk' },
          ExpressionAttributeValues: { ':index': INDEX_PARTITION, ':prefix': SK.clusterIndexPrefix },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) names.push(String(item.sk).slice(SK.clusterIndexPrefix.length));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    if (names.length === 0) return this.indexFromScan();
    return names.sort();
  }

  /** Once, for a table from before the index: finds the cluster records by Scan and indexes them. */
  private async indexFromScan(): Promise<string[]> {
    const names: string[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(
        new ScanCommand({
          TableName: this.table,
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
    for (const name of names) await this.indexCluster(name);
    return names.sort();
  }

  /**
   * Evaluator coordination: the newest invocation claims the evaluation; an older one that sees another
   * owner stands down, so two overlapping invocations do not double the load. Correctness never depends on
   * it (every decision is a conditional write); this only saves requests.
   */
  async claimEvaluation(owner: string, nowMs: number, evaluating: boolean): Promise<void> {
    await this.documents.send(
      new PutCommand({
        TableName: this.table,
        Item: { cluster: INDEX_PARTITION, sk: SK.evaluator, owner, sinceMs: nowMs, evaluating },
      }),
    );
  }

  /** Who claimed the evaluation last, and whether it has completed a round since (it really runs). */
  async evaluationOwner(): Promise<{ owner: string; evaluating: boolean } | undefined> {
    const result = await this.documents.send(
      new GetCommand({ TableName: this.table, Key: { cluster: INDEX_PARTITION, sk: SK.evaluator } }),
    );
    const item = result.Item;
    return typeof item?.owner === 'string' ? { owner: item.owner, evaluating: item.evaluating === true } : undefined;
  }

  private async getItem<S extends z.ZodType>(cluster: string, sk: string, schema: S): Promise<z.infer<S> | undefined> {
    const result = await this.documents.send(
      new GetCommand({ TableName: this.table, Key: { cluster, sk }, ConsistentRead: true }),
    );
    if (!result.Item) return undefined;
    const parsed = schema.safeParse(result.Item);
    if (!parsed.success)
      throw new Error(
        `${cluster}/${sk} in table ${this.table} is not a valid record: ${describeIssues(parsed.error).join('; ')}`,
      );
    return parsed.data;
  }

  private async putIfAbsent<S extends z.ZodType>(
    item: Record<string, unknown>,
    what: string,
    schema: S,
  ): Promise<void> {
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.table,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#sk)',
          ExpressionAttributeNames: { '#sk': 'sk' },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (error) {
      throw await this.conflictWithCurrent(error, what, String(item.cluster), String(item.sk), schema);
    }
  }

  /** Turns ConditionalCheckFailed into a StoreConflictError carrying the item as it now is. */
  private async conflictWithCurrent<S extends z.ZodType>(
    error: unknown,
    what: string,
    cluster: string,
    sk: string,
    schema: S,
  ): Promise<unknown> {
    if (!(error instanceof ConditionalCheckFailedException)) return error;
    // DynamoDB returns the item with the failure; engines that do not are asked with a consistent read.
    const returned = error.Item ? schema.safeParse(unmarshall(error.Item)) : undefined;
    const current = returned?.success ? returned.data : await this.getItem(cluster, sk, schema).catch(() => undefined);
    return new StoreConflictError<z.infer<S>>(what, current);
  }

  private conflict(error: unknown, what: string, current: unknown): unknown {
    return error instanceof ConditionalCheckFailedException ? new StoreConflictError(what, current) : error;
  }
}

function pushDefined<T>(list: T[], value: T | undefined): void {
  if (value !== undefined) list.push(value);
}
