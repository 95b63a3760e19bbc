// Why a candidate will not promote, as rows: the checks a candidate makes between being chosen and calling
// pg_promote(), in one table. Some facts take I/O (the fencing hook, a check of the cluster address, the
// catch-up with the other standbys, the lease write): the agent gathers them one at a time, cheapest first,
// and asks the table after each; a fact not gathered yet is undefined, and its row waits for it.

export interface PromotionView {
  term: number;
  /** The local database has been read at least once. */
  checked: boolean;
  /** From that read; undefined before it. */
  inRecovery: boolean | undefined;
  /** The cluster fences with a watchdog, and this agent has one. */
  watchdogRequired: boolean;
  hasWatchdog: boolean;
  /** The fencing hook's outcome: null when none is configured, undefined before it ran. */
  fenceHook?: { ok: boolean; detail: string } | null;
  /** The cluster address checked before promoting: null when the check is off, undefined before it ran. */
  address?: { value: string; answers: boolean } | null;
  /** Why the catch-up with the other standbys says not to promote; null when it says go (or none is needed). */
  behind?: string | null;
  /** What is left of the lease taken for this term once it is held. */
  leaseLeftMs?: number;
  fenceLeadMs: number;
}

export interface PromotionVeto {
  rule: string;
  /** What the candidate reports: a failure, a fence hook that said no, or that it is writable already. */
  step: 'promote-failed' | 'fence-hook-failed' | 'promoted';
  detail: string;
}

interface Gate {
  id: string;
  when: (view: PromotionView) => boolean;
  step: PromotionVeto['step'];
  detail: (view: PromotionView) => string;
}

/** Tried top to bottom; the first that holds vetoes the promotion (or, already-writable, makes it moot). */
export const PROMOTION_GATES: readonly Gate[] = [
  {
    id: 'not-checked',
    when: (v) => !v.checked,
    step: 'promote-failed',
    detail: () => 'the local database could not be checked',
  },
  { id: 'already-writable', when: (v) => v.inRecovery === false, step: 'promoted', detail: () => 'already writable' },
  {
    // Before anything runs: a candidate that cannot be fenced must not be made a primary.
    id: 'no-watchdog',
    when: (v) => v.watchdogRequired && !v.hasWatchdog,
    step: 'promote-failed',
    detail: () => 'the cluster fences with a watchdog and this agent has none configured (agent config "watchdog")',
  },
  {
    id: 'fence-hook-failed',
    when: (v) => v.fenceHook?.ok === false,
    step: 'fence-hook-failed',
    detail: (v) => v.fenceHook?.detail ?? '',
  },
  {
    id: 'address-still-answers',
    when: (v) => v.address?.answers === true,
    step: 'promote-failed',
    detail: (v) =>
      `the cluster address ${v.address?.value ?? '?'} still answers: the old primary may still hold it, so this node will not promote`,
  },
  {
    id: 'behind-peers',
    when: (v) => typeof v.behind === 'string',
    step: 'promote-failed',
    detail: (v) => v.behind ?? '',
  },
  {
    id: 'lease-too-short',
    when: (v) => v.leaseLeftMs !== undefined && v.leaseLeftMs <= v.fenceLeadMs,
    step: 'promote-failed',
    detail: (v) =>
      `the lease taken for term ${v.term} has only ${v.leaseLeftMs ?? 0} ms left (this agent was delayed); not promoting`,
  },
];

export function promotionVeto(view: PromotionView): PromotionVeto | undefined {
  const gate = PROMOTION_GATES.find((candidate) => candidate.when(view));
  return gate ? { rule: gate.id, step: gate.step, detail: gate.detail(view) } : undefined;
}
