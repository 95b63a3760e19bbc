// The lab's latency: this kernel has no netem qdisc, so delay is made by a small TCP proxy in the router
// namespace. The router redirects (DNAT) one kind of connection to it (a node's to the store, or the
// clients' to a node), and it holds every chunk `DELAY_MS` in each direction before passing it on, in
// order. Usage: delay-proxy LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS

import { createConnection, createServer, type Socket } from 'node:net';
import { EXIT } from '../../core/exit-codes.ts';

const [listenHost, listenPort, targetHost, targetPort, delayText] = process.argv.slice(2);
const delayMs = Number(delayText);
if (!listenHost || !listenPort || !targetHost || !targetPort || !Number.isFinite(delayMs) || delayMs < 0) {
  process.stderr.write('usage: delay-proxy LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS\n');
  process.exit(EXIT.usage);
}

/** Passes `from`'s data to `to`, each chunk `delayMs` later, keeping their order. */
function delayed(from: Socket, to: Socket): void {
  let chain = Promise.resolve();
  from.on('data', (chunk: Buffer) => {
    const due = Date.now() + delayMs;
    chain = chain.then(
      () =>
        new Promise<void>((resolve) =>
          setTimeout(
            () => {
              if (!to.destroyed) to.write(chunk);
              resolve();
            },
            Math.max(0, due - Date.now()),
          ),
        ),
    );
  });
  from.on('end', () => void chain.then(() => to.end()));
  from.on('close', () => void chain.then(() => to.destroy()));
  from.on('error', () => undefined);
}

const server = createServer((client) => {
  const upstream = createConnection({ host: targetHost, port: Number(targetPort) });
  delayed(client, upstream);
  delayed(upstream, client);
});
server.listen(Number(listenPort), listenHost, () =>
  process.stdout.write(
    `delaying ${listenHost}:${listenPort} -> ${targetHost}:${targetPort} by ${delayMs} ms each way\n`,
  ),
);
const stop = () => server.close(() => process.exit(EXIT.ok));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
