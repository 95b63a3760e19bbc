// The local mode's watchdog stand-in: the agent writes its deadline to a file that a separate process
// (cli/local/watchdog-process.ts) reads every few milliseconds; that process kills the postmaster and
// its children when the deadline passes, as a hardware or softdog watchdog would reset the host. Both
// read the same CLOCK_MONOTONIC, which a stepped wall clock does not move.
//
// The primary arms it with every lease renewal, 2.5 times a second. Each write goes in place, at the start
// of a file of fixed length, rather than to a new file renamed over the old (a rename is a journal commit:
// it was a third of an idle primary's CPU). A read that meets a write half done is told apart by the seal,
// which repeats the fields: the reader ignores a record whose seal does not match and keeps the last good one.

import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { z } from 'zod';
import type { Watchdog } from './watchdog.ts';

export const watchdogFileSchema = z.strictObject({
  armed: z.boolean(),
  deadlineMonoMs: z.number(),
  /** Who wrote it (pid), for the watchdog's log. */
  writer: z.number().int(),
  /** The three fields again: a torn read has a seal that does not match them. */
  seal: z.string(),
});
export type WatchdogFile = z.infer<typeof watchdogFileSchema>;

/** Every record is this long, padded with spaces (JSON allows them), so a write always covers the last. */
const RECORD_BYTES = 192;

const sealOf = (record: Omit<WatchdogFile, 'seal'>) => `${record.armed}|${record.deadlineMonoMs}|${record.writer}`;

export function encodeWatchdogRecord(record: Omit<WatchdogFile, 'seal'>): Buffer {
  const text = JSON.stringify({ ...record, seal: sealOf(record) });
  if (text.length > RECORD_BYTES) throw new Error(`a watchdog record of ${text.length} bytes does not fit`);
  return Buffer.from(text.padEnd(RECORD_BYTES, ' '));
}

/** The record in `text`, or undefined when it is not one whole record (absent, torn, or not ours). */
export function decodeWatchdogRecord(text: string): WatchdogFile | undefined {
  try {
    const parsed = watchdogFileSchema.safeParse(JSON.parse(text));
    return parsed.success && parsed.data.seal === sealOf(parsed.data) ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function readWatchdogFile(path: string): WatchdogFile | undefined {
  try {
    return decodeWatchdogRecord(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

export class FileWatchdog implements Watchdog {
  readonly describe: string;
  private fd: number | undefined;

  constructor(private readonly path: string) {
    this.describe = `file watchdog ${path}`;
  }

  async arm(deadlineMonoMs: number): Promise<void> {
    this.write({ armed: true, deadlineMonoMs, writer: process.pid });
  }

  async disarm(): Promise<void> {
    this.write({ armed: false, deadlineMonoMs: 0, writer: process.pid });
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private write(record: Omit<WatchdogFile, 'seal'>): void {
    // Opened (and emptied) once; from then on every record overwrites the last in place.
    this.fd ??= openSync(this.path, 'w');
    const buffer = encodeWatchdogRecord(record);
    writeSync(this.fd, buffer, 0, buffer.length, 0);
  }
}
