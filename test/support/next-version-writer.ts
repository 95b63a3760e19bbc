// A stand-in for the next release sharing the state table: every few hundred ms it stamps every item of
// the cluster as a newer release would write it (store schema 2, its version, and attributes this release
// does not know), without changing anything this release reads. The cluster must keep working.

import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../../core/state-store.ts';
import { STORE_SCHEMA } from '../../core/store-schema.ts';

export const NEXT_VERSION = '9.0.0';

export function startNextVersionWriter(store: { endpoint: string; table: string; cluster: string }): {
  stop(): Promise<number>;
} {
  const documents = createDocumentClient({ endpoint: store.endpoint, region: 'local', maxAttempts: 1 });
  let stopped = false;
  let stamps = 0;
  const loop = (async () => {
    while (!stopped) {
      const page = await documents
        .send(
          new QueryCommand({
            TableName: store.table,
            KeyConditionExpression: '#cluster = :cluster',
            ExpressionAttributeNames: { '#cluster': 'cluster' },
            ExpressionAttributeValues: { ':cluster': store.cluster },
          }),
        )
        .catch(() => undefined);
      for (const item of page?.Items ?? []) {
        await documents
          .send(
            new UpdateCommand({
              TableName: store.table,
              Key: { cluster: item.cluster, sk: item.sk },
              UpdateExpression: 'SET #schema = :schema, #by = :by, #hint = :hint',
              // Never recreates an item that was deleted meanwhile.
              ConditionExpression: 'attribute_exists(#sk)',
              ExpressionAttributeNames: {
                '#schema': 'schema',
                '#by': 'writtenBy',
                '#hint': 'placementHint',
                '#sk': 'sk',
              },
              ExpressionAttributeValues: {
                ':schema': STORE_SCHEMA + 1,
                ':by': NEXT_VERSION,
                ':hint': { zone: 'eu-west-1a', weights: [1, 2] },
              },
            }),
          )
          .then(() => stamps++)
          .catch(() => undefined);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      documents.destroy();
      return stamps;
    },
  };
}
