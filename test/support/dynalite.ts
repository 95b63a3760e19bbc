// dynalite in this test process, on a free loopback port; close() stops it.

import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import { allowNode } from '../../core/membership.ts';
import { DEFAULT_CLUSTER_POLICY, type AllowedNode, type ClusterRecord } from '../../core/records.ts';
import { StateStore } from '../../core/state-store.ts';

export interface TestStore {
  endpoint: string;
  port: number;
  store: StateStore;
  close(): Promise<void>;
}

export async function startDynalite(table = 'pgfailover', port = 0): Promise<TestStore> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  // The tests' client sends without retries on kept-alive sockets; a server that closes a socket idle for 5 s
  // (Node's default) can do so just as a request goes out on it after a CLI run, which reads as ECONNRESET.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${actualPort}`;
  const store = StateStore.connect({ table, endpoint, region: 'local', maxAttempts: 1 });
  await store.createTableIfMissing();
  return {
    endpoint,
    port: actualPort,
    store,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/**
 * A cluster with db1 as its recorded primary and `databases` database nodes (db1, db2, ...) at
 * `${addressPrefix}10`, `${addressPrefix}11`, ..., plus any `extra` members (a witness), all allowed.
 */
export async function seedCluster(
  store: StateStore,
  cluster: string,
  addressPrefix: string,
  options: { databases?: number; extra?: AllowedNode[]; nowMs?: number } = {},
): Promise<ClusterRecord> {
  const nowMs = options.nowMs ?? Date.now();
  // Agent fencing, as the evaluator scenarios here were written for (no watchdog plays along in them).
  const policy = { ...DEFAULT_CLUSTER_POLICY, fencing: 'agent' as const };
  const record = await store.initCluster({ cluster, policy, primaryNodeId: 'db1' }, nowMs);
  const databases = Array.from({ length: options.databases ?? 3 }, (_, index) => ({
    nodeId: `db${index + 1}`,
    address: `${addressPrefix}${10 + index}`,
  }));
  await store.updateMembership(
    cluster,
    (m) => [...databases, ...(options.extra ?? [])].reduce((current, node) => allowNode(current, node), m),
    nowMs,
  );
  return record;
}
