// The simulation's one timeline: the global timers and Date replaced by a scheduler on virtual time. It keeps
// @sinonjs/fake-timers' semantics, which it replaced (a timer fires at now + its whole milliseconds, ties in the
// order they were set, every promise callback settled before the next timer), at a third of the cost: the
// pending timers are a binary heap rather than a list scanned at every firing, and the promise callbacks are
// let run behind a process.nextTick rather than a real setTimeout, which costs a turn of the event loop. Nothing
// in the simulation does real I/O, so nothing is left waiting on the real loop.

interface Timer {
  id: number;
  atMs: number;
  fire: (...args: unknown[]) => void;
  args: unknown[];
  intervalMs: number | undefined;
}

/** What setTimeout returns: a number to code that keeps one, and Node's Timeout methods for code that calls them. */
class Handle {
  constructor(readonly id: number) {}
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  hasRef(): boolean {
    return true;
  }
  [Symbol.toPrimitive](): number {
    return this.id;
  }
}

const MAX_DELAY_MS = 2 ** 31 - 1;

/** Node's rule: a delay that is not a number from 1 to 2^31 - 1 is 1 ms; fake-timers' rule: whole milliseconds. */
function delayOf(ms: unknown): number {
  const delay = Math.trunc(Number(ms));
  return delay >= 1 && delay <= MAX_DELAY_MS ? delay : 1;
}

/**
 * Node runs every queued nextTick, then every microtask, until both are empty: by the time this resolves,
 * whatever a timer started on promises (and their ticks) has run as far as it can without another timer.
 */
const settle = () => new Promise<void>((resolve) => process.nextTick(resolve));

/**
 * Settling behind nextTicks never lets the event loop turn, so a long run would starve whatever real I/O the
 * process has (a test runner's messages to its worker: vitest gave up on one after 60 s). Every so often of
 * real time the loop is let turn once; nothing of the simulation waits on it, so the timeline is the same.
 */
const YIELD_EVERY_MS = 50;
const turnTheLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export class VirtualTime {
  private nowMs: number;
  private nextId = 1;
  private readonly heap: Timer[] = [];
  private readonly pending = new Map<number, Timer>();
  private readonly saved = {
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
    setInterval: globalThis.setInterval,
    clearInterval: globalThis.clearInterval,
    Date: globalThis.Date,
  };

  private constructor(startMs: number) {
    this.nowMs = startMs;
  }

  /** Replaces the global timers and Date until uninstall(). */
  static install(startMs: number): VirtualTime {
    const time = new VirtualTime(startMs);
    const RealDate = time.saved.Date;
    const VirtualDate = class extends RealDate {
      constructor(...args: unknown[]) {
        if (args.length === 0) super(time.nowMs);
        else super(...(args as [string | number]));
      }
      static override now(): number {
        return time.nowMs;
      }
    };
    const schedule = (fire: unknown, ms: unknown, args: unknown[], repeat: boolean) =>
      new Handle(time.add(fire as Timer['fire'], delayOf(ms), args, repeat));
    const cancel = (handle: unknown) => {
      if (handle !== undefined && handle !== null) time.pending.delete(Number(handle));
    };
    Object.assign(globalThis, {
      setTimeout: (fire: unknown, ms?: unknown, ...args: unknown[]) => schedule(fire, ms, args, false),
      setInterval: (fire: unknown, ms?: unknown, ...args: unknown[]) => schedule(fire, ms, args, true),
      clearTimeout: cancel,
      clearInterval: cancel,
      Date: VirtualDate,
    });
    return time;
  }

  uninstall(): void {
    Object.assign(globalThis, this.saved);
    this.pending.clear();
    this.heap.length = 0;
  }

  /**
   * Moves virtual time `ms` on, firing every timer due on the way in order, and lets every promise callback
   * run after each. A timer that throws is reported once the advance is over, as fake-timers does.
   */
  async advance(ms: number): Promise<void> {
    const untilMs = this.nowMs + ms;
    let failure: { error: unknown } | undefined;
    await settle();
    let turnedAtMs = performance.now();
    for (;;) {
      if (performance.now() - turnedAtMs >= YIELD_EVERY_MS) {
        await turnTheLoop();
        turnedAtMs = performance.now();
      }
      const timer = this.popDue(untilMs);
      if (!timer) break;
      this.nowMs = timer.atMs;
      if (timer.intervalMs !== undefined) {
        timer.atMs += timer.intervalMs;
        this.push(timer);
      } else this.pending.delete(timer.id);
      try {
        timer.fire(...timer.args);
      } catch (error) {
        failure ??= { error };
      }
      await settle();
    }
    this.nowMs = untilMs;
    if (failure) throw failure.error;
  }

  private add(fire: Timer['fire'], delayMs: number, args: unknown[], repeat: boolean): number {
    if (typeof fire !== 'function') throw new TypeError('a timer needs a function to call');
    const timer: Timer = {
      id: this.nextId++,
      atMs: this.nowMs + delayMs,
      fire,
      args,
      intervalMs: repeat ? delayMs : undefined,
    };
    this.pending.set(timer.id, timer);
    this.push(timer);
    return timer.id;
  }

  /** The earliest live timer due by `untilMs`, taken off the heap; cancelled ones are dropped on the way. */
  private popDue(untilMs: number): Timer | undefined {
    for (;;) {
      const top = this.heap[0];
      if (!top || top.atMs > untilMs) return undefined;
      this.pop();
      if (this.pending.get(top.id) === top) return top;
    }
  }

  // A binary min-heap on (atMs, id): ties fire in the order they were first set, as fake-timers does.
  private static before(a: Timer, b: Timer): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.id < b.id);
  }

  private push(timer: Timer): void {
    const heap = this.heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!VirtualTime.before(heap[i] as Timer, heap[parent] as Timer)) break;
      [heap[i], heap[parent]] = [heap[parent] as Timer, heap[i] as Timer];
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (!last || heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && VirtualTime.before(heap[left] as Timer, heap[least] as Timer)) least = left;
      if (right < heap.length && VirtualTime.before(heap[right] as Timer, heap[least] as Timer)) least = right;
      if (least === i) return;
      [heap[i], heap[least]] = [heap[least] as Timer, heap[i] as Timer];
      i = least;
    }
  }
}
