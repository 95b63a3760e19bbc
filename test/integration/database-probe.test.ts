// The agent's database probe against a server that answers the PostgreSQL protocol with an error at
// connection time, as a real server does when it is full (SQLSTATE 53300) or starting up (57P03). A
// full primary is alive and serving: it must never be called DOWN, which would fail it over.

import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { checkReachable, probeDatabase } from '../../agent/database-probe.ts';
import { INITIAL_HEALTH, nextLocalHealth, type ProbeOutcome } from '../../core/local-health.ts';

/** Answers every startup message with an ErrorResponse carrying `code`, as the postmaster does. */
async function refusingServer(code: string, message: string): Promise<Server> {
  const field = (type: string, value: string) =>
    Buffer.concat([Buffer.from(type), Buffer.from(value), Buffer.from([0])]);
  const body = Buffer.concat([
    field('S', 'FATAL'),
    field('V', 'FATAL'),
    field('C', code),
    field('M', message),
    Buffer.from([0]),
  ]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length + 4);
  const response = Buffer.concat([Buffer.from('E'), length, body]);
  const server = createServer((socket) => {
    socket.once('data', () => socket.end(response));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

const target = (port: number) => ({
  host: '127.0.0.1',
  port,
  dbname: 'postgres',
  user: 'pgfailover',
  password: 'x',
  sslmode: 'disable' as const,
});

describe('database probe', () => {
  it('a full server (53300) is not DOWN: the check says UNKNOWN with what to do, and peers see it alive', async () => {
    // Prepare
    server = await refusingServer('53300', 'sorry, too many clients already');
    const port = (server.address() as AddressInfo).port;
    // Act
    const result = await probeDatabase(target(port), 2000);
    const reachable = await checkReachable(target(port), 2000);
    // Assess
    expect(result.kind).toBe('refused');
    expect(result.kind === 'refused' ? result.reason : '').toMatch(/53300.*no free connection slot/);
    let health = INITIAL_HEALTH;
    for (let check = 0; check < 3; check++) health = nextLocalHealth(health, result as ProbeOutcome);
    expect(health.status).toBe('UNKNOWN');
    expect(reachable).toEqual({ kind: 'ok' });
  });

  it('a server starting up or shutting down (57P03) counts as not answering, for the final check to confirm', async () => {
    server = await refusingServer('57P03', 'the database system is shutting down');
    const port = (server.address() as AddressInfo).port;
    const result = await probeDatabase(target(port), 2000);
    expect(result.kind).toBe('failed');
    expect((await checkReachable(target(port), 2000)).kind).toBe('failed');
  });
});
