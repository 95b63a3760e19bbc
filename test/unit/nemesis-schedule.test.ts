import { describe, expect, it } from 'vitest';
import { NEMESIS_FAULTS, parseDuration, planSchedule, seededRandom } from '../../cli/local/nemesis.ts';

describe('the nemesis schedule', () => {
  it('is the same for the same seed and differs between seeds', () => {
    expect(planSchedule(8, 20)).toEqual(planSchedule(8, 20));
    expect(planSchedule(8, 20)).not.toEqual(planSchedule(9, 20));
  });

  it('draws every kind of fault over a long schedule, blips under a second and a quarter, others past the timeouts', () => {
    const schedule = planSchedule(1, 2000);
    expect(new Set(schedule.map((entry) => entry.fault))).toEqual(new Set(NEMESIS_FAULTS));
    for (const entry of schedule) {
      const blip = /briefly|blip|standby-agent|evaluator/.test(entry.fault);
      if (blip) expect(entry.holdMs).toBeLessThan(1250);
      else expect(entry.holdMs).toBeGreaterThanOrEqual(7000);
    }
  });

  it('draws numbers in [0, 1)', () => {
    const random = seededRandom(42);
    const draws = Array.from({ length: 1000 }, () => random());
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
  });

  it.each([
    ['10m', 600_000],
    ['90s', 90_000],
    ['1500ms', 1500],
    ['2500', 2500],
    ['1.5s', 1500],
  ])('reads the duration %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['ten minutes', '-5s', '5 m', ''])('refuses the duration %j with what it expects', (text) => {
    expect(() => parseDuration(text)).toThrow(/a duration such as 10m, 90s or 1500ms/);
  });
});
