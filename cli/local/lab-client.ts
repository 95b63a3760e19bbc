// A client inside the network lab (run with `ip netns exec <lab>-app`): commits numbered rows one by one
// to HOST:PORT, reconnecting as applications do, and prints each acknowledged one as a JSON line
// {"id":N,"atMs":T,"host":HOST}. Only acknowledged commits are printed: a commit whose outcome is unknown
// (the connection broke) is not. Stops on SIGTERM.
// Usage: lab-client HOST PORT PASSWORD_FILE TABLE FIRST_ID

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

const [host, portText, passwordFile, table, firstIdText] = process.argv.slice(2);
if (!host || !portText || !passwordFile || !table || !/^[a-z_][a-z0-9_]*$/.test(table)) {
  process.stderr.write('usage: lab-client HOST PORT PASSWORD_FILE TABLE [FIRST_ID]\n');
  process.exit(2);
}
const password = readFileSync(passwordFile, 'utf8').trim();
let running = true;
process.on('SIGTERM', () => (running = false));
process.on('SIGINT', () => (running = false));

/** As in cluster-writer.ts: retry a connection attempt after 300 ms, as a client on the same network would. */
const CONNECT_TIMEOUT_MS = 300;

let next = Number(firstIdText ?? 1);
let client: pg.Client | undefined;
while (running) {
  try {
    if (!client) {
      client = new pg.Client({ host, port: Number(portText), user: 'postgres', database: 'postgres', ssl: false, password, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, query_timeout: 2000 });
      client.on('error', () => undefined);
      await client.connect();
    }
    const id = next++;
    await client.query(`INSERT INTO ${table} (id) VALUES ($1)`, [id]);
    process.stdout.write(`${JSON.stringify({ id, atMs: Date.now(), host })}\n`);
    await sleep(10);
  } catch {
    void client?.end().catch(() => undefined);
    client = undefined;
    await sleep(50);
  }
}
await client?.end().catch(() => undefined);
