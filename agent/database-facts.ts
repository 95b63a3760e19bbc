// What one check reads from a PostgreSQL server: its role, timeline and WAL positions, its standbys, and
// whether its synchronous commits are waiting. The queries and their rows, apart from the connections
// (database-probe.ts) that run them.

import type pg from 'pg';
import type { ReplicationPeer } from '../core/records.ts';

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

export async function readFacts(client: pg.Client): Promise<DatabaseFacts> {
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
