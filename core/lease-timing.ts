// The lease's timing, in one place: the agent times its self-fence by it, set-policy and init check a
// policy against it, and the demo and set-policy print what a policy means for failover time and for
// how long a blip may last.

import type { ClusterPolicy } from './records.ts';

// Every millisecond below is paid twice: a node-crash failover waits the whole lease out, and a blip
// must fit inside it. The lead times only need to cover stopping PostgreSQL (an immediate stop takes
// milliseconds; the watchdog is the backstop for an agent that cannot act), so they are kept short.

/**
 * A primary that cannot renew stops its database this long before its lease ends. The agent times the
 * stop for this very moment (not on a periodic check), so the whole lead stays between its stop and the
 * lease's end, ahead of the watchdog's WATCHDOG_LEAD_MS.
 */
export const FENCE_LEAD_MS = 150;
/**
 * The watchdog fires this long before the lease ends: after the agent's own fence (a signal and a wait of
 * about 20 ms), before anyone may promote.
 */
export const WATCHDOG_LEAD_MS = 100;
/**
 * How often an agent heartbeats when its configuration does not say (and its node timeout allows: see
 * defaultHeartbeatIntervalMs in core/agent-config.ts). The heartbeat says the agent is alive and where its
 * database stands; nothing in a failover waits for it: the primary renews its lease on its own, faster
 * schedule (LEASE_RENEW_INTERVAL_MS), a changed verdict goes out at once, and while a failure is suspected or
 * a role change under way an agent beats every few tens of ms. Each heartbeat is a write, and with three
 * nodes they were a fifth of a cluster's bill at 2 s; 5 s is still twice as often as EFM's local.period.
 */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5000;
/**
 * How often the primary renews its lease (a separate loop with its own store connection). Each
 * renewal is one conditional write, most of a cluster's DynamoDB bill. At a given blip tolerance, a longer
 * interval needs a longer lease by as much, and a node-crash failover (which lands anywhere in an interval
 * after the last renewal) takes half of that longer on average: 500 ms with a 2.8 s lease fails over as
 * fast as 400 ms with 2.75 s did, for a fifth fewer writes and 50 ms less blip tolerance.
 */
export const LEASE_RENEW_INTERVAL_MS = 500;
/**
 * Once a renewal has failed, a fresh attempt goes out this often (not waiting on the one in flight): when a
 * blip ends, the lease is renewed at most this long after. An attempt into a dead network costs nothing.
 */
export const LEASE_RETRY_INTERVAL_MS = 50;
/** One renewal attempt gives up after this long, so that the next one goes out on a fresh connection. */
export const LEASE_REQUEST_TIMEOUT_MS = 400;
/** The shortest blip of the state store a primary must ride out without stopping itself. */
export const MIN_BLIP_TOLERANCE_MS = 500;

/**
 * How often the lease watch looks again once it is at or past the fence point of a writable server (a fence
 * that failed is retried this often), and the longest it sleeps while the node holds no lease: being made
 * writable (a promotion, a server started as a primary) wakes it at once.
 */
export const LEASE_WATCH_MS = 100;
export const LEASE_WATCH_IDLE_MS = 1000;

/**
 * How long the primary's lease watch sleeps, given what is left of its lease: to the fence point itself, so
 * that the fence lead is all margin ahead of the watchdog. A lease is only ever extended (a renewal, a new
 * term's lease taken at promotion wakes the watch), so the watch wakes at most once per fence point it
 * passes rather than ticking; a tick once past it, as long as a lease is held (the rule decides whether the
 * server may be writable), and with none a tick while the server is writable, a long idle wait (woken on
 * change) while it is not.
 */
export function leaseWatchSleepMs(leaseLeftMs: number | null, writable: boolean): number {
  // Held (or presumed held): to its fence point, then a tick while it is past, whatever the checks say.
  if (leaseLeftMs !== null) return Math.max(leaseLeftMs - FENCE_LEAD_MS, 0) || LEASE_WATCH_MS;
  return writable ? LEASE_WATCH_MS : LEASE_WATCH_IDLE_MS;
}

/** How often a primary renews: every LEASE_RENEW_INTERVAL_MS, or with every heartbeat where those are faster (tests, tight set-ups). */
export function renewIntervalMs(heartbeatIntervalMs: number): number {
  return Math.min(LEASE_RENEW_INTERVAL_MS, heartbeatIntervalMs);
}

/**
 * What the evaluator waits out after the last renewal it saw before anyone may be promoted: the lease (the
 * longer of the policy's and the one the holder last renewed under, after a set-policy that shortened it)
 * plus the margin.
 */
export function leaseWindowMs(
  policy: Pick<ClusterPolicy, 'leaseDurationMs' | 'leaseMarginMs'>,
  grantedMs: number | null = null,
): number {
  return Math.max(policy.leaseDurationMs, grantedMs ?? 0) + policy.leaseMarginMs;
}

export interface LeaseTiming {
  /** A store (or network) outage shorter than this never stops a primary, wherever it falls. */
  blipToleranceMs: number;
  /**
   * After a primary node dies, this long passes from the last renewal the evaluator saw before anyone is
   * promoted (its peers' votes confirm the failure meanwhile; its heartbeat's node timeout does not gate it).
   */
  nodeCrashWaitMs: number;
  /** Lease plus margin: what the evaluator waits out after the last renewal it saw. */
  leaseWindowMs: number;
}

export function leaseTiming(
  policy: Pick<ClusterPolicy, 'leaseDurationMs' | 'leaseMarginMs'>,
  renewIntervalMs = LEASE_RENEW_INTERVAL_MS,
): LeaseTiming {
  const windowMs = leaseWindowMs(policy);
  return {
    // The outage may start just before a renewal was due (the previous one is then a whole interval old),
    // and the first renewal after it goes out up to a retry interval after it ends.
    blipToleranceMs: policy.leaseDurationMs - renewIntervalMs - LEASE_RETRY_INTERVAL_MS - FENCE_LEAD_MS,
    nodeCrashWaitMs: windowMs,
    leaseWindowMs: windowMs,
  };
}

/** Why a lease this short cannot work, or undefined. */
export function leaseProblem(leaseDurationMs: number, renewIntervalMs = LEASE_RENEW_INTERVAL_MS): string | undefined {
  const minimum = renewIntervalMs + LEASE_RETRY_INTERVAL_MS + FENCE_LEAD_MS + MIN_BLIP_TOLERANCE_MS;
  return leaseDurationMs < minimum
    ? `a lease of ${leaseDurationMs} ms is too short: the primary renews it every ${renewIntervalMs} ms (every ${LEASE_RETRY_INTERVAL_MS} ms once a renewal fails) and stops itself ${FENCE_LEAD_MS} ms before it ends, so it must be at least ${minimum} ms to ride out a ${MIN_BLIP_TOLERANCE_MS} ms blip`
    : undefined;
}

/**
 * Why a watchdog that counts `countdownMs` cannot back a lease of `leaseDurationMs`, or undefined. The agent
 * arms it for the lease's end less WATCHDOG_LEAD_MS, counted from when the renewal left, and can pet only
 * while a whole countdown still fits before that: a longer countdown is never petted (the node reports
 * itself unprotected), and fencing "watchdog" then cannot promote past it.
 */
export function watchdogCountdownProblem(countdownMs: number, leaseDurationMs: number): string | undefined {
  const fitsMs = leaseDurationMs - WATCHDOG_LEAD_MS - LEASE_REQUEST_TIMEOUT_MS;
  return countdownMs > fitsMs
    ? `the watchdog counts ${countdownMs} ms, but a lease of ${leaseDurationMs} ms leaves at most ${fitsMs} ms for it (the lease less ${WATCHDOG_LEAD_MS} ms of lead and a renewal's ${LEASE_REQUEST_TIMEOUT_MS} ms): it would reset the host after the lease's end, so the agent will not arm it; set a countdown of at most ${Math.floor(fitsMs / 1000)} s (softdog soft_margin) or lengthen the lease`
    : undefined;
}
