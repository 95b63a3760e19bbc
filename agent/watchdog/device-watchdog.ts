// The Linux watchdog (/dev/watchdog; on EC2 the softdog module: `modprobe softdog soft_margin=N`), as
// Patroni uses it. Any write restarts the device's countdown of timeoutMs; if it runs out the kernel
// resets the host. Writing "V" before closing disarms it (the "magic close"). The device cannot take an
// absolute deadline, so this adapter pets it, from the agent's process, for as long as a whole countdown
// still fits before the deadline it was armed with, and then stops: the host resets no later than that
// deadline unless the agent arms it again (a renewal) or disarms it. Petting between renewals matters: a
// store blip stops renewals, not the agent, and a countdown shorter than the blip must not reset the host
// while the lease is still valid. A frozen agent stops petting too, as a watchdog requires.

import { open } from 'node:fs/promises';
import type { Clock } from '../../core/clock.ts';
import type { Watchdog } from './watchdog.ts';

/** The device, as this adapter uses it (a test passes a recorder). */
export interface WatchdogDevice {
  write(data: string): Promise<unknown>;
  close(): Promise<void>;
}

/** How often the device is petted between arms, at most: a small part of any countdown softdog takes. */
const PET_INTERVAL_MS = 100;
const LAST_PET_LEAD_MS = 5;

export class DeviceWatchdog implements Watchdog {
  readonly describe: string;
  private device: WatchdogDevice | undefined;
  private deadlineMonoMs = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly path: string,
    /** The device's countdown (softdog's soft_margin), in ms. */
    private readonly timeoutMs: number,
    private readonly clock: Clock,
    private readonly openDevice: (path: string) => Promise<WatchdogDevice> = (path) => open(path, 'w'),
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
    this.device ??= await this.openDevice(this.path);
    this.deadlineMonoMs = deadlineMonoMs;
    await this.pet();
  }

  /** Pets the device if a whole countdown still fits before the deadline, and schedules the next pet. */
  private async pet(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const device = this.device;
    const lastPetMonoMs = this.deadlineMonoMs - this.timeoutMs;
    if (!device || this.clock.monotonicMs() > lastPetMonoMs) return;
    await device.write('1');
    // The last pet lands just before lastPetMonoMs (a timer may fire late, never early), so the host lives
    // to within a few ms of the deadline; a pet that comes too late is not made and the host resets sooner.
    const nextInMs = Math.min(PET_INTERVAL_MS, lastPetMonoMs - LAST_PET_LEAD_MS - this.clock.monotonicMs());
    if (nextInMs < 0 || this.device !== device) return;
    this.timer = setTimeout(() => void this.pet().catch(() => undefined), nextInMs);
    this.timer.unref();
  }

  async disarm(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const device = this.device;
    if (!device) return;
    this.device = undefined;
    this.deadlineMonoMs = Number.NEGATIVE_INFINITY;
    await device.write('V');
    await device.close();
  }
}
