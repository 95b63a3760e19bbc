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
import type { ReplicationPeer } from '../core/records.ts';

export interface DatabaseTarget {
  host: string;
  port: number;
  dbname: string;
  user: string;
  password: string | undefined;
  sslmode: 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
}

export interface DatabaseFacts {
  inRecovery: boolean;
  timeline: number | null;
  currentLsn: string | null;
  receivedLsn: string | null;
  replayedLsn: string | null;
  replayLagMs: number | null;
  replication: ReplicationPeer[];
  /** "host:port" the WAL receiver streams from, when it is streaming. */
  upstream: string | null;
  /** While streaming: how long ago the receiver last heard from its upstream (data or keepalive). */
  receiverQuietMs?: number | null;
  /** A primary's synchronous commits (HeartbeatRecord.syncCommits); null on a standby. */
  syncCommits?: SyncCommits | null;
}

export interface SyncCommits {
  required: boolean;
  waiting: number;
  longestWaitMs: number | null;
}

export type ProbeResult = ProbeOutcome & { facts?: DatabaseFacts };

const STATUS_SQL = `
SELECT pg_is_in_recovery() AS in_recovery,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
       pg_last_wal_receive_lsn()::text AS received_lsn,
       pg_last_wal_replay_lsn()::text AS replayed_lsn,
       CASE WHEN pg_is_in_recovery()
            THEN COALESCE((SELECT received_tli FROM pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint()))
            -- the WAL file name of the insert position starts with the current timeline, even right after promotion
            ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
       END AS timeline,
       CASE WHEN pg_is_in_recovery()
            THEN extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000
       END AS replay_lag_ms,
       (SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming') AS upstream,
       (SELECT extract(epoch FROM clock_timestamp() - last_msg_receipt_time) * 1000
          FROM pg_stat_wal_receiver WHERE status = 'streaming') AS receiver_quiet_ms`;

const REPLICATION_SQL = `
SELECT application_name, client_addr::text AS client_addr, state, sync_state,
       sent_lsn::text AS sent_lsn, flush_lsn::text AS flush_lsn, replay_lsn::text AS replay_lsn,
       extract(epoch FROM clock_timestamp() - reply_time) * 1000 AS reply_age_ms
  FROM pg_stat_replication ORDER BY application_name`;

// Sessions whose commit has waited over a second for a synchronous standby (pg_monitor sees every session's
// wait event). Shorter waits are every synchronous commit's round trip, not news. Whole seconds, so that a
// heartbeat that says the same is not rewritten for every millisecond more.
const SYNC_SQL = `
SELECT current_setting('synchronous_standby_names') <> '' AS required,
       count(*) AS waiting,
       floor(extract(epoch FROM clock_timestamp() - min(query_start))) * 1000 AS longest_wait_ms
  FROM pg_stat_activity
 WHERE wait_event = 'SyncRep' AND clock_timestamp() - query_start > interval '1 second'`;

interface StatusRow {
  in_recovery: boolean;
  current_lsn: string | null;
  received_lsn: string | null;
  replayed_lsn: string | null;
  timeline: number | null;
  replay_lag_ms: string | number | null;
  upstream: string | null;
  receiver_quiet_ms: string | number | null;
}

interface SyncRow {
  required: boolean;
  waiting: string | number;
  longest_wait_ms: string | number | null;
}

interface ReplicationRow {
  application_name: string;
  client_addr: string | null;
  state: string;
  sync_state: string;
  sent_lsn: string | null;
  flush_lsn: string | null;
  replay_lsn: string | null;
  reply_age_ms: string | number | null;
}

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
      if (this.client && startedMs - this.openedAtMs >= this.freshEveryMs) this.close();
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

/** An error from a peer's server means it answered; only no answer or "starting/shutting down" does not. */
function reachability(error: unknown, target: DatabaseTarget): ProbeOutcome {
  const result = classify(error, target);
  const code = errorCode(error);
  return result.kind === 'refused' || (/^[0-9A-Z]{5}$/.test(code) && code !== '57P03')
    ? { kind: 'ok' }
    : { kind: 'failed', reason: result.kind === 'failed' ? result.reason : '' };
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

async function readFacts(client: pg.Client): Promise<DatabaseFacts> {
  const status = await client.query<StatusRow>(STATUS_SQL);
  const row = status.rows[0];
  if (!row) throw new Error('the status query returned no row');
  const replication = row.in_recovery ? [] : (await client.query<ReplicationRow>(REPLICATION_SQL)).rows;
  const sync = row.in_recovery ? undefined : (await client.query<SyncRow>(SYNC_SQL)).rows[0];
  return {
    inRecovery: row.in_recovery,
    timeline: row.timeline,
    currentLsn: row.current_lsn,
    receivedLsn: row.received_lsn,
    replayedLsn: row.replayed_lsn,
    replayLagMs: row.replay_lag_ms === null ? null : Math.max(0, Number(row.replay_lag_ms)),
    upstream: row.upstream,
    receiverQuietMs: row.receiver_quiet_ms === null ? null : Math.max(0, Number(row.receiver_quiet_ms)),
    syncCommits: sync
      ? {
          required: sync.required,
          waiting: Number(sync.waiting),
          longestWaitMs: sync.longest_wait_ms === null ? null : Math.max(0, Number(sync.longest_wait_ms)),
        }
      : null,
    replication: replication.map((peer) => ({
      applicationName: peer.application_name,
      clientAddr: peer.client_addr,
      state: peer.state,
      syncState: peer.sync_state,
      sentLsn: peer.sent_lsn,
      flushLsn: peer.flush_lsn,
      replayLsn: peer.replay_lsn,
      // Whole seconds: a standby replies every wal_receiver_status_interval, and a heartbeat need not change
      // with every millisecond of that.
      replyAgeMs: peer.reply_age_ms === null ? null : Math.floor(Math.max(0, Number(peer.reply_age_ms)) / 1000) * 1000,
    })),
  };
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

// SQLSTATEs meaning "the server is up but will not let this check run": fixing them is the DBA's job,
// and they must not read as a dead database.
const REFUSAL_HINTS: Record<string, string> = {
  '28P01':
    'the password was rejected; check the password source in the agent config (database.passwordEnv / passwordFile / ~/.pgpass) against the role',
  '28000': 'the server refused the login; check pg_hba.conf for a line that lets this role connect from this host',
  '3D000': 'the database does not exist; check database.dbname in the agent config',
  '42501': 'the role lacks a privilege the check needs; grant pg_monitor and the functions listed in docs/agent.md',
  '42883': 'a function the check needs is missing; pgfailover needs PostgreSQL 12 or later',
  // A server that is full is alive and serving: never a reason to call it DOWN and fail it over.
  '53300':
    "the server is alive but has no free connection slot (max_connections); give the agent's role a reserved slot (pg_use_reserved_connections on PostgreSQL 16+, or raise max_connections)",
};

/** A server error's SQLSTATE, or a socket error's code (ECONNREFUSED), or ''. */
function errorCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : '';
}

/** node-postgres' own errors once the server has asked for a password it was not given. */
const CLIENT_AUTH_FAILURE = /^SASL: |client password must be a string/;

function classify(error: unknown, target: DatabaseTarget): ProbeResult {
  const where = `${target.user}@${target.host}:${target.port}/${target.dbname}`;
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  const hint = REFUSAL_HINTS[code];
  if (hint) return { kind: 'refused', reason: `${where}: ${message} (SQLSTATE ${code}): ${hint}` };
  // The client gave up during authentication (the server asked for a password this side does not have): the
  // server answered, so it is alive; it is this side's configuration that is wrong, never a DOWN database.
  if (CLIENT_AUTH_FAILURE.test(message))
    return {
      kind: 'refused',
      reason: `${where}: ${message}: the server asks for a password and none is configured (database.passwordFile or database.passwordEnv in the agent config)`,
    };
  if (code === 'ECONNREFUSED')
    return {
      kind: 'failed',
      reason: `connection refused at ${target.host}:${target.port}: PostgreSQL is not accepting connections`,
    };
  return { kind: 'failed', reason: `${where}: ${message}${code ? ` (${code})` : ''}` };
}
