// Every request a state-store client sends, as IAM sees it: the action, the table, and the partitions it
// touches (dynamodb:LeadingKeys). Recorded by SDK middleware on a real client against dynalite, so what is
// checked against the grants is what the code sends, not what a test says it sends.

import { createDocumentClient, StateStore } from '../../core/state-store.ts';

export interface StoreRequest {
  /** As IAM names it: dynamodb:GetItem, dynamodb:Query, ... */
  action: string;
  table: string;
  /** The partition keys the request reads or writes; empty for a Scan or a table-level call. */
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

/** A StateStore on dynalite whose every request is appended to `requests`. */
export function recordingStore(endpoint: string, table: string): { store: StateStore; requests: StoreRequest[] } {
  const requests: StoreRequest[] = [];
  const documents = createDocumentClient({ endpoint, region: 'local', maxAttempts: 1 });
  documents.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as LowLevelInput;
      requests.push({
        action: `dynamodb:${String(context.commandName).replace(/Command$/, '')}`,
        table: input.TableName ?? table,
        leadingKeys: leadingKeys(input),
      });
      return next(args);
    },
    { step: 'build', name: 'pgfailoverRequestRecorder' },
  );
  return { store: new StateStore(documents, table), requests };
}
