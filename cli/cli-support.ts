// What every administrative command shares: the store options, finding the cluster, argument parsers,
// who is acting (for the history), and printing.

import { hostname, userInfo } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadAgentConfig } from '../core/agent-config.ts';
import { UsageError } from '../core/errors.ts';
import { nodeIdSchema } from '../core/records.ts';
import { StateStore } from '../core/state-store.ts';
import type { StoreContext } from '../core/store-errors.ts';

export interface StoreOptions {
  table: string;
  region?: string;
  endpoint?: string;
  config?: string;
  cluster?: string;
  /** --json: one JSON object on stdout instead of sentences. */
  json?: boolean;
}

export const out = (text: string) => process.stdout.write(`${text}\n`);

export function wholeNumber(name: string, min: number) {
  return (value: string): number => {
    const number = Number(value);
    if (!/^\d+$/.test(value) || number < min)
      throw new InvalidArgumentError(`${name} must be a whole number of at least ${min}; got "${value}"`);
    return number;
  };
}

export function validated(schema: typeof nodeIdSchema, what: string) {
  return (value: string): string => {
    const parsed = schema.safeParse(value);
    if (!parsed.success)
      throw new InvalidArgumentError(`${what} "${value}": ${parsed.error.issues[0]?.message ?? 'not valid'}`);
    return parsed.data;
  };
}

/** The store the command talks to, so that a failure can be explained in its terms. */
export let storeContext: StoreContext | undefined;

/** Store and cluster from the flags, or from an agent config file (--config) as EFM reads its properties. */
export function resolveStore(options: StoreOptions): { store: StateStore; cluster: string | undefined } {
  if (options.config) {
    const config = loadAgentConfig(options.config);
    storeContext = {
      table: config.store.table,
      region: config.store.region ?? process.env.AWS_REGION,
      endpoint: config.store.endpoint,
    };
    return { store: StateStore.connect(config.store), cluster: options.cluster ?? config.cluster };
  }
  storeContext = { table: options.table, region: options.region, endpoint: options.endpoint };
  return {
    store: StateStore.connect({ table: options.table, region: options.region, endpoint: options.endpoint }),
    cluster: options.cluster,
  };
}

/** The cluster named, which must exist; or the only one in the table. */
export async function requireCluster(store: StateStore, cluster: string | undefined): Promise<string> {
  if (cluster) {
    if (await store.getCluster(cluster)) return cluster;
    const known = await store.listClusters();
    throw new UsageError(
      `there is no cluster ${cluster} in table ${store.table}${known.length ? `; it holds ${known.join(', ')}` : '; it holds none'}. Check --cluster, or create it with: pgfailover init --cluster ${cluster}`,
    );
  }
  const clusters = await store.listClusters();
  if (clusters.length === 1 && clusters[0]) return clusters[0];
  if (clusters.length === 0)
    throw new UsageError(`table ${store.table} holds no cluster; create one with: pgfailover init --cluster NAME`);
  throw new UsageError(
    `table ${store.table} holds several clusters (${clusters.join(', ')}); choose one with --cluster NAME`,
  );
}

export function withStoreOptions(command: Command): Command {
  return command
    .addOption(new Option('--table <name>', 'state table').env('PGFAILOVER_TABLE').default('pgfailover'))
    .addOption(new Option('--region <region>', 'AWS region of the table').env('AWS_REGION'))
    .addOption(
      new Option('--endpoint <url>', 'DynamoDB-compatible endpoint (local mode, tests)').env(
        'PGFAILOVER_STORE_ENDPOINT',
      ),
    )
    .option('--config <file>', "take the table and cluster from an agent's configuration file");
}

/** Who runs this command, for the history. */
export const operator = () => `${userInfo().username}@${hostname()}`;

export const changeOptions = (command: Command): Command =>
  command
    .option('--force', 'make a change the guard refuses (it says why); recorded as forced')
    .option('--reason <text>', 'why, for the history');

/** With --json, one JSON object on stdout; otherwise the sentence for a person. */
export function say(json: boolean | undefined, text: string, object: Record<string, unknown>): void {
  out(json ? JSON.stringify(object, null, 2) : text);
}
