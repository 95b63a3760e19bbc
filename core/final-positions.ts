// Final WAL positions: when a standby's reported position can no longer grow from the old primary.
//
// A heartbeat's LSNs are as old as the local check that read them (up to a second in steady state), and
// the old primary may have sent WAL after that read, right up to the moment it stopped. Choosing the
// candidate on such a report can pick a standby with less WAL than another: with synchronous replication
// that loses acknowledged commits, and the standby with more WAL can no longer follow the new primary. So
// an agent marks a position final only when it was read after the old primary could no longer send WAL:
// after the agent saw the lease (term, renewal count) released, or unchanged on its own monotonic clock for
// the whole lease (the old primary stops itself FENCE_LEAD_MS, its watchdog WATCHDOG_LEAD_MS, before the
// lease it renewed ends, and that renewal went out before this agent first saw it), and, with the
// instance-stop fence, after it saw the stop recorded. The evaluator chooses among final positions only.

import type { ClusterRecord, HeartbeatRecord } from './records.ts';

export type PositionsFinal = NonNullable<HeartbeatRecord['positionsFinal']>;

/** What an agent has seen of the current lease, on its own monotonic clock. */
export interface LeaseSight {
  term: number;
  renewals: number;
  /** The longest lease the holder may have renewed under (policy or granted). */
  grantMs: number;
  released: boolean;
  /** The instance-stop fence of this term is recorded as stopped. */
  fenceStopped: boolean;
  /** When this agent first saw this term and renewal count. */
  firstSeenMonoMs: number;
}

/** The lease as seen after reading `cluster`: the first sighting is kept while term and renewals stay. */
export function observeLease(previous: LeaseSight | null, cluster: ClusterRecord, nowMonoMs: number): LeaseSight {
  const same = previous?.term === cluster.term && previous.renewals === cluster.leaseRenewals;
  return {
    term: cluster.term,
    renewals: cluster.leaseRenewals,
    grantMs: Math.max(cluster.policy.leaseDurationMs, cluster.leaseGrantedMs ?? 0),
    released: cluster.leaseReleased,
    fenceStopped: cluster.fence?.term === cluster.term && cluster.fence.stoppedAtMs !== null,
    firstSeenMonoMs: same ? previous.firstSeenMonoMs : nowMonoMs,
  };
}

/** What a position read now may claim: final for the lease seen, or null while the old primary may still write. */
export function positionsFinalAt(sight: LeaseSight | null, nowMonoMs: number): PositionsFinal | null {
  if (!sight) return null;
  const over = sight.released || nowMonoMs - sight.firstSeenMonoMs >= sight.grantMs;
  return over ? { term: sight.term, renewals: sight.renewals, fenceStopped: sight.fenceStopped } : null;
}

/** Whether `beat`'s positions are final for the lease of `cluster` (and read after the fence's stop, if needed). */
export function hasFinalPositions(beat: HeartbeatRecord, cluster: ClusterRecord, needFenceStopped: boolean): boolean {
  const final = beat.positionsFinal;
  return (
    final !== null &&
    final.term === cluster.term &&
    final.renewals === cluster.leaseRenewals &&
    (!needFenceStopped || final.fenceStopped)
  );
}
