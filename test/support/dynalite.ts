// dynalite in this test process, on a free loopback port; close() stops it.

import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import { StateStore } from '../../core/state-store.ts';

export interface TestStore {
  endpoint: string;
  port: number;
  store: StateStore;
  close(): Promise<void>;
}

export async function startDynalite(table = 'pgfailover', port = 0): Promise<TestStore> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
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
