// How an agent turns its periodic checks of the local database into UP / DOWN / UNKNOWN, as EFM does:
// a check that fails (or does not answer within localTimeoutMs) is followed at once by one final check
// with localTimeoutFinalMs; only when that fails too is the database declared DOWN. Until then the
// status is UNKNOWN, never DOWN, so nothing acts on a single missed check.
//
// The rules are a transition table: (phase, outcome) -> next phase. The agent owns the I/O.

export type ProbeOutcome =
  | { kind: 'ok' }
  | { kind: 'failed'; reason: string }
  /** The server answered but refused the check (password, pg_hba, grants, database name): alive, but not checkable. */
  | { kind: 'refused'; reason: string };

export type HealthPhase = 'starting' | 'up' | 'suspect' | 'down' | 'misconfigured';

export interface LocalHealth {
  phase: HealthPhase;
  status: 'UP' | 'DOWN' | 'UNKNOWN';
  reason: string;
  /** True when the next check must be the final one, run at once with localTimeoutFinalMs. */
  finalCheckDue: boolean;
}

type OutcomeKind = ProbeOutcome['kind'];

export const HEALTH_TRANSITIONS: Record<HealthPhase, Record<OutcomeKind, HealthPhase>> = {
  starting: { ok: 'up', failed: 'suspect', refused: 'misconfigured' },
  up: { ok: 'up', failed: 'suspect', refused: 'misconfigured' },
  suspect: { ok: 'up', failed: 'down', refused: 'misconfigured' },
  down: { ok: 'up', failed: 'down', refused: 'misconfigured' },
  misconfigured: { ok: 'up', failed: 'suspect', refused: 'misconfigured' },
};

export const INITIAL_HEALTH: LocalHealth = {
  phase: 'starting',
  status: 'UNKNOWN',
  reason: 'agent starting: no check of the local database has finished yet',
  finalCheckDue: false,
};

export function nextLocalHealth(current: LocalHealth, outcome: ProbeOutcome): LocalHealth {
  const phase = HEALTH_TRANSITIONS[current.phase][outcome.kind];
  switch (phase) {
    case 'up':
      return { phase, status: 'UP', reason: '', finalCheckDue: false };
    case 'suspect':
      return {
        phase,
        status: 'UNKNOWN',
        reason: `local check failed (${reasonOf(outcome)}); running the final check`,
        finalCheckDue: true,
      };
    case 'down':
      return { phase, status: 'DOWN', reason: `database down: ${reasonOf(outcome)}`, finalCheckDue: false };
    case 'misconfigured':
      return { phase, status: 'UNKNOWN', reason: reasonOf(outcome), finalCheckDue: false };
    case 'starting':
      return INITIAL_HEALTH;
  }
}

function reasonOf(outcome: ProbeOutcome): string {
  return outcome.kind === 'ok' ? '' : outcome.reason;
}
