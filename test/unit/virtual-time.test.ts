// The simulation's scheduler: timers fire in virtual-time order (ties in the order they were set), intervals
// repeat, cancelled timers never fire, Date reads virtual time, and every promise callback a timer starts has
// run before the next timer fires.

import { describe, expect, it } from 'vitest';
import { VirtualTime } from '../../sim/virtual-time.ts';

const START_MS = 1_800_000_000_000;

async function onVirtualTime(body: (time: VirtualTime) => Promise<void>): Promise<void> {
  const time = VirtualTime.install(START_MS);
  try {
    await body(time);
  } finally {
    time.uninstall();
  }
}

describe('VirtualTime', () => {
  it('fires timers in time order, ties in the order they were set, each at its own virtual instant', async () => {
    const fired: string[] = [];
    await onVirtualTime(async (time) => {
      // Prepare
      const at = (name: string) => () => fired.push(`${name}@${Date.now() - START_MS}`);
      setTimeout(at('c'), 30);
      setTimeout(at('a'), 10);
      setTimeout(at('b'), 10);
      setTimeout(at('fraction'), 10.9);
      setTimeout(at('zero'), 0);
      // Act
      await time.advance(25);
      const before = [...fired];
      await time.advance(10);
      // Assess
      expect(before).toEqual(['zero@1', 'a@10', 'b@10', 'fraction@10']);
      expect(fired.slice(before.length)).toEqual(['c@30']);
      expect(Date.now() - START_MS).toBe(35);
      expect(new Date().getTime() - START_MS).toBe(35);
      expect(new Date(0).getTime()).toBe(0);
    });
  });

  it('repeats intervals, and a cancelled timer or interval never fires again', async () => {
    let ticks = 0;
    let cancelled = 0;
    await onVirtualTime(async (time) => {
      // Prepare
      const interval = setInterval(() => ticks++, 100);
      const timer = setTimeout(() => cancelled++, 50);
      clearTimeout(timer);
      // Act
      await time.advance(350);
      clearInterval(interval);
      await time.advance(1000);
    });
    // Assess
    expect(ticks).toBe(3);
    expect(cancelled).toBe(0);
  });

  it('lets every promise callback a timer started run before the next timer fires', async () => {
    const order: string[] = [];
    await onVirtualTime(async (time) => {
      // Prepare: a chain of awaits started by the first timer, and a second timer at the same instant.
      setTimeout(() => {
        void (async () => {
          for (let step = 0; step < 50; step++) await Promise.resolve();
          order.push('chain of the first');
          process.nextTick(() => order.push('tick of the first'));
        })();
      }, 10);
      setTimeout(() => order.push('second'), 10);
      // Act
      await time.advance(10);
    });
    // Assess
    expect(order).toEqual(['chain of the first', 'tick of the first', 'second']);
  });

  it('reports a timer that throws once the advance is over, after firing the rest', async () => {
    let later = 0;
    await onVirtualTime(async (time) => {
      setTimeout(() => {
        throw new Error('boom');
      }, 5);
      setTimeout(() => later++, 6);
      await expect(time.advance(10)).rejects.toThrow('boom');
    });
    expect(later).toBe(1);
  });

  it("lets the real event loop turn during a long advance (a test runner's messages are not starved)", async () => {
    let ranAtMs: number | undefined;
    await onVirtualTime(async (time) => {
      // Prepare: work that takes real time at every virtual millisecond, and real I/O-like work pending.
      setInterval(() => {
        const until = performance.now() + 0.2;
        while (performance.now() < until);
      }, 1);
      setImmediate(() => (ranAtMs = Date.now() - START_MS));
      // Act
      await time.advance(1000);
    });
    // Assess: it ran while virtual time was still moving, not only once the advance was over.
    expect(ranAtMs).toBeDefined();
    expect(ranAtMs).toBeLessThan(1000);
  });

  it('puts the real timers and Date back', async () => {
    const realSetTimeout = globalThis.setTimeout;
    const RealDate = globalThis.Date;
    await onVirtualTime(async () => {
      expect(globalThis.setTimeout).not.toBe(realSetTimeout);
      expect(Date.now()).toBe(START_MS);
    });
    expect(globalThis.setTimeout).toBe(realSetTimeout);
    expect(globalThis.Date).toBe(RealDate);
  });
});
