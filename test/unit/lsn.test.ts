import { describe, expect, it } from 'vitest';
import { compareLsn, formatLsn, isLsn, lsnLagBytes, parseLsn, standbyPosition } from '../../core/lsn.ts';

describe('WAL positions', () => {
  it.each([
    ['0/0', 0n],
    ['0/4003E00', 0x4003e00n],
    ['16/B374D848', (0x16n << 32n) | 0xb374d848n],
    ['FFFFFFFF/FFFFFFFF', (1n << 64n) - 1n],
  ])('parses %s and formats it back', (text, value) => {
    // Act
    const parsed = parseLsn(text);
    // Assess
    expect(parsed).toBe(value);
    expect(formatLsn(parsed)).toBe(text);
  });

  it.each(['', '16', '16/', 'G/1', '1/2/3', '123456789/0'])('rejects "%s"', (text) => {
    expect(isLsn(text)).toBe(false);
    expect(() => parseLsn(text)).toThrow(/not a WAL position/);
  });

  it.each([
    ['0/10', '0/F', 1],
    ['1/0', '0/FFFFFFFF', 1],
    ['0/5', '0/5', 0],
    ['0/5', '1/5', -1],
  ])('compares %s with %s as %i', (a, b, expected) => {
    expect(compareLsn(a, b)).toBe(expected);
  });

  it.each([
    ['1/0', '0/FFFFFFFF', 1],
    ['0/5000', '0/4000', 0x1000],
    ['0/4000', '0/5000', 0],
  ])('lag of %s over %s is %i bytes', (ahead, behind, bytes) => {
    expect(lsnLagBytes(ahead, behind)).toBe(bytes);
  });
});

describe('standbyPosition', () => {
  it.each<[string | null, string | null, string | null]>([
    ['0/4000000', '0/402DA18', '0/402DA18'],
    ['0/5000000', '0/402DA18', '0/5000000'],
    [null, '0/402DA18', '0/402DA18'],
    ['0/1', null, '0/1'],
    [null, null, null],
  ])('received %s, replayed %s: %s', (received, replayed, expected) => {
    expect(standbyPosition(received, replayed)).toBe(expected);
  });
});
