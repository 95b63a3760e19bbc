// Following a role change the evaluator carries out (switchover, manual failover): prints each decision
// and notice of the cluster's history as it comes, until the change is done or refused.

import { setTimeout as sleep } from 'node:timers/promises';
import type { StateStore } from '../core/state-store.ts';

/** Events after which the role change asked for will not happen. */
const GIVE_UP_EVENTS = ['switchover-refused', 'switchover-failed', 'failover-aborted', 'promotion-refused'];

/** The new primary, or why there is none: the event that gave up, or the timeout. */
export type RoleChangeOutcome = { primary: string; why?: undefined } | { primary: null; why: string };

/**
 * Returns the new primary once the cluster is steady again in a term after `fromTerm` (with `toNodeId` as
 * its primary, when one was named), or why not when the change was refused or did not finish in time.
 */
export async function followRoleChange(
  store: StateStore,
  cluster: string,
  change: { fromTerm: number; toNodeId: string | null },
  sinceMs: number,
  timeoutMs: number,
  write: (line: string) => void,
): Promise<RoleChangeOutcome> {
  const seen = new Set<string>();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { entries } = await store.readHistory(cluster, 100);
    for (const entry of entries.filter((candidate) => candidate.atMs >= sinceMs && !seen.has(candidate.sk))) {
      seen.add(entry.sk);
      write(
        `+${entry.atMs - sinceMs} ms  ${entry.kind === 'decision' ? 'decision' : entry.severity}  ${entry.event}: ${entry.subject}`,
      );
      if (GIVE_UP_EVENTS.includes(entry.event)) return { primary: null, why: `${entry.event}: ${entry.subject}` };
    }
    const record = await store.getCluster(cluster);
    if (
      record?.phase === 'steady' &&
      record.term > change.fromTerm &&
      record.primaryNodeId !== null &&
      (change.toNodeId === null || record.primaryNodeId === change.toNodeId)
    )
      return { primary: record.primaryNodeId };
    await sleep(200);
  }
  const why = `not finished within ${timeoutMs} ms; see pgfailover history`;
  write(why);
  return { primary: null, why };
}
