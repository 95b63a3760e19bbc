// Every phase's rule table, and what is read from the rows' flags (the evaluator's busy pace, the metrics'
// failover count).

import type { ClusterRecord } from '../records.ts';
import type { Rule } from './rule-kit.ts';
import type { RuleId } from './facts.ts';
import { STEADY_RULES } from './steady-rules.ts';
import { PROMOTED_RULES, PROMOTING_RULES } from './promoting-rules.ts';
import { DEMOTING_RULES, HALTED_RULES } from './demoting-rules.ts';

export const RULES_BY_PHASE: Record<ClusterRecord['phase'], Rule[]> = {
  steady: STEADY_RULES,
  demoting: DEMOTING_RULES,
  promoting: PROMOTING_RULES,
  promoted: PROMOTED_RULES,
  halted: HALTED_RULES,
};

const ALL_RULES = Object.values(RULES_BY_PHASE).flat();
/** Rules after which the evaluator looks again at its busy pace (read from the rows' `busy`). */
export const BUSY_RULE_IDS: ReadonlySet<RuleId> = new Set(ALL_RULES.filter((row) => row.busy).map((row) => row.id));
/** Rules that start a failover (read from the rows' `startsFailover`). */
export const FAILOVER_RULE_IDS: ReadonlySet<RuleId> = new Set(
  ALL_RULES.filter((row) => row.startsFailover).map((row) => row.id),
);

// ---------------------------------------------------------------------------------------------------
