// Peer leases (docs/peer-leases.md): a primary that cannot renew through the store keeps its server while a
// strict majority of the voting members vouch for it directly. Everything decided about them is here, pure:
// how long a vouch counts, when a majority holds, and whether a member grants one (rules as data). The
// protocol is model-checked in model/peer-leases.pml; the names below are the model's.

/** While the store renewals fail, the primary asks every member this often. */
export const VOUCH_ROUND_INTERVAL_MS = 250;
/** An ask not answered within this long is not counted (a later round asks again). */
export const VOUCH_ANSWER_TIMEOUT_MS = 200;

/**
 * What the primary takes off a promise for the difference in rate between its monotonic clock and the
 * granter's (model: MP). NTP slews CLOCK_MONOTONIC by at most 500 ppm; 1% is twenty times that, and 50 ms
 * covers a short promise.
 */
export function driftMarginMs(promiseMs: number): number {
  return Math.max(50, Math.ceil(promiseMs / 100));
}

/**
 * Until when a vouch counts, on the primary's clock: from when the ask was SENT (the grant happened after
 * it, never before), for the promise less the drift margin. Counting from the answer's arrival would let a
 * delayed answer outlive the promise (the model's RECEIVE_TIME counterexample).
 */
export function vouchCountsUntil(askSentMonoMs: number, promiseMs: number): number {
  return askSentMonoMs + promiseMs - driftMarginMs(promiseMs);
}

/** A strict majority of `voters` (the primary and the witness included): the same count a failover needs. */
export function majorityOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * Until when the primary may stay writable on its vouches: while it (when it may count itself) and the
 * members whose vouches still count are a majority of the voting members. `counted` is each voucher's latest
 * count-until; null when no majority holds at all.
 */
export function peerValidUntil(counted: readonly number[], voters: number, countsItself: boolean): number | null {
  const needed = majorityOf(voters) - (countsItself ? 1 : 0);
  if (needed <= 0) return null; // a cluster of one has nobody to vouch: the store alone decides
  const best = [...counted].sort((a, b) => b - a);
  return best.length >= needed ? (best[needed - 1] as number) : null;
}

/** What a member knows when an ask arrives. */
export interface VouchView {
  /** The cluster's policy allows peer leases (the goal this member last read). */
  enabled: boolean;
  /** The newest term this member has seen, and the primary of its goal. */
  term: number;
  primaryNodeId: string | null;
  ask: { term: number; from: string };
  /** This member's heartbeats said the primary of `term` is down (or, for the primary, its own database). */
  bound: boolean;
  /** This member's own check of the primary's database says DOWN now. */
  seesPrimaryDown: boolean;
}

export type VouchVerdict = 'grant' | 'withdraw-then-grant' | 'refuse';

export interface VouchRule {
  id: string;
  when: (view: VouchView) => boolean;
  verdict: VouchVerdict;
  reason: (view: VouchView) => string;
}

/** Tried top to bottom; the first row whose `when` holds decides. */
export const VOUCH_RULES: VouchRule[] = [
  {
    id: 'peer-leases-off',
    when: (v) => !v.enabled,
    verdict: 'refuse',
    reason: () => 'peer leases are off in the cluster policy',
  },
  {
    // A vouch is a promise about the primary of one term; another term's primary gets none, whichever is newer.
    id: 'other-term',
    when: (v) => v.ask.term !== v.term,
    verdict: 'refuse',
    reason: (v) => `asked for term ${v.ask.term}, this member knows term ${v.term}`,
  },
  {
    id: 'not-the-primary',
    when: (v) => v.primaryNodeId !== v.ask.from,
    verdict: 'refuse',
    reason: (v) => `${v.ask.from} is not the primary of term ${v.term} (${v.primaryNodeId ?? 'none'} is)`,
  },
  {
    // Its heartbeats are about to vote it down (or already do, bound): vouching now would contradict them.
    id: 'sees-primary-down',
    when: (v) => v.seesPrimaryDown,
    verdict: 'refuse',
    reason: (v) => `this member's own check finds ${v.ask.from}'s database down`,
  },
  {
    // A down vote may be counted by a failover in flight: only a withdrawal that fails that failover's
    // write (or is refused because the failover won) frees the member to vouch (the model's NO_BOUND).
    id: 'bound',
    when: (v) => v.bound,
    verdict: 'withdraw-then-grant',
    reason: (v) => `this member voted ${v.ask.from} down in term ${v.term}: withdraw that vote first`,
  },
  { id: 'grant', when: () => true, verdict: 'grant', reason: (v) => `vouch for ${v.ask.from} in term ${v.term}` },
];

export function decideVouch(view: VouchView): { rule: string; verdict: VouchVerdict; reason: string } {
  const row = VOUCH_RULES.find((candidate) => candidate.when(view)) as VouchRule;
  return { rule: row.id, verdict: row.verdict, reason: row.reason(view) };
}
