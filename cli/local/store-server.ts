// The local mode's state store: dynalite (an implementation of the DynamoDB API), run as its own process
// so that the cluster keeps running after `pgfailover local up` returns. It listens on HOST:PORT (the
// loopback, or the "AWS side" address inside the network lab) and, when SOCKET is given, also on that
// Unix socket, through which tools outside the lab's namespaces reach it.
// With COUNTS, it also keeps a count of requests by DynamoDB operation in that JSON file (the benchmark's
// measure of what the agents and the evaluator ask of the store), eventually consistent reads apart.
// Usage: store-server PORT [HOST] [SOCKET] [COUNTS]

import { rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import type { IncomingMessage } from 'node:http';
import dynalite from 'dynalite';
import { INDEX_PARTITION } from '../../core/records.ts';
import { EXIT } from '../../core/exit-codes.ts';

const READS = new Set(['GetItem', 'Query', 'Scan']);

const [portArgument, host = '127.0.0.1', socketArgument, countsPath] = process.argv.slice(2);
const socketPath = socketArgument || undefined;
const port = Number(portArgument);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write(`usage: store-server PORT [HOST] [SOCKET] (got ${portArgument})\n`);
  process.exit(EXIT.usage);
}
// Tables become ACTIVE at once: the local mode has nothing to simulate there.
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
let countTimer: NodeJS.Timeout | undefined;
if (countsPath) {
  const counts: Record<string, number> = {};
  // "X-Amz-Target: DynamoDB_20120810.PutItem" names the operation. Reads that are not ConsistentRead cost half
  // as much, so they are counted apart ("Query:eventual"), from the body dynalite reads too; so are reads of
  // the deployment's index partition ("GetItem:eventual:index"), which the evaluator makes whatever the
  // number of clusters.
  server.prependListener('request', (request: IncomingMessage) => {
    const target =
      String(request.headers['x-amz-target'] ?? 'unknown')
        .split('.')
        .pop() ?? 'unknown';
    if (!READS.has(target)) {
      counts[target] = (counts[target] ?? 0) + 1;
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const consistent = /"ConsistentRead":\s*true/.test(body);
      const index = body.includes(`"${INDEX_PARTITION}"`);
      const name = `${target}${consistent ? '' : ':eventual'}${index ? ':index' : ''}`;
      counts[name] = (counts[name] ?? 0) + 1;
    });
  });
  const startedAtMs = Date.now();
  countTimer = setInterval(() => {
    writeFileSync(countsPath, `${JSON.stringify({ sinceMs: startedAtMs, atMs: Date.now(), counts })}\n`);
  }, 1000);
  countTimer.unref();
}
server.listen(port, host, () => {
  process.stdout.write(`dynalite listening on ${host}:${port}\n`);
});
let socketServer: Server | undefined;
if (socketPath) {
  rmSync(socketPath, { force: true });
  // The socket forwards to the TCP listener inside this namespace; each connection is piped both ways.
  socketServer = createServer((client) => {
    const upstream = createConnection({ host, port });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  socketServer.listen(socketPath, () => process.stdout.write(`and on ${socketPath}\n`));
}
const stop = () => {
  clearInterval(countTimer);
  socketServer?.close();
  if (socketPath) rmSync(socketPath, { force: true });
  server.close(() => process.exit(EXIT.ok));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
