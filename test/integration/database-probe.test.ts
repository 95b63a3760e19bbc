// The agent's database probe against a server that answers the PostgreSQL protocol with an error at
// connection time, as a real server does when it is full (SQLSTATE 53300) or starting up (57P03). A
// full primary is alive and serving: it must never be called DOWN, which would fail it over.

import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { checkReachable, HeldConnection, probeDatabase, watchConnection } from '../../agent/database-probe.ts';
import { INITIAL_HEALTH, nextLocalHealth, type ProbeOutcome } from '../../core/local-health.ts';

/** A FATAL ErrorResponse carrying `code`, as the postmaster sends a login it refuses. */
function errorResponse(code: string, message: string): Buffer {
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
  return Buffer.concat([Buffer.from('E'), length, body]);
}

/** Answers every startup message with an ErrorResponse carrying `code`, as the postmaster does. */
async function refusingServer(code: string, message: string): Promise<Server> {
  const response = errorResponse(code, message);
  const server = createServer((socket) => {
    socket.once('data', () => socket.end(response));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** Lets every client in (AuthenticationOk, ReadyForQuery) and keeps it connected; `drop()` closes them all. */
async function acceptingServer(): Promise<{ server: Server; drop: () => void; connected: () => number }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', () => {
      const authOk = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]);
      const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
      socket.write(Buffer.concat([authOk, ready]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    // As a postmaster that dies: the kernel of a live host closes its connections at once.
    drop: () => sockets.forEach((socket) => socket.destroy()),
    connected: () => [...sockets].filter((socket) => !socket.destroyed).length,
  };
}

/**
 * Asks every client for a SCRAM-SHA-256 password, as a server with scram-sha-256 in pg_hba does: the
 * AuthenticationSASL request, then the server-first message (node-postgres gives up only there without one).
 */
async function passwordAskingServer(): Promise<Server> {
  const auth = (code: number, body: Buffer) => {
    const header = Buffer.alloc(9);
    header.write('R', 0);
    header.writeUInt32BE(8 + body.length, 1);
    header.writeUInt32BE(code, 5);
    return Buffer.concat([header, body]);
  };
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => {
      socket.write(auth(10, Buffer.from('SCRAM-SHA-256\0\0')));
      socket.once('data', (initial) => {
        const clientNonce = /r=([^,\0]+)/.exec(initial.toString('latin1'))?.[1] ?? 'x';
        const salt = Buffer.from('0123456789abcdef').toString('base64');
        socket.write(auth(11, Buffer.from(`r=${clientNonce}server,s=${salt},i=4096`)));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/**
 * Lets every client in and answers each query with an empty result, as a live server would answer the
 * remote check's SELECT 1; counts the connections it accepted. `hang()` makes it stop answering queries (a
 * silent partition: the connection stays open, nothing comes back); `drop()` closes every connection.
 */
async function answeringServer(capacity = Infinity): Promise<{
  server: Server;
  accepted: () => number;
  open: () => number;
  hang: () => void;
  drop: () => void;
}> {
  const sockets = new Set<Socket>();
  // Sessions holding a slot: from their login until they say Terminate ('X') or close, as a backend does.
  const sessions = new Set<Socket>();
  let accepted = 0;
  let hanging = false;
  const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      sessions.delete(socket);
    });
    let started = false;
    socket.on('data', (data) => {
      if (!started) {
        started = true;
        if (sessions.size >= capacity)
          return void socket.end(errorResponse('53300', 'sorry, too many clients already'));
        sessions.add(socket);
        socket.write(Buffer.concat([Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]), ready]));
        return;
      }
      if (data[0] === 0x58) return void sessions.delete(socket);
      // A simple Query ('Q'): EmptyQueryResponse, then ReadyForQuery.
      if (data[0] === 0x51 && !hanging) socket.write(Buffer.concat([Buffer.from([0x49, 0, 0, 0, 4]), ready]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    accepted: () => accepted,
    open: () => [...sockets].filter((socket) => !socket.destroyed).length,
    hang: () => (hanging = true),
    drop: () => sockets.forEach((socket) => socket.destroy()),
  };
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

  it('a server that asks for a password the checker does not have (a witness) answered: alive, never DOWN', async () => {
    // Prepare
    server = await passwordAskingServer();
    const port = (server.address() as AddressInfo).port;
    const noPassword = { ...target(port), password: '' };
    // Act
    const reachable = await checkReachable(noPassword, 2000);
    const local = await probeDatabase(noPassword, 2000);
    // Assess: a peer's vote says the primary answers; its own agent says the configuration is wrong.
    expect(reachable).toEqual({ kind: 'ok' });
    expect(local.kind).toBe('refused');
    expect(local.kind === 'refused' ? local.reason : '').toMatch(/asks for a password and none is configured/);
  });

  it('a watched connection says so the moment the server closes it, and not before', async () => {
    // Prepare
    const accepting = await acceptingServer();
    server = accepting.server;
    const port = (server.address() as AddressInfo).port;
    const stop = new AbortController();
    let settled = false;
    let isOpen = false;
    // Act: the server drops the connection only once the watch holds it (not mid-handshake).
    const watching = watchConnection(target(port), 2000, stop.signal, () => (isOpen = true)).finally(
      () => (settled = true),
    );
    const deadline = Date.now() + 5000;
    while (!isOpen && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(isOpen).toBe(true);
    expect(settled).toBe(false);
    accepting.drop();
    // Assess
    await expect(watching).resolves.toBe(true);
  });

  it('a watch that cannot connect, or is stopped, says it saw no break', async () => {
    // Prepare: a port nothing listens on, and a live server for the stopped watch.
    const closed = await acceptingServer();
    const closedPort = (closed.server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.server.close(() => resolve()));
    const accepting = await acceptingServer();
    server = accepting.server;
    const stop = new AbortController();
    // Act
    const refused = await watchConnection(target(closedPort), 2000, stop.signal);
    const watching = watchConnection(target((server.address() as AddressInfo).port), 2000, stop.signal);
    const deadline = Date.now() + 5000;
    while (accepting.connected() === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    stop.abort();
    // Assess
    expect(refused).toBe(false);
    await expect(watching).resolves.toBe(false);
  });
});

describe('checks over a held connection', () => {
  const port = () => (server?.address() as AddressInfo).port;

  it('runs check after check on one connection, and opens a fresh one once it has served its time', async () => {
    // Prepare: a clock the test moves.
    const answering = await answeringServer();
    server = answering.server;
    let nowMs = 0;
    const held = new HeldConnection(target(port()), 10_000, () => nowMs);
    // Act
    const outcomes = [];
    for (let check = 0; check < 10; check++) {
      outcomes.push(await held.check(2000));
      nowMs += 500;
    }
    const onOne = answering.accepted();
    nowMs += 10_000;
    outcomes.push(await held.check(2000));
    // Assess
    expect(outcomes.every((outcome) => outcome.kind === 'ok')).toBe(true);
    expect(onOne).toBe(1);
    expect(answering.accepted()).toBe(2);
    held.close();
  });

  it('a fresh connection is opened before the held one goes, so a full server is seen full', async () => {
    // Prepare: a server with one slot, which the held connection takes.
    const answering = await answeringServer(1);
    server = answering.server;
    let nowMs = 0;
    const held = new HeldConnection(target(port()), 10_000, () => nowMs);
    const first = await held.check(2000);
    // Act: the held connection has served its time.
    nowMs += 10_000;
    const renewed = await held.probe(2000);
    // Assess: the fresh login was refused while the old session still held the slot (break-before-make would
    // have handed the slot back to itself and called the full server UP).
    expect(first.kind).toBe('ok');
    expect(renewed.kind).toBe('refused');
    expect(renewed.kind === 'refused' ? renewed.reason : '').toMatch(/53300/);
    held.close();
  });

  it('a server that stops answering fails the check within its time, and the next check connects anew', async () => {
    // Prepare
    const answering = await answeringServer();
    server = answering.server;
    const held = new HeldConnection(target(port()));
    expect((await held.check(2000)).kind).toBe('ok');
    // Act
    answering.hang();
    const startedMs = Date.now();
    const silent = await held.check(300);
    const tookMs = Date.now() - startedMs;
    const final = await held.check(300);
    // Assess: the final check went over a new connection (the server now hangs every query).
    expect(silent.kind).toBe('failed');
    expect(tookMs).toBeLessThan(2000);
    expect(final.kind).toBe('failed');
    expect(answering.accepted()).toBe(2);
    held.close();
  });

  it('a connection the server closed is not reused: the next check connects anew and succeeds', async () => {
    // Prepare
    const answering = await answeringServer();
    server = answering.server;
    const held = new HeldConnection(target(port()));
    expect((await held.check(2000)).kind).toBe('ok');
    // Act: the connection closes while idle (the server restarted).
    answering.drop();
    const deadline = Date.now() + 5000;
    while (answering.open() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    const again = await held.check(2000);
    // Assess
    expect(again.kind).toBe('ok');
    expect(answering.accepted()).toBe(2);
    held.close();
  });

  it('a check asked for while another runs gets a connection of its own; close() lets the held one go', async () => {
    // Prepare
    const answering = await answeringServer();
    server = answering.server;
    const held = new HeldConnection(target(port()));
    // Act
    const both = await Promise.all([held.check(2000), held.check(2000)]);
    held.close();
    const deadline = Date.now() + 5000;
    while (answering.open() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    // Assess
    expect(both.map((outcome) => outcome.kind)).toEqual(['ok', 'ok']);
    expect(answering.accepted()).toBe(2);
    expect(answering.open()).toBe(0);
  });
});
