// The candidate's gates before pg_promote() (core/promotion-gates.ts), row by row.

import { describe, expect, it } from 'vitest';
import { promotionVeto, PROMOTION_GATES, type PromotionView } from '../../core/promotion-gates.ts';

/** Every fact gathered, every gate passed. */
const passing = (change: Partial<PromotionView> = {}): PromotionView => ({
  term: 4,
  checked: true,
  inRecovery: true,
  watchdogRequired: true,
  hasWatchdog: true,
  fenceHook: null,
  address: null,
  behind: null,
  leaseLeftMs: 2700,
  fenceLeadMs: 150,
  ...change,
});

describe('the promotion gates', () => {
  it.each<[string, Partial<PromotionView>, string | undefined, RegExp | undefined]>([
    ['every fact gathered and good: promote', {}, undefined, undefined],
    [
      'the local database never read: no',
      { checked: false, inRecovery: undefined },
      'not-checked',
      /could not be checked/,
    ],
    [
      'already writable: reported promoted, nothing to do',
      { inRecovery: false },
      'already-writable',
      /already writable/,
    ],
    ['watchdog fencing without a watchdog: no', { hasWatchdog: false }, 'no-watchdog', /none configured/],
    ['agent fencing without a watchdog: go', { watchdogRequired: false, hasWatchdog: false }, undefined, undefined],
    ['the fencing hook said no: no', { fenceHook: { ok: false, detail: 'exit 3' } }, 'fence-hook-failed', /exit 3/],
    ['the fencing hook said yes: go', { fenceHook: { ok: true, detail: '' } }, undefined, undefined],
    [
      'the cluster address still answers: no',
      { address: { value: '10.0.1.50:5432', answers: true } },
      'address-still-answers',
      /10\.0\.1\.50:5432 still answers/,
    ],
    [
      'behind another standby after the catch-up: no',
      { behind: 'db3 has more WAL' },
      'behind-peers',
      /db3 has more WAL/,
    ],
    [
      'the lease taken has too little left (a delayed agent): no',
      { leaseLeftMs: 150 },
      'lease-too-short',
      /only 150 ms left/,
    ],
    [
      'facts not gathered yet: their gates wait',
      { fenceHook: undefined, address: undefined, behind: undefined, leaseLeftMs: undefined },
      undefined,
      undefined,
    ],
  ])('%s', (_name, change, rule, detail) => {
    const veto = promotionVeto(passing(change));
    expect(veto?.rule).toBe(rule);
    if (detail) expect(veto?.detail).toMatch(detail);
  });

  it('a candidate that cannot be fenced is refused before any hook runs', () => {
    const order = PROMOTION_GATES.map((gate) => gate.id);
    expect(order.indexOf('no-watchdog')).toBeLessThan(order.indexOf('fence-hook-failed'));
  });
});
