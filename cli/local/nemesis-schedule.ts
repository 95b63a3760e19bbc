// The nemesis's faults by name, which are blips (shorter than every timeout) and which must cause no
// promotion, and the schedule a seed draws from them: the same seed, the same faults in the same order.

/** Every kind of fault the nemesis draws from; `blip` kinds are shorter than the timeouts. */
export const NEMESIS_FAULTS = [
  'partition-primary',
  'isolate-primary',
  'cut-primary-from-store',
  'one-way-primary-out',
  'one-way-primary-in',
  'lossy-primary',
  'blip-primary',
  'pause-primary-agent-briefly',
  'pause-primary-agent',
  'pause-primary-postmaster-briefly',
  'pause-standby-agent',
  'pause-evaluator',
  'pause-store',
  'kill-primary-agent',
  'kill-standby-agent',
  'kill-primary-db',
  'clock-step-primary',
  'delay-primary-clients',
  // One step beyond the silent faults: a database its agent cannot check, an agent restarted mid-partition,
  // a switchover interrupted on either side, a double fault.
  'storm-primary',
  'storm-partition-primary',
  'restart-primary-agent-partitioned',
  'switchover-cut-primary',
  'switchover-kill-target',
  'double-fault',
  // The state store unreachable for every member, longer than the lease (issue 24): with peer leases the
  // primary keeps writing; without, it stops itself and a standby may be promoted once the store is back.
  'store-outage',
] as const;
export type NemesisFault = (typeof NEMESIS_FAULTS)[number];

/** Faults shorter than every timeout: held under a second and a quarter. */
export const BLIPS: ReadonlySet<NemesisFault> = new Set([
  'blip-primary',
  'pause-primary-agent-briefly',
  'pause-primary-postmaster-briefly',
  'pause-standby-agent',
  'pause-evaluator',
  'kill-standby-agent',
]);
/**
 * The term must not change because of these: blips, slow clients (the cluster's own links are fine), and a
 * full primary (busy, not dead).
 */
export const NO_PROMOTION: ReadonlySet<NemesisFault> = new Set([...BLIPS, 'delay-primary-clients', 'storm-primary']);

/** mulberry32: a small seeded generator, so that a seed reproduces a schedule. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface PlannedFault {
  fault: NemesisFault;
  /** How long the fault is held before it is healed. */
  holdMs: number;
  /** Chooses among standbys when the fault targets one. */
  pick: number;
}

/** The schedule a seed means: the same seed, the same faults, in the same order, held as long. */
export function planSchedule(seed: number, count: number): PlannedFault[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const fault = NEMESIS_FAULTS[Math.floor(random() * NEMESIS_FAULTS.length)] as NemesisFault;
    // Blips stay well under the shortest timeout; the rest outlast the node timeout and the lease.
    const holdMs = BLIPS.has(fault) ? 500 + Math.floor(random() * 700) : 7000 + Math.floor(random() * 5000);
    return { fault, holdMs, pick: random() };
  });
}
