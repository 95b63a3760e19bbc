// Asking for a role change, as EFM's `promote` does: with a healthy primary, a planned switchover; with a
// failed one, a manual failover that obeys every rule of an automatic one. Checked here, with the
// evaluator's own facts and rules (decide()), so that the person asking hears at once why not; the
// evaluator checks again and carries it out. Shared by the CLI, the drill and the switchover Lambda.

import type { Clock } from './clock.ts';
import { updateClusterRecord } from './cluster-update.ts';
import { decide, primaryProblem, switchoverVeto } from './decide.ts';
import { UsageError } from './errors.ts';
import { observationsFromSendTimes, readerFacts } from './reader-facts.ts';
import type { ClusterRecord } from './records.ts';
import type { ClusterSnapshot, StateStore } from './state-store.ts';

const refused = (what: string, why: string) =>
  new UsageError(`${what} refused: ${why}. Nothing was changed; see pgfailover cluster-status`);

export async function requestSwitchover(
  store: StateStore,
  cluster: string,
  toNodeId: string,
  requestedBy: string,
  clock: Clock,
): Promise<void> {
  await updateClusterRecord(
    store,
    cluster,
    () => clock.nowMs(),
    (snapshot) => {
      const veto = switchoverVeto(readerFacts(snapshot, clock.nowMs()), toNodeId);
      if (veto) throw refused(`switchover to ${toNodeId}`, veto);
      return { switchover: { toNodeId, requestedAtMs: clock.nowMs(), requestedBy } };
    },
  );
}

export interface PromoteOptions {
  /** The standby to promote; default: the one the evaluator would choose. */
  target?: string;
  /** Only a planned switchover: refuse when the primary is not healthy. */
  switchoverOnly?: boolean;
  /** Accept a standby past the lag limit, and vouch that the old primary is stopped. */
  force?: boolean;
}

export type PromotePlan =
  | { kind: 'switchover'; toNodeId: string; term: number }
  /** toNodeId: the standby the evaluator would promote now; waiting: why it does not yet, if so. */
  | { kind: 'failover'; toNodeId: string | null; term: number; waiting: string | null; requestedAtMs: number };

/** What `promote` would do with this snapshot, or a UsageError saying why it must not. Pure. */
export function planPromotion(
  snapshot: ClusterSnapshot,
  nowMs: number,
  requestedBy: string,
  options: PromoteOptions,
): { plan: PromotePlan; promotion: ClusterRecord['promotion'] } {
  const facts = readerFacts(snapshot, nowMs);
  const { cluster } = snapshot;
  if (cluster.phase !== 'steady')
    throw refused('promote', `a ${cluster.failover?.kind ?? 'failover'} is in progress (phase ${cluster.phase})`);
  if (facts.primaryHealthy) {
    const toNodeId = options.target ?? facts.candidate?.nodeId;
    if (!toNodeId)
      throw refused(
        'switchover',
        `no standby can be promoted: ${facts.vetoes.map((v) => `${v.nodeId}: ${v.reason}`).join('; ') || 'there is no standby'}`,
      );
    const veto = switchoverVeto(facts, toNodeId);
    if (veto) throw refused(`switchover to ${toNodeId}`, veto);
    return { plan: { kind: 'switchover', toNodeId, term: cluster.term }, promotion: null };
  }
  const promotion = {
    toNodeId: options.target ?? null,
    term: cluster.term,
    requestedAtMs: nowMs,
    requestedBy,
    force: options.force === true,
  };
  if (options.switchoverOnly)
    throw refused(
      'switchover',
      `a switchover needs a healthy primary to hand over from, and ${primaryProblem(facts)}; a manual failover is pgfailover promote without --switchover`,
    );
  // Ask the evaluator's own rules what they would do with the request now.
  const decision = decide(
    { ...snapshot, cluster: { ...cluster, promotion }, observations: observationsFromSendTimes(snapshot) },
    { wallMs: nowMs, monoMs: nowMs },
  );
  const what = `manual failover${options.target ? ` to ${options.target}` : ''}`;
  switch (decision.rule) {
    case 'failover':
      return {
        plan: {
          kind: 'failover',
          toNodeId: decision.next?.primaryNodeId ?? null,
          term: cluster.term,
          waiting: null,
          requestedAtMs: nowMs,
        },
        promotion,
      };
    case 'lease-valid':
    case 'fence-old-primary':
      // The evaluator waits these out itself (the one-off reader cannot time the lease).
      return {
        plan: {
          kind: 'failover',
          toNodeId: options.target ?? facts.candidate?.nodeId ?? null,
          term: cluster.term,
          waiting: decision.reason,
          requestedAtMs: nowMs,
        },
        promotion,
      };
    case 'old-primary-unfenced':
      throw refused(
        what,
        `${decision.reason}. Make sure it is stopped (stop its instance or its PostgreSQL), then repeat with --force`,
      );
    case 'promotion-refused':
      throw refused(what, decision.reason.replace(/^.*? refused: /, ''));
    default:
      throw refused(what, decision.reason);
  }
}

export async function requestPromotion(
  store: StateStore,
  cluster: string,
  requestedBy: string,
  clock: Clock,
  options: PromoteOptions,
): Promise<PromotePlan> {
  let plan: PromotePlan | undefined;
  await updateClusterRecord(
    store,
    cluster,
    () => clock.nowMs(),
    (snapshot) => {
      const planned = planPromotion(snapshot, clock.nowMs(), requestedBy, options);
      plan = planned.plan;
      return planned.plan.kind === 'switchover'
        ? { switchover: { toNodeId: planned.plan.toNodeId, requestedAtMs: clock.nowMs(), requestedBy } }
        : { promotion: planned.promotion };
    },
  );
  return plan as PromotePlan;
}

/** Takes back a manual failover that has not started (the person gave up waiting); false if it had. */
export async function withdrawPromotion(
  store: StateStore,
  cluster: string,
  requestedAtMs: number,
  clock: Clock,
): Promise<boolean> {
  let withdrawn = false;
  await updateClusterRecord(
    store,
    cluster,
    () => clock.nowMs(),
    (snapshot) => {
      withdrawn = snapshot.cluster.promotion?.requestedAtMs === requestedAtMs;
      return withdrawn ? { promotion: null } : {};
    },
  );
  return withdrawn;
}
