// Whether the primary's WAL reaches its standbys, judged from the primary's own heartbeat: the evaluator
// raises alerts on it and cluster-status reports it (exit 1), from this one set of rules. A primary whose
// synchronous commits cannot be acknowledged looks healthy by every other measure (it answers, it renews its
// lease) while every commit hangs, and nothing said so before (found from outside: 20 s of hanging commits).
//
// pg_stat_replication keeps a silently cut standby "streaming" until wal_sender_timeout (60 s by default), so
// its state alone proves nothing: a standby counts as streaming only while it replies too (reply_time), and
// commits waiting on SyncRep are the first sign of a synchronous standby gone.

import type { HeartbeatRecord, ReplicationPeer, Severity } from './records.ts';

/** Commits that have waited this long for a synchronous standby are reported (WARNING). */
export const SYNC_WAIT_WARNING_MS = 2_000;
/** ... and this long, paged (SEVERE): the primary has taken no synchronous commit for that long. */
export const SYNC_WAIT_SEVERE_MS = 30_000;
/**
 * A standby that has not replied for this long is not streaming whatever its state says: a live one replies
 * at least every wal_receiver_status_interval (10 s by default), and at once to new WAL.
 */
export const REPLY_STALE_MS = 25_000;
/**
 * After a role change the standbys repoint and the new primary's next check lists them: until then, none
 * streams from it as far as its heartbeat says, and that is not news.
 */
export const ROLE_CHANGE_GRACE_MS = 30_000;
/** A missing synchronous standby that lasts this long is paged even when no commit happens to wait on it. */
export const SYNC_MISSING_SEVERE_MS = 30_000;

export interface ReplicationTrouble {
  /** Standing-alert key, per primary. */
  key: string;
  severity: Severity;
  subject: string;
  lines: string[];
}

export interface ReplicationView {
  primaryId: string;
  beat: Pick<HeartbeatRecord, 'replication' | 'syncCommits'>;
  /** The database standbys the membership expects to follow this primary. */
  standbyIds: readonly string[];
  /** Since when (wall clock) an alert with this key has stood, if it does. */
  standingSinceMs: (key: string) => number | undefined;
  nowMs: number;
  /** When the last role change made this primary (wall clock), or null. */
  roleChangedAtMs: number | null;
}

/** A standby that streams and is heard from. */
export function streams(peer: ReplicationPeer): boolean {
  return peer.state === 'streaming' && (peer.replyAgeMs ?? 0) <= REPLY_STALE_MS;
}

/** One line per standby as the primary sees it: state, synchronous role, last reply. */
export function describePeer(peer: ReplicationPeer): string {
  const reply =
    peer.replyAgeMs === null || peer.replyAgeMs === undefined ? '' : `, last reply ${peer.replyAgeMs / 1000} s ago`;
  return `${peer.applicationName} (${peer.clientAddr ?? 'local'}): ${peer.state}, ${peer.syncState}${reply}${streams(peer) || peer.state !== 'streaming' ? '' : ' (silent: counted as not streaming)'}`;
}

export function replicationTrouble(view: ReplicationView): ReplicationTrouble[] {
  const { primaryId, beat, standbyIds } = view;
  if (standbyIds.length === 0) return [];
  if (view.roleChangedAtMs !== null && view.nowMs - view.roleChangedAtMs < ROLE_CHANGE_GRACE_MS) return [];
  const trouble: ReplicationTrouble[] = [];
  const peers = beat.replication.map(describePeer);
  const lines = peers.length
    ? [`pg_stat_replication on ${primaryId}:`, ...peers]
    : [`pg_stat_replication on ${primaryId} is empty`];
  const streaming = beat.replication.filter(streams);
  const sync = beat.syncCommits;
  const syncStreaming = streaming.some((peer) => peer.syncState === 'sync' || peer.syncState === 'quorum');
  if (sync?.required && !syncStreaming) {
    const key = `sync-standby-missing:${primaryId}`;
    const since = view.standingSinceMs(key);
    const lasting = since !== undefined && view.nowMs - since >= SYNC_MISSING_SEVERE_MS;
    trouble.push({
      key,
      severity: 'WARNING',
      subject: `primary ${primaryId}: no synchronous standby streams from it, so its commits cannot be acknowledged`,
      lines,
    });
    if (lasting)
      trouble.push({
        key: `sync-standby-missing-long:${primaryId}`,
        severity: 'SEVERE',
        subject: `primary ${primaryId}: no synchronous standby for over ${SYNC_MISSING_SEVERE_MS / 1000} s; every commit waits`,
        lines,
      });
  } else if (streaming.length === 0) {
    trouble.push({
      key: `no-standby-streaming:${primaryId}`,
      severity: 'WARNING',
      subject: `primary ${primaryId}: no standby streams from it; its commits are on it alone`,
      lines,
    });
  }
  const longestMs = sync?.longestWaitMs ?? null;
  if (sync && sync.waiting > 0 && longestMs !== null && longestMs >= SYNC_WAIT_WARNING_MS) {
    const waited = `${sync.waiting} commit(s) on ${primaryId} have waited up to ${longestMs / 1000} s for a synchronous standby`;
    trouble.push({ key: `sync-commits-waiting:${primaryId}`, severity: 'WARNING', subject: waited, lines });
    if (longestMs >= SYNC_WAIT_SEVERE_MS)
      trouble.push({
        key: `sync-commits-blocked:${primaryId}`,
        severity: 'SEVERE',
        subject: `commits on ${primaryId} blocked for over ${SYNC_WAIT_SEVERE_MS / 1000} s: no synchronous standby acknowledges them`,
        lines,
      });
  }
  return trouble;
}
