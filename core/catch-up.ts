// A failover's candidate catches up with the standby that has the most WAL before it promotes (as
// pg_auto_failover's fast_forward does).
//
// The evaluator chooses the candidate on heartbeats, whose WAL positions are as old as the local check
// that read them (up to a second in quiet times), while the old primary may have sent WAL until the moment
// it stopped. So the chosen standby can hold less WAL than another: with ANY 1 synchronous replication the
// other may hold commits that were acknowledged, and, ahead of the new primary's timeline fork, it could no
// longer follow it. By the time the candidate sees its term, the old primary's lease is over (it has
// stopped: docs/failover.md, the safety argument), so its peers' positions can only grow by what was already
// in flight from it: the candidate reads each peer again until its receiver has let go of the old primary (a
// moment after a killed server), and if one is ahead it streams the missing WAL from that standby first.

import { compareLsn } from './lsn.ts';

export interface PeerPosition {
  nodeId: string;
  address: string;
  timeline: number | null;
  /** The WAL the standby holds (core/lsn.ts standbyPosition). */
  position: string;
}

/** The peer on this node's timeline with the most WAL beyond `own`, if any (ties: the first listed). */
export function catchUpSource(
  own: { timeline: number | null; position: string },
  peers: readonly PeerPosition[],
): PeerPosition | undefined {
  let best: PeerPosition | undefined;
  for (const peer of peers) {
    // A peer on another timeline cannot be streamed from into this history. Only timelines known for sure
    // (both streaming) are compared: an unknown one is tried, and a mismatch fails the catch-up.
    if (own.timeline !== null && peer.timeline !== null && peer.timeline !== own.timeline) continue;
    if (compareLsn(peer.position, best?.position ?? own.position) > 0) best = peer;
  }
  return best;
}
