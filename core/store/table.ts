// The state table itself: its client and name, reads that check an item's schema, and conditional writes
// whose ConditionalCheckFailed becomes a StoreConflictError carrying the item as it now is. Every family of
// items (cluster-items.ts, heartbeat-items.ts, ...) goes through it.

import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  type PutCommandInput,
  type PutCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { z } from 'zod';
import { StoreConflictError } from '../errors.ts';
import { parseStored, readStored, stamped } from '../store-schema.ts';

export interface InvalidItem {
  sk: string;
  problems: string[];
}

export class StoreTable {
  constructor(
    readonly documents: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  async getItem<S extends z.ZodType>(cluster: string, sk: string, schema: S): Promise<z.infer<S> | undefined> {
    const result = await this.documents.send(
      new GetCommand({ TableName: this.table, Key: { cluster, sk }, ConsistentRead: true }),
    );
    if (!result.Item) return undefined;
    return parseStored(schema, result.Item, `${cluster}/${sk} in table ${this.table}`);
  }

  /** Every write of a whole item goes here: it is stamped with the schema and release that wrote it. */
  put(input: Omit<PutCommandInput, 'TableName' | 'Item'> & { Item: object }): Promise<PutCommandOutput> {
    return this.documents.send(new PutCommand({ ...input, TableName: this.table, Item: stamped(input.Item) }));
  }

  async putIfAbsent<S extends z.ZodType>(item: Record<string, unknown>, what: string, schema: S): Promise<void> {
    try {
      await this.put({
        Item: item,
        ConditionExpression: 'attribute_not_exists(#sk)',
        ExpressionAttributeNames: { '#sk': 'sk' },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      });
    } catch (error) {
      throw await this.conflictWithCurrent(error, what, String(item.cluster), String(item.sk), schema);
    }
  }

  /** Turns ConditionalCheckFailed into a StoreConflictError carrying the item as it now is. */
  async conflictWithCurrent<S extends z.ZodType>(
    error: unknown,
    what: string,
    cluster: string,
    sk: string,
    schema: S,
  ): Promise<unknown> {
    if (!(error instanceof ConditionalCheckFailedException)) return error;
    // DynamoDB returns the item with the failure; engines that do not are asked with a consistent read.
    const returned = error.Item ? readStored(schema, unmarshall(error.Item), `${cluster}/${sk}`) : undefined;
    const current = returned?.ok ? returned.data : await this.getItem(cluster, sk, schema).catch(() => undefined);
    return new StoreConflictError<z.infer<S>>(what, current);
  }

  conflict(error: unknown, what: string, current: unknown): unknown {
    return error instanceof ConditionalCheckFailedException ? new StoreConflictError(what, current) : error;
  }
}

/** For the local mode and tests; in AWS the CDK stack owns the table. */
export async function createTableIfMissing(t: StoreTable): Promise<void> {
  try {
    await t.documents.send(new DescribeTableCommand({ TableName: t.table }));
    return;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  await t.documents.send(
    new CreateTableCommand({
      TableName: t.table,
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
    const description = await t.documents.send(new DescribeTableCommand({ TableName: t.table }));
    if (description.Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`table ${t.table} did not become ACTIVE`);
}
