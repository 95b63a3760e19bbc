// One check of a PostgreSQL server: read its role and WAL positions, or only whether it answers.
// Checks run on a held connection that is replaced by a fresh one at least every 10 s and after any failure
// (EFM's db.reuse.connection.count): a fresh connection also proves the server still accepts new ones
// (not shutting down, a slot free), and a failed check is always confirmed over a new connection. In
// between, one query on the open session costs the server no backend and the agent no authentication.

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { DeadlineError, withDeadline } from '../core/deadline.ts';
import type { ProbeOutcome } from '../core/local-health.ts';
import { readFacts, type DatabaseFacts } from './database-facts.ts';
import { classify, reachability } from './database-errors.ts';

export type { DatabaseFacts, SyncCommits } from './database-facts.ts';

export interface DatabaseTarget {
  host: string;
  port: number;
  dbname: string;
  user: string;
  password: string | undefined;
  sslmode: 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
}

export type ProbeResult = ProbeOutcome & { facts?: DatabaseFacts };

export async function probeDatabase(target: DatabaseTarget, timeoutMs: number): Promise<ProbeResult> {
  try {
    return { kind: 'ok', facts: await withClient(target, timeoutMs, connectThen(readFacts)) };
  } catch (error) {
    return classify(error, target);
  }
}

/** How long a held connection serves checks before a fresh one replaces it. */
export const FRESH_CONNECTION_EVERY_MS = 10_000;

/**
 * One server checked again and again over a held connection (see the top of this file). A check that
 * fails, or runs out of time, drops the connection, so that the next one (the final check) connects anew.
 * A check asked for while another is running gets a connection of its own.
 */
export class HeldConnection {
  private client: pg.Client | undefined;
  private openedAtMs = 0;
  private busy = false;

  constructor(
    private readonly target: DatabaseTarget,
    private readonly freshEveryMs = FRESH_CONNECTION_EVERY_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Reads the server's role and WAL positions, as probeDatabase does. */
  async probe(timeoutMs: number): Promise<ProbeResult> {
    try {
      return { kind: 'ok', facts: await this.run(timeoutMs, readFacts) };
    } catch (error) {
      return classify(error, this.target);
    }
  }

  /** Whether the server answers, as checkReachable does. */
  async check(timeoutMs: number): Promise<ProbeOutcome> {
    try {
      await this.run(timeoutMs, selectOne);
      return { kind: 'ok' };
    } catch (error) {
      return reachability(error, this.target);
    }
  }

  close(): void {
    const client = this.client;
    this.client = undefined;
    if (client) void client.end().catch(() => undefined);
  }

  private async run<T>(timeoutMs: number, work: (client: pg.Client) => Promise<T>): Promise<T> {
    if (this.busy) return withClient(this.target, timeoutMs, connectThen(work));
    this.busy = true;
    const startedMs = this.now();
    try {
      const served = this.client;
      if (served && startedMs - this.openedAtMs >= this.freshEveryMs) {
        // Make before break: the fresh login is tried while the old session still holds its slot, so a full
        // server is seen full (refused, UNKNOWN) rather than handing the freed slot back to this agent.
        this.forget(served);
        try {
          return await this.connectAndRun(timeoutMs, work);
        } finally {
          void served.end().catch(() => undefined);
        }
      }
      const held = this.client;
      if (held) {
        try {
          return await withDeadline(work(held), timeoutMs);
        } catch (error) {
          this.forget(held);
          void held.end().catch(() => undefined);
          // A held connection can break unnoticed (the server restarted a moment ago): only a failure over a
          // fresh connection counts, so one is tried now, in the time left, unless the time itself ran out.
          const leftMs = timeoutMs - (this.now() - startedMs);
          if (error instanceof DeadlineError || leftMs <= 0) throw error;
          return await this.connectAndRun(leftMs, work);
        }
      }
      return await this.connectAndRun(timeoutMs, work);
    } finally {
      this.busy = false;
    }
  }

  private async connectAndRun<T>(timeoutMs: number, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = clientFor(this.target, timeoutMs, 'pgfailover-agent');
    // A connection that breaks while idle is dropped at once; the next check connects anew.
    client.on('error', () => this.forget(client));
    client.on('end', () => this.forget(client));
    try {
      const result = await withDeadline(connectThen(work)(client), timeoutMs);
      this.client = client;
      this.openedAtMs = this.now();
      return result;
    } catch (error) {
      void client.end().catch(() => undefined);
      throw error;
    }
  }

  private forget(client: pg.Client): void {
    if (this.client === client) this.client = undefined;
  }
}

/**
 * EFM's remote check of a peer's database: does the server answer? A server that answers with an
 * error (a login it refuses, say) is alive; only no answer, a refused connection, or "the database
 * system is starting up / shutting down" count as unreachable.
 */
export async function checkReachable(target: DatabaseTarget, timeoutMs: number): Promise<ProbeOutcome> {
  try {
    await withClient(target, timeoutMs, connectThen(selectOne));
    return { kind: 'ok' };
  } catch (error) {
    return reachability(error, target);
  }
}

async function selectOne(client: pg.Client): Promise<void> {
  await client.query('SELECT 1');
}

function connectThen<T>(work: (client: pg.Client) => Promise<T>): (client: pg.Client) => Promise<T> {
  return async (client) => {
    await client.connect();
    return work(client);
  };
}

/**
 * Opens a connection to `target` and holds it idle until it breaks (true) or `signal` aborts (false);
 * false too when it cannot be opened at all. A server that crashes, or whose host is alive but whose
 * postmaster died, closes it at once: the agent then checks again without waiting for its period.
 */
export async function watchConnection(
  target: DatabaseTarget,
  timeoutMs: number,
  signal: AbortSignal,
  opened: () => void = () => undefined,
): Promise<boolean> {
  if (signal.aborted) return false;
  const client = clientFor(target, timeoutMs, 'pgfailover-agent-watch');
  let broke = () => undefined as void;
  const broken = new Promise<boolean>((resolve) => (broke = () => resolve(true)));
  client.on('error', () => broke());
  client.on('end', () => broke());
  try {
    await client.connect();
  } catch {
    void client.end().catch(() => undefined);
    return false;
  }
  // Stopped while connecting: an abort before the listener below would never be heard.
  if (signal.aborted) {
    void client.end().catch(() => undefined);
    return false;
  }
  const aborted = new Promise<boolean>((resolve) =>
    signal.addEventListener('abort', () => resolve(false), { once: true }),
  );
  opened();
  const outcome = await Promise.race([broken, aborted]);
  void client.end().catch(() => undefined);
  return outcome;
}

/** Runs statements on the local server (pg_promote, ALTER SYSTEM); throws with the server's message. */
export async function runStatements(target: DatabaseTarget, statements: string[], timeoutMs: number): Promise<void> {
  await withClient(target, timeoutMs, async (client) => {
    await client.connect();
    for (const statement of statements) await client.query(statement);
  });
}

/** How often promoteServer asks whether recovery has ended (pg_promote's own wait polls every 100 ms). */
const PROMOTE_POLL_MS = 10;

/**
 * Promotes the local server and resolves once it accepts writes. pg_promote(wait => true) checks only every
 * 100 ms, which would add 50 ms on average to every failover: signal without waiting, then ask every 10 ms.
 */
export async function promoteServer(target: DatabaseTarget, timeoutMs: number): Promise<void> {
  await withClient(target, timeoutMs, async (client) => {
    await client.connect();
    const signalled = await client.query<{ sent: boolean }>('SELECT pg_promote(false) AS sent');
    if (signalled.rows[0]?.sent !== true) throw new Error('pg_promote() could not signal the server to promote');
    for (;;) {
      const { rows } = await client.query<{ recovering: boolean }>('SELECT pg_is_in_recovery() AS recovering');
      if (rows[0]?.recovering === false) return;
      await sleep(PROMOTE_POLL_MS);
    }
  });
}

/** A client for `target` that gives up connecting (and each query) after `timeoutMs`. */
function clientFor(target: DatabaseTarget, timeoutMs: number, applicationName: string): pg.Client {
  return new pg.Client({
    host: target.host,
    port: target.port,
    database: target.dbname,
    user: target.user,
    password: target.password,
    ssl: sslOption(target.sslmode),
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    application_name: applicationName,
  });
}

async function withClient<T>(
  target: DatabaseTarget,
  timeoutMs: number,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = clientFor(target, timeoutMs, 'pgfailover-agent');
  client.on('error', () => undefined); // a dropped socket after the check is not our concern
  try {
    return await withDeadline(work(client), timeoutMs);
  } finally {
    void client.end().catch(() => undefined);
  }
}

function sslOption(mode: DatabaseTarget['sslmode']): pg.ClientConfig['ssl'] {
  switch (mode) {
    case 'disable':
    case 'prefer': // node-postgres cannot fall back from TLS; prefer means "plain unless required"
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { rejectUnauthorized: true };
  }
}
