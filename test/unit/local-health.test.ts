import { describe, expect, it } from 'vitest';
import {
  INITIAL_HEALTH,
  nextLocalHealth,
  type HealthPhase,
  type LocalHealth,
  type ProbeOutcome,
} from '../../core/local-health.ts';

const ok: ProbeOutcome = { kind: 'ok' };
const failed: ProbeOutcome = { kind: 'failed', reason: 'connection refused' };
const refused: ProbeOutcome = { kind: 'refused', reason: 'password authentication failed' };

function inPhase(phase: HealthPhase): LocalHealth {
  return { phase, status: 'UNKNOWN', reason: '', finalCheckDue: phase === 'suspect' };
}

describe('local database health (EFM local.timeout / local.timeout.final)', () => {
  it.each<[HealthPhase, ProbeOutcome, HealthPhase, LocalHealth['status'], boolean]>([
    ['starting', ok, 'up', 'UP', false],
    ['starting', failed, 'suspect', 'UNKNOWN', true],
    ['starting', refused, 'misconfigured', 'UNKNOWN', false],
    ['up', ok, 'up', 'UP', false],
    // One failed check is never DOWN: the final check must fail too.
    ['up', failed, 'suspect', 'UNKNOWN', true],
    ['suspect', ok, 'up', 'UP', false],
    ['suspect', failed, 'down', 'DOWN', false],
    ['down', failed, 'down', 'DOWN', false],
    ['down', ok, 'up', 'UP', false],
    // A server that refuses our login is alive: UNKNOWN, never DOWN.
    ['up', refused, 'misconfigured', 'UNKNOWN', false],
    ['suspect', refused, 'misconfigured', 'UNKNOWN', false],
    ['misconfigured', ok, 'up', 'UP', false],
    ['misconfigured', failed, 'suspect', 'UNKNOWN', true],
  ])('%s + %o -> %s (%s, final check due: %s)', (from, outcome, phase, status, finalCheckDue) => {
    // Act
    const next = nextLocalHealth(inPhase(from), outcome);
    // Assess
    expect(next).toMatchObject({ phase, status, finalCheckDue });
  });

  it('declares DOWN only after a failed check and a failed final check, with the reason', () => {
    // Prepare
    let health = nextLocalHealth(INITIAL_HEALTH, ok);
    // Act
    health = nextLocalHealth(health, failed);
    const afterFirst = health.status;
    health = nextLocalHealth(health, failed);
    // Assess
    expect(afterFirst).toBe('UNKNOWN');
    expect(health.status).toBe('DOWN');
    expect(health.reason).toContain('connection refused');
  });

  it('keeps the refusal reason so a DBA sees what to fix', () => {
    expect(nextLocalHealth(INITIAL_HEALTH, refused).reason).toBe('password authentication failed');
  });
});
