// The local mode's watchdog stand-in: the agent writes its deadline to a file that a separate process
// (cli/local/watchdog-process.ts) reads every few milliseconds; that process kills the postmaster and
// its children when the deadline passes, as a hardware or softdog watchdog would reset the host. Both
// read the same CLOCK_MONOTONIC, which a stepped wall clock does not move.

import { renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { Watchdog } from './watchdog.ts';

export const watchdogFileSchema = z.strictObject({
  armed: z.boolean(),
  deadlineMonoMs: z.number(),
  /** Who wrote it (pid), for the watchdog's log. */
  writer: z.number().int(),
});
export type WatchdogFile = z.infer<typeof watchdogFileSchema>;

export class FileWatchdog implements Watchdog {
  readonly describe: string;

  constructor(private readonly path: string) {
    this.describe = `file watchdog ${path}`;
  }

  async arm(deadlineMonoMs: number): Promise<void> {
    this.write({ armed: true, deadlineMonoMs, writer: process.pid });
  }

  async disarm(): Promise<void> {
    this.write({ armed: false, deadlineMonoMs: 0, writer: process.pid });
  }

  private write(content: WatchdogFile): void {
    // Atomic: the watchdog never reads half a deadline.
    const temporary = `${this.path}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(content));
    renameSync(temporary, this.path);
  }
}
