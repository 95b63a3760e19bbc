// The lease's timing, in one place: the agent times its self-fence by it, set-policy and init check a
// policy against it, and the demo and set-policy print what a policy means for failover time and for
// how long a blip may last.

import type { ClusterPolicy, Timeouts } from './records.ts';

/** A primary that cannot renew stops its database this long before its lease ends. */
export const FENCE_LEAD_MS = 500;
/** The watchdog fires this long before the lease ends: after the agent's own fence, before anyone may promote. */
export const WATCHDOG_LEAD_MS = 250;
/** How often an agent heartbeats (and the primary renews its lease) when its configuration does not say. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1000;
/** The shortest blip of the state store a primary must ride out without stopping itself. */
export const MIN_BLIP_TOLERANCE_MS = 500;

export interface LeaseTiming {
  /** A store (or network) outage shorter than this never stops a primary, wherever it falls. */
  blipToleranceMs: number;
  /** After a primary node dies, at least this long passes from its last renewal before anyone is promoted. */
  nodeCrashWaitMs: number;
  /** Lease plus margin: what the evaluator waits out after the last renewal it saw. */
  leaseWindowMs: number;
}

export function leaseTiming(
  policy: Pick<ClusterPolicy, 'leaseDurationMs' | 'leaseMarginMs'>,
  nodeTimeoutMs: number,
  heartbeatIntervalMs = DEFAULT_HEARTBEAT_INTERVAL_MS,
): LeaseTiming {
  const leaseWindowMs = policy.leaseDurationMs + policy.leaseMarginMs;
  return {
    // The outage may start just before a renewal was due: the previous one is then a whole interval old.
    blipToleranceMs: policy.leaseDurationMs - heartbeatIntervalMs - FENCE_LEAD_MS,
    nodeCrashWaitMs: Math.max(leaseWindowMs, nodeTimeoutMs),
    leaseWindowMs,
  };
}

/** Why a lease this short cannot work, or undefined. */
export function leaseProblem(
  leaseDurationMs: number,
  heartbeatIntervalMs = DEFAULT_HEARTBEAT_INTERVAL_MS,
): string | undefined {
  const minimum = heartbeatIntervalMs + FENCE_LEAD_MS + MIN_BLIP_TOLERANCE_MS;
  return leaseDurationMs < minimum
    ? `a lease of ${leaseDurationMs} ms is too short: the primary renews it every ${heartbeatIntervalMs} ms and stops itself ${FENCE_LEAD_MS} ms before it ends, so it must be at least ${minimum} ms to ride out a ${MIN_BLIP_TOLERANCE_MS} ms blip`
    : undefined;
}

/** The longest node timeout the agents report (the evaluator waits that long before calling a node silent). */
export function longestNodeTimeoutMs(timeouts: readonly Timeouts[], fallbackMs: number): number {
  return timeouts.reduce((longest, t) => Math.max(longest, t.nodeTimeoutMs), 0) || fallbackMs;
}
