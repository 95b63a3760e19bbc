// When an agent writes its next heartbeat, as rows: quickly while a failure is suspected or a role change is
// under way (the next step of a failover waits on a node reading the goal), backing off while the store is
// unreachable, otherwise at the configured interval. Pure; agent/heartbeat-loop.ts waits it out.

/**
 * Heartbeat interval while a failure is suspected or a failover is under way: how soon a candidate reads
 * the goal that names it (half of it on average, in every failover). Only what is new is written.
 */
export const BUSY_HEARTBEAT_MS = 50;
/** Longest wait between heartbeat attempts while the store is unreachable. */
export const MAX_HEARTBEAT_BACKOFF_MS = 10_000;

export interface HeartbeatPace {
  heartbeatIntervalMs: number;
  /** Heartbeat writes that failed in a row; 0 after one that went through. */
  storeFailures: number;
  /** The recorded primary looks down from here, or a role change is under way. */
  busy: boolean;
}

interface PaceRow {
  id: 'store-unreachable' | 'busy' | 'steady';
  when: (pace: HeartbeatPace) => boolean;
  delayMs: (pace: HeartbeatPace) => number;
}

/** First matching row wins; the last always matches. */
export const HEARTBEAT_PACE_ROWS: readonly PaceRow[] = [
  {
    // Doubling from the interval, capped: an outage is not made worse by every agent retrying at full speed.
    id: 'store-unreachable',
    when: (p) => p.storeFailures > 0,
    delayMs: (p) => Math.min(MAX_HEARTBEAT_BACKOFF_MS, p.heartbeatIntervalMs * 2 ** Math.min(p.storeFailures - 1, 10)),
  },
  { id: 'busy', when: (p) => p.busy, delayMs: (p) => Math.min(p.heartbeatIntervalMs, BUSY_HEARTBEAT_MS) },
  { id: 'steady', when: () => true, delayMs: (p) => p.heartbeatIntervalMs },
];

export function nextHeartbeatDelay(pace: HeartbeatPace): { rule: PaceRow['id']; delayMs: number } {
  const row = HEARTBEAT_PACE_ROWS.find((candidate) => candidate.when(pace)) as PaceRow;
  return { rule: row.id, delayMs: row.delayMs(pace) };
}
