// Every request a state-store client sends, as IAM sees it (the action, the table, the partitions it
// touches), appended to a file as JSON lines when PGFAILOVER_REQUEST_LOG names one. The tests judge these
// against the stack's grants (dynalite checks no permissions); an operator can see what a command sends.

import { appendFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface StoreRequest {
  /** As IAM names it: dynamodb:GetItem, dynamodb:Query, ... */
  action: string;
  table: string;
  /** The partition keys the request reads or writes (dynamodb:LeadingKeys); empty for a Scan or a table call. */
  leadingKeys: string[];
}

type AttributeValues = Record<string, { S?: string } | undefined>;

interface LowLevelInput {
  TableName?: string;
  Key?: AttributeValues;
  Item?: AttributeValues;
  KeyConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: AttributeValues;
}

/** The partition a request names: its key's, its item's, or the one its key condition pins. */
function leadingKeys(input: LowLevelInput): string[] {
  const direct = input.Key?.cluster?.S ?? input.Item?.cluster?.S;
  if (direct !== undefined) return [direct];
  const condition = input.KeyConditionExpression;
  if (!condition) return [];
  const nameOf = Object.entries(input.ExpressionAttributeNames ?? {}).find(([, name]) => name === 'cluster')?.[0];
  const placeholder = nameOf ? new RegExp(`${nameOf} = (:\\w+)`).exec(condition)?.[1] : undefined;
  const value = placeholder ? input.ExpressionAttributeValues?.[placeholder]?.S : undefined;
  return value === undefined ? [] : [value];
}

/** Calls `record` with every request `documents` sends, before it is sent. */
export function recordRequests(documents: DynamoDBDocumentClient, record: (request: StoreRequest) => void): void {
  documents.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as LowLevelInput;
      record({
        action: `dynamodb:${String(context.commandName).replace(/Command$/, '')}`,
        table: input.TableName ?? '',
        leadingKeys: leadingKeys(input),
      });
      return next(args);
    },
    { step: 'build', name: 'pgfailoverRequestLog' },
  );
}

/**
 * With PGFAILOVER_REQUEST_LOG set, appends every request to that file, with the program that sent it (its
 * script's name and arguments' base names), so that one file can gather an agent's, the evaluator's and the CLI's.
 */
export function logRequestsFromEnvironment(documents: DynamoDBDocumentClient, env = process.env): void {
  const path = env.PGFAILOVER_REQUEST_LOG;
  if (!path) return;
  const program = process.argv
    .slice(1)
    .map((part) => basename(part))
    .join(' ');
  recordRequests(documents, (request) => appendFileSync(path, `${JSON.stringify({ ...request, program })}\n`));
}
