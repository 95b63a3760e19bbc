// When a node counts as alive, said once: its agent says UP and its last heartbeat is no older than that
// node's own node timeout (EFM's node.timeout). How old is measured by whoever reads: the evaluator from
// when it saw the heartbeat change, on its own monotonic clock (decide.ts); a person's command from the
// sender's clock against its own, which tolerates skew up to the node timeout and decides nothing.

import type { HeartbeatRecord } from './records.ts';

/** The heartbeat is older than its node's timeout: whatever it says is history. */
export function heartbeatStale(beat: Pick<HeartbeatRecord, 'timeouts'>, ageMs: number): boolean {
  return ageMs > beat.timeouts.nodeTimeoutMs;
}

export function heartbeatLive(beat: Pick<HeartbeatRecord, 'agentStatus' | 'timeouts'>, ageMs: number | null): boolean {
  return beat.agentStatus === 'UP' && ageMs !== null && !heartbeatStale(beat, ageMs);
}

/** For a person's command: live as judged by the sender's clock against the reader's. */
export function liveAsSent(
  beat: Pick<HeartbeatRecord, 'agentStatus' | 'timeouts' | 'sentAtMs'>,
  nowMs: number,
): boolean {
  return heartbeatLive(beat, nowMs - beat.sentAtMs);
}
