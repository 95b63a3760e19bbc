// What the agent's rule tables (core/agent-rules.ts) are asked about: the agent's state, as plain facts.
// Built fresh for every question; the two facts that read a file are read only if a rule asks.

import type { AgentConfig } from '../core/agent-config.ts';
import type { AgentProgress, AgentView } from '../core/agent-rules.ts';
import { FENCE_LEAD_MS } from '../core/lease-timing.ts';
import type { LocalHealth } from '../core/local-health.ts';
import { findAllowed } from '../core/membership.ts';
import { formatHostPort, parseNodeAddress } from '../core/node-address.ts';
import type { ClusterRecord, MembershipRecord } from '../core/records.ts';
import type { DatabaseFacts } from './database-facts.ts';
import type { NodeOps } from './ports/node-ops.ts';

export interface ViewInput {
  config: AgentConfig;
  ops: Pick<NodeOps, 'markedStandby' | 'rejoinUnderWay'>;
  goal: ClusterRecord | undefined;
  membership: MembershipRecord | undefined;
  seenTerm: number;
  health: LocalHealth;
  facts: DatabaseFacts | undefined;
  writable: boolean;
  /** The last term in which a switchover stopped this primary's server, or null. */
  demoteStopped: number | null;
  /** This node sees the goal's primary answer. */
  primaryAnswers: boolean;
  leaseRemainingMs: number | null;
  /** A lease is recorded (by a renewal, a promotion or a predecessor). */
  leaseHeld: boolean;
  firstBeatDone: boolean;
  progress: AgentProgress;
}

export function agentView(input: ViewInput): AgentView {
  const { config, ops, goal, membership, facts } = input;
  const up = input.health.status === 'UP' && facts !== undefined;
  const primaryAddress =
    goal?.primaryNodeId && membership ? findAllowed(membership, goal.primaryNodeId)?.address : undefined;
  let marked: boolean | undefined;
  let rejoining: boolean | undefined;
  return {
    witness: config.role === 'witness',
    nodeId: config.nodeId,
    goal: goal
      ? {
          term: goal.term,
          phase: goal.phase,
          primaryNodeId: goal.primaryNodeId,
          leaseReleased: goal.leaseReleased,
          switchoverTo: goal.switchover?.toNodeId ?? null,
          paused: goal.pause !== null,
          promotionAsked: goal.promotion !== null,
          autoRejoin: goal.policy.autoRejoin,
        }
      : null,
    seenTerm: input.seenTerm,
    db: {
      status: input.health.status,
      writable: input.writable,
      inRecovery: up && facts.inRecovery,
      lastSeenInRecovery: facts?.inRecovery ?? null,
      upstream: up ? facts.upstream : null,
    },
    primaryAddress: primaryAddress ? formatHostPort(parseNodeAddress(primaryAddress)) : null,
    // Each reads a file: only when a rule asks, once per view (a standby's renewal check and a primary's
    // renewals never ask, and they come twice a second).
    get markedStandby() {
      return (marked ??= config.role === 'witness' ? true : ops.markedStandby());
    },
    get rejoinUnderWay() {
      return (rejoining ??= config.role === 'witness' ? false : ops.rejoinUnderWay());
    },
    demoteStopped: goal !== undefined && input.demoteStopped === goal.term,
    primaryAnswers: input.primaryAnswers,
    leaseRemainingMs: input.leaseRemainingMs,
    // A lease recorded by a predecessor is enforced from the start; otherwise from the first heartbeat
    // attempted, before which a new cluster's primary-to-be cannot have been granted one.
    selfFenceEnabled: config.stopIsolatedPrimary && (input.firstBeatDone || input.leaseHeld),
    fenceLeadMs: FENCE_LEAD_MS,
    hasPostPromotionHook: config.hooks.postPromotion !== undefined,
    progress: input.progress,
  };
}
