// An agent's footprint from /proc: resident memory and CPU time, sampled while the benchmark runs.

import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

export interface ProcessSample {
  rssKb: number;
  /**
   * Memory this process alone holds (private pages, /proc/PID/smaps_rollup): the resident set less what it
   * shares, mostly the node executable's own code (about 40 MB, shared by every Node process on the host).
   */
  privateKb?: number;
  cpuTicks: number;
  /** CPU time of all its threads so far, exact (schedstat), where the kernel keeps it. */
  runNs?: number;
  atMs: number;
}

export function sampleProcess(pid: number): ProcessSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "pid (comm)": state is the 3rd field, utime the 14th and stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuTicks = Number(fields[11]) + Number(fields[12]);
    const runNs = runtimeNs(pid);
    return rss
      ? {
          rssKb: Number(rss),
          privateKb: privateKb(pid),
          cpuTicks,
          ...(runNs !== undefined ? { runNs } : {}),
          atMs: Date.now(),
        }
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The time every thread of the process has spent on a CPU, in nanoseconds (/proc/PID/task/TID/schedstat): exact,
 * where utime and stime are counted in 10 ms ticks and a process that runs for short bursts is charged them by
 * chance (at 1 % of a core, a 20 s window holds some twenty ticks).
 */
function runtimeNs(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/task`).reduce((sum, tid) => {
      const first = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0];
      return sum + Number(first ?? 0);
    }, 0);
  } catch {
    return undefined;
  }
}

function privateKb(pid: number): number | undefined {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const clean = /^Private_Clean:\s+(\d+) kB/m.exec(rollup)?.[1];
    const dirty = /^Private_Dirty:\s+(\d+) kB/m.exec(rollup)?.[1];
    return clean && dirty ? Number(clean) + Number(dirty) : undefined;
  } catch {
    return undefined;
  }
}

export interface Footprint {
  maxRssMb: number;
  /** The largest private memory seen, or null where the kernel does not say (no smaps_rollup). */
  maxPrivateMb?: number | null;
  /** Percent of one core over the window. */
  cpuPercent: number;
  windowMs: number;
}

/** From samples of one process over a window: its largest resident set and its average CPU use. */
export function footprintOf(samples: readonly ProcessSample[]): Footprint | undefined {
  const first = samples[0];
  const last = samples.at(-1);
  if (!first || !last || last.atMs <= first.atMs) return undefined;
  const windowMs = last.atMs - first.atMs;
  return {
    maxRssMb: Math.round((Math.max(...samples.map((sample) => sample.rssKb)) / 1024) * 10) / 10,
    maxPrivateMb: samples.every((sample) => sample.privateKb !== undefined)
      ? Math.round((Math.max(...samples.map((sample) => sample.privateKb ?? 0)) / 1024) * 10) / 10
      : null,
    cpuPercent:
      first.runNs !== undefined && last.runNs !== undefined
        ? Math.round(((last.runNs - first.runNs) / 1e6 / windowMs) * 1000) / 10
        : Math.round(((last.cpuTicks - first.cpuTicks) / TICKS_PER_SECOND / (windowMs / 1000)) * 1000) / 10,
    windowMs,
  };
}

/** Samples every pid every `intervalMs` until stopped. */
export class FootprintSampler {
  private readonly samples = new Map<number, ProcessSample[]>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pids: () => number[]) {}

  start(intervalMs = 250): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): Footprint[] {
    clearInterval(this.timer);
    this.sample();
    return [...this.samples.values()].map((samples) => footprintOf(samples)).filter((f): f is Footprint => !!f);
  }

  private sample(): void {
    for (const pid of this.pids()) {
      const sample = sampleProcess(pid);
      if (!sample) continue;
      const list = this.samples.get(pid) ?? [];
      list.push(sample);
      this.samples.set(pid, list);
    }
  }
}
