// The local mode's adapters against real sockets on loopback: the address forwarder and the notifiers.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalAddressForwarder, TcpForwarder } from '../../cli/local/address-forwarder.ts';
import { JsonLinesNotifier, WebhookNotifier } from '../../cli/local/notifiers.ts';
import { freePort } from '../../cli/local/processes.ts';
import type { Notice } from '../../core/notices.ts';

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

/** A server that answers every line with its own name. */
async function namedServer(name: string): Promise<number> {
  const server: Server = createServer((socket) => socket.on('data', () => socket.write(name)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

function ask(port: number): Promise<{ answer: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write('who?'));
    socket.once('data', (data) => resolve({ answer: data.toString(), socket }));
    socket.once('close', () => reject(new Error('closed without an answer')));
    socket.once('error', reject);
  });
}

const notice: Notice = {
  event: 'failover-completed',
  severity: 'WARNING',
  subject: 'WARNING: failover completed',
  body: 'db2 is the primary',
  nodeId: 'db2',
};

describe('local address forwarder', () => {
  it('forwards to the primary, and on a move drops old connections and reaches the new one', async () => {
    // Prepare
    const [first, second] = [await namedServer('db1'), await namedServer('db2')];
    const forwarder = new TcpForwarder(await freePort());
    await forwarder.listen();
    closers.push(() => forwarder.close());
    const mover = new LocalAddressForwarder(forwarder);
    await mover.moveTo({ cluster: 'c', nodeId: 'db1', address: `127.0.0.1:${first}`, host: null });
    const before = await ask(forwarder.port);
    const closed = new Promise<void>((resolve) => before.socket.once('close', () => resolve()));
    // Act
    await mover.moveTo({ cluster: 'c', nodeId: 'db2', address: `127.0.0.1:${second}`, host: null });
    // Assess
    expect(before.answer).toBe('db1');
    await closed;
    const after = await ask(forwarder.port);
    expect(after.answer).toBe('db2');
    expect(mover.currentTarget()).toBe('db2');
    after.socket.destroy();
  });

  it('refuses every connection while its link is cut, and forwards again when restored', async () => {
    const target = await namedServer('db1');
    const link = new TcpForwarder(await freePort(), { host: '127.0.0.1', port: target });
    await link.listen();
    closers.push(() => link.close());
    link.setCut(true);
    await expect(ask(link.port)).rejects.toThrow(/closed without an answer|ECONNRESET/);
    link.setCut(false);
    const restored = await ask(link.port);
    expect(restored.answer).toBe('db1');
    restored.socket.destroy();
  });
});

describe('local notifiers', () => {
  it('appends each notice as one JSON line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgfailover-notify-'));
    try {
      const path = join(dir, 'notifications.jsonl');
      const sink = new JsonLinesNotifier(path, { nowMs: () => 1234, monotonicMs: () => 1 });
      await sink.notify('prod', notice);
      await sink.notify('prod', { ...notice, event: 'resolved', severity: 'INFO' });
      const lines = readFileSync(path, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines).toEqual([
        { atMs: 1234, cluster: 'prod', ...notice },
        expect.objectContaining({ event: 'resolved', severity: 'INFO' }),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('POSTs each notice to the webhook as JSON, and reports a refusal', async () => {
    // Prepare: a real HTTP server on loopback.
    const received: { body: unknown; type: string | undefined }[] = [];
    let status = 204;
    const server = createHttpServer((request: IncomingMessage, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push({ body: JSON.parse(body), type: request.headers['content-type'] });
        response.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const webhook = new WebhookNotifier(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`);
    // Act
    await webhook.notify('prod', notice);
    status = 500;
    const refused = webhook.notify('prod', notice);
    // Assess
    await expect(refused).rejects.toThrow(/answered 500/);
    expect(received[0]).toEqual({ body: { cluster: 'prod', ...notice }, type: 'application/json' });
  });
});
