// The one write loop every local-mode client runs (in this process, or inside the lab's client
// namespace): numbered rows committed one by one, reconnecting as applications do, each acknowledged
// commit reported. A commit whose outcome is unknown (the connection broke) is not reported.

import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { SqlTarget } from './superuser-sql.ts';

/**
 * A client on the same network gives up a connection attempt after this long and tries again: a connect
 * sent to a holder that went silent would otherwise wait out a long timeout, and a drill would count that
 * wait as unavailability the failover did not cause. In the lab a connection is made in a millisecond or two.
 */
const CONNECT_TIMEOUT_MS = 150;

export interface RowWriterOptions {
  /**
   * Where to commit. With several, the writer stays on one while it accepts and moves to the next when
   * a commit fails (refused, timed out, read-only): "whichever node accepts", as a multi-host client does.
   */
  target: SqlTarget | SqlTarget[];
  password: string;
  /** A table with a bigint primary key "id". */
  table: string;
  firstId: number;
  running: () => boolean;
  onAck: (id: number, atMs: number) => void;
}

export async function writeRows(options: RowWriterOptions): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(options.table)) throw new Error(`not a plain table name: ${options.table}`);
  let next = options.firstId;
  let client: pg.Client | undefined;
  const targets = Array.isArray(options.target) ? options.target : [options.target];
  let current = 0;
  while (options.running()) {
    try {
      if (!client) {
        client = new pg.Client({
          ...targets[current % targets.length],
          user: 'postgres',
          database: 'postgres',
          ssl: false,
          password: options.password,
          connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
          query_timeout: 2000,
        });
        client.on('error', () => undefined);
        await client.connect();
      }
      const id = next++;
      await client.query(`INSERT INTO ${options.table} (id) VALUES ($1)`, [id]);
      options.onAck(id, Date.now());
      await sleep(10);
    } catch {
      void client?.end().catch(() => undefined);
      client = undefined;
      current++;
      // Once round every target without a commit, pause before the next round.
      if (current % targets.length === 0) await sleep(20);
    }
  }
  await client?.end().catch(() => undefined);
}
