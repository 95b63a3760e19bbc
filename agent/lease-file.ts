// Where the lease this node's server holds ends, kept on disk so that an agent restarted beside a running
// server (systemd restarts it half a second after a crash) does not forget it: without it, a restarted agent
// cut off from the store renewed nothing and fenced nothing, and the evaluator promoted a standby while the
// old server kept committing (6 s of two writable primaries, found from outside).
//
// The end is on CLOCK_MONOTONIC, which runs on across process restarts but starts again at a reboot: the
// file carries the kernel's boot id, and a file from another boot is ignored (after a reboot PostgreSQL
// starts only once the agent says it is safe: agent/readiness.ts). Written after each renewal the store
// granted, so it never says more than was granted: an agent killed between a grant and its write leaves
// the previous end, which is earlier, and its successor fences early rather than late.

import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { z } from 'zod';

/** The lease's end on the host's monotonic clock, as the agent keeps it across restarts. */
export interface LeaseMemory {
  /** The end recorded in this boot, or null when none is. */
  load(): number | null;
  /** Records the end (null: the server holds no lease any more). */
  save(endMonoMs: number | null): void;
}

/** What an unreadable file stands for: a lease that may have been held and is over, the safe side. */
const ENDED_LONG_AGO_MS = 0;

const leaseSchema = z.looseObject({ bootId: z.string(), endMonoMs: z.number() });

/** The kernel's id of this boot (Linux), or undefined where there is none. */
export function kernelBootId(path = '/proc/sys/kernel/random/boot_id'): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export class LeaseFile implements LeaseMemory {
  constructor(
    private readonly path: string,
    private readonly bootId: string,
    private readonly warn: (message: string) => void,
  ) {}

  load(): number | null {
    if (!existsSync(this.path)) return null;
    try {
      const parsed = leaseSchema.safeParse(JSON.parse(readFileSync(this.path, 'utf8')));
      if (!parsed.success) {
        this.warn(`${this.path} is not a lease file (${parsed.error.message}); assuming a lease that is over`);
        return ENDED_LONG_AGO_MS;
      }
      return parsed.data.bootId === this.bootId ? parsed.data.endMonoMs : null;
    } catch (error) {
      this.warn(`${this.path} cannot be read (${String(error)}); assuming a lease that is over`);
      return ENDED_LONG_AGO_MS;
    }
  }

  save(endMonoMs: number | null): void {
    if (endMonoMs === null) {
      rmSync(this.path, { force: true });
      return;
    }
    const temporary = `${this.path}.tmp`;
    writeFileSync(temporary, `${JSON.stringify({ bootId: this.bootId, endMonoMs })}\n`);
    renameSync(temporary, this.path);
  }
}
