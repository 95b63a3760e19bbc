// `pgfailover switchover`: ask for a planned role change (core/switchover-request.ts) and follow it:
// the primary stops cleanly, the target receives every byte, then it is promoted and the address moves.

import { setTimeout as sleep } from 'node:timers/promises';
import type { StateStore } from '../core/state-store.ts';

export { requestSwitchover } from '../core/switchover-request.ts';

/** Follows the history until the switchover is done or refused; returns true when `toNodeId` is primary. */
export async function followSwitchover(
  store: StateStore,
  cluster: string,
  toNodeId: string,
  sinceMs: number,
  timeoutMs: number,
  write: (line: string) => void,
): Promise<boolean> {
  const seen = new Set<string>();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { entries } = await store.readHistory(cluster, 100);
    for (const entry of entries.filter((candidate) => candidate.atMs >= sinceMs && !seen.has(candidate.sk))) {
      seen.add(entry.sk);
      write(
        `+${entry.atMs - sinceMs} ms  ${entry.kind === 'decision' ? 'decision' : entry.severity}  ${entry.event}: ${entry.subject}`,
      );
      if (['switchover-refused', 'switchover-failed', 'failover-aborted'].includes(entry.event)) return false;
    }
    const record = await store.getCluster(cluster);
    if (record?.phase === 'steady' && record.primaryNodeId === toNodeId && record.switchover === null) return true;
    await sleep(200);
  }
  write(`the switchover did not finish within ${timeoutMs} ms; see pgfailover history`);
  return false;
}
