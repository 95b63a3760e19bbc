// The failover decision: one pure function, cluster snapshot + the evaluator's observations + its clock
// in, the next cluster record + actions + notices + a reason out. No I/O. The evaluator, the switchover
// path and the CLI all call it; every failover rule of the product is in it or in core/decide/.
//
// The cluster record is a goal state (as in pg_auto_failover's monitor): the decision writes who should
// be primary in which term and in which phase; agents converge on it (the candidate promotes, standbys
// repoint, the old primary fences) and report back in their heartbeats; the next decision moves on.
//
// The rules live in core/decide/, one file per phase; this file picks the table for the phase and the row.

import type { Instant } from './clock.ts';
import { type Decision, type EvaluationInput, type Facts, gatherFacts } from './decide/facts.ts';
import { type Rule, bump } from './decide/rule-kit.ts';
import { RULES_BY_PHASE } from './decide/tables.ts';
import { desiredAlerts, reconcileAlerts } from './decide/alerts.ts';

export * from './decide/facts.ts';
export * from './decide/rule-kit.ts';
export * from './decide/steady-rules.ts';
export * from './decide/promoting-rules.ts';
export * from './decide/demoting-rules.ts';
export * from './decide/alerts.ts';
export { BUSY_RULE_IDS, FAILOVER_RULE_IDS } from './decide/tables.ts';

export function decide(input: EvaluationInput, at: Instant): Decision {
  return decideOn(gatherFacts(input, at));
}

/** The decision on facts already gathered (the evaluator also reports them as metrics). */
export function decideOn(facts: Facts): Decision {
  const rules = RULES_BY_PHASE[facts.cluster.phase];
  const rule = rules.find((candidate) => candidate.when(facts)) as Rule;
  const outcome = rule.then(facts);
  const base = outcome.next ?? facts.cluster;
  // Standing conditions are judged in the phase the decision leads to.
  const factsAfter = { ...facts, cluster: { ...facts.cluster, phase: base.phase } };
  const { alerts, notices: alertNotices } = reconcileAlerts(
    factsAfter,
    desiredAlerts(factsAfter, outcome.rule, outcome.reason),
    base,
    outcome.rule,
  );
  const alertsChanged =
    JSON.stringify(alerts.map((a) => a.key)) !== JSON.stringify(facts.cluster.alerts.map((a) => a.key));
  const next = outcome.next || alertsChanged ? { ...(outcome.next ?? bump(facts, {})), alerts } : null;
  return {
    rule: outcome.rule,
    reason: outcome.reason,
    next,
    expectLeaseRenewals: outcome.expectLeaseRenewals ?? null,
    actions: outcome.actions ?? [],
    notices: next ? [...(outcome.notices ?? []), ...alertNotices] : [],
    recheckInMs: outcome.recheckInMs ?? null,
  };
}
