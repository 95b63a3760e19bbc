// The Linux watchdog (/dev/watchdog; on EC2 the softdog module: `modprobe softdog soft_margin=N`), as
// Patroni uses it. Any write restarts the device's countdown of timeoutMs; if it runs out the kernel
// resets the host. Writing "V" before closing disarms it (the "magic close"). The device cannot take an
// absolute deadline, so the agent pets it only while the remaining lease is longer than the countdown:
// the host then resets no later than the lease's end minus the agent's fence lead.

import { open, type FileHandle } from 'node:fs/promises';
import type { Clock } from '../../core/clock.ts';
import type { Watchdog } from './watchdog.ts';

export class DeviceWatchdog implements Watchdog {
  readonly describe: string;
  private handle: FileHandle | undefined;

  constructor(
    private readonly path: string,
    /** The device's countdown (softdog's soft_margin), in ms. */
    private readonly timeoutMs: number,
    private readonly clock: Clock,
  ) {
    this.describe = `watchdog device ${path} (${timeoutMs} ms)`;
  }

  async arm(deadlineMonoMs: number): Promise<void> {
    // Petting now would let the host live until now + timeoutMs: only while that is within the deadline.
    if (this.clock.monotonicMs() + this.timeoutMs > deadlineMonoMs) {
      throw new Error(
        `${this.describe}: the lease ends in ${deadlineMonoMs - this.clock.monotonicMs()} ms, sooner than the device's countdown; not petting`,
      );
    }
    this.handle ??= await open(this.path, 'w');
    await this.handle.write('1');
  }

  async disarm(): Promise<void> {
    if (!this.handle) return;
    await this.handle.write('V');
    await this.handle.close();
    this.handle = undefined;
  }
}
