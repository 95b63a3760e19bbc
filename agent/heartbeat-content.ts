// What the agent's heartbeat says and what of it is news: the pure helpers behind the heartbeat loop's choice
// of what to write, and a standby's timeline as far as it can be trusted.

import type { HeartbeatRecord } from '../core/records.ts';
import type { DatabaseFacts } from './database-facts.ts';

/**
 * A standby's timeline as far as it can be trusted: while its WAL receiver streams, the timeline it
 * receives; otherwise unknown. Without a receiver the probe falls back to the timeline of the last restartpoint,
 * which can be several failovers old (a standby makes one every checkpoint_timeout), and comparing those
 * would leave out a standby that holds more WAL on the very same history. A source whose history does not
 * match cannot be streamed from, and the catch-up then fails rather than promote behind it.
 */
export function streamingTimeline(facts: DatabaseFacts | undefined): number | null {
  return facts?.upstream ? facts.timeline : null;
}

/** What of a primary's replication is news worth a heartbeat now: who streams, and whether commits wait. */
export function replicationNews(facts: DatabaseFacts | undefined): string {
  if (!facts || facts.inRecovery) return '';
  const streaming = facts.replication.filter((peer) => peer.state === 'streaming').map((peer) => peer.syncState);
  return JSON.stringify([streaming, (facts.syncCommits?.waiting ?? 0) > 0]);
}

/**
 * What a heartbeat says, for telling whether it says anything new: less its sequence, its send time and a
 * standby's replay lag, which grows by the second while nothing is written on the primary.
 */
export function heartbeatSays(beat: HeartbeatRecord) {
  const { seq: _seq, sentAtMs: _sentAtMs, replayLagMs: _replayLagMs, ...says } = beat;
  return says;
}

export function heartbeatContent(beat: HeartbeatRecord): string {
  return JSON.stringify(heartbeatSays(beat));
}

/** What a heartbeat says besides where its WAL is: positions move with every commit under load. */
export function heartbeatGist(beat: HeartbeatRecord): string {
  const {
    currentLsn: _currentLsn,
    receivedLsn: _receivedLsn,
    replayedLsn: _replayedLsn,
    replication,
    ...gist
  } = heartbeatSays(beat);
  return JSON.stringify({
    ...gist,
    replication: replication.map((peer) => [peer.applicationName, peer.clientAddr, peer.state, peer.syncState]),
  });
}
