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
import { readWatchdogCountdownMs } from './device-countdown.ts';
import type { Watchdog } from './watchdog.ts';

/** The device, as this adapter uses it (a test passes a recorder). */
export interface WatchdogDevice {
  write(data: string): Promise<unknown>;
  close(): Promise<void>;
}

export interface DeviceWatchdogOptions {
  /** The countdown the config expects, in ms: a device that counts otherwise is refused (and says so). */
  expectedTimeoutMs?: number | undefined;
  openDevice?: (path: string) => Promise<WatchdogDevice>;
  /** The device's real countdown in ms (default: sysfs, agent/watchdog/device-countdown.ts). */
  readCountdownMs?: (path: string) => Promise<number>;
}

/** How often the device is petted between arms, at most: a small part of any countdown softdog takes. */
const PET_INTERVAL_MS = 100;
const LAST_PET_LEAD_MS = 5;

export class DeviceWatchdog implements Watchdog {
  private device: WatchdogDevice | undefined;
  /** The device's countdown as read when it was opened (undefined before). */
  private timeoutMs: number | undefined;
  private deadlineMonoMs = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private readonly openDevice: (path: string) => Promise<WatchdogDevice>;
  private readonly readCountdownMs: (path: string) => Promise<number>;

  constructor(
    private readonly path: string,
    private readonly clock: Clock,
    private readonly options: DeviceWatchdogOptions = {},
  ) {
    this.openDevice = options.openDevice ?? ((device) => open(device, 'w'));
    this.readCountdownMs = options.readCountdownMs ?? ((device) => readWatchdogCountdownMs(device));
  }

  get describe(): string {
    return `watchdog device ${this.path} (${this.timeoutMs === undefined ? 'countdown not read yet' : `${this.timeoutMs} ms`})`;
  }

  /**
   * The device's countdown in ms, read from the device (never from the config); throws when it cannot be
   * read or differs from the config's expectation. Read before every opening: a module reloaded with
   * another soft_margin between two leases is seen.
   */
  async countdownMs(): Promise<number> {
    const actualMs = await this.readCountdownMs(this.path);
    const expected = this.options.expectedTimeoutMs;
    if (expected !== undefined && expected !== actualMs) {
      throw new Error(
        `${this.path} counts ${actualMs / 1000} s but watchdog.timeoutMs says ${expected} ms: set the device's countdown (softdog: soft_margin=${Math.ceil(expected / 1000)} in /etc/modprobe.d, docs/install-agent.md) or fix the config`,
      );
    }
    return actualMs;
  }

  async arm(deadlineMonoMs: number): Promise<void> {
    if (!this.device) this.timeoutMs = await this.countdownMs();
    const timeoutMs = this.timeoutMs as number;
    // Petting now would let the host live until now + timeoutMs: only while that is within the deadline.
    if (this.clock.monotonicMs() + timeoutMs > deadlineMonoMs) {
      throw new Error(
        `${this.describe}: the lease ends in ${deadlineMonoMs - this.clock.monotonicMs()} ms, sooner than the device's countdown; not petting (the node reports itself unprotected)`,
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
    const lastPetMonoMs = this.deadlineMonoMs - (this.timeoutMs ?? Number.POSITIVE_INFINITY);
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
