// The Linux watchdog adapter: the device takes only "pet" and "magic close", so the adapter pets it for as
// long as a whole countdown fits before the deadline it was armed with. Between renewals too: a store blip
// stops renewals, not the agent, and must not reset a host whose lease is still valid.

import { describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.ts';
import { DeviceWatchdog, type WatchdogDevice } from '../../agent/watchdog/device-watchdog.ts';
import { pollUntil } from '../support/poll.ts';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWatchdogCountdownMs, watchdogSysfsDir } from '../../agent/watchdog/device-countdown.ts';
import { watchdogCountdownProblem } from '../../core/lease-timing.ts';

class RecordingDevice implements WatchdogDevice {
  readonly writes: { data: string; atMonoMs: number }[] = [];
  closed = false;
  async write(data: string) {
    this.writes.push({ data, atMonoMs: systemClock.monotonicMs() });
  }
  async close() {
    this.closed = true;
  }
  pets() {
    return this.writes.filter((write) => write.data === '1').map((write) => write.atMonoMs);
  }
}

describe('device watchdog', () => {
  it('keeps petting without renewals until the last countdown that fits, then lets the host reset by the deadline', async () => {
    // Prepare: a 300 ms countdown; the lease (less the lead) ends 1.2 s from now.
    const device = new RecordingDevice();
    const watchdog = new DeviceWatchdog('/dev/watchdog', systemClock, {
      openDevice: async () => device,
      readCountdownMs: async () => 300,
    });
    const armedAt = systemClock.monotonicMs();
    const deadline = armedAt + 1200;
    // Act: armed once, as by the last renewal before a blip.
    await watchdog.arm(deadline);
    await pollUntil('the deadline', () => (systemClock.monotonicMs() > deadline + 200 ? true : undefined), 5000, 20);
    // Assess: never a lapse while a countdown fits (no gap of a countdown), never a pet past deadline - countdown,
    // and the last one within a pet interval of it.
    const pets = device.pets();
    expect(pets.length).toBeGreaterThan(3);
    for (let i = 1; i < pets.length; i++) expect(pets[i]! - pets[i - 1]!).toBeLessThan(300);
    expect(pets.at(-1)!).toBeLessThanOrEqual(deadline - 300);
    expect(pets.at(-1)!).toBeGreaterThan(deadline - 300 - 150);
  });

  it('refuses a deadline sooner than one countdown, and a magic close stops the petting', async () => {
    // Prepare
    const device = new RecordingDevice();
    const watchdog = new DeviceWatchdog('/dev/watchdog', systemClock, {
      openDevice: async () => device,
      readCountdownMs: async () => 1000,
    });
    // Act & Assess
    await expect(watchdog.arm(systemClock.monotonicMs() + 500)).rejects.toThrow(/sooner than the device's countdown/);
    await watchdog.arm(systemClock.monotonicMs() + 5000);
    await watchdog.disarm();
    const written = device.writes.length;
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(device.writes.map((write) => write.data)).toEqual(['1', 'V']);
    expect(device.writes.length).toBe(written);
    expect(device.closed).toBe(true);
  });

  it("uses the device's own countdown, never the config's: a softdog left at 60 s is refused for a 2.8 s lease", async () => {
    // Prepare: a fake sysfs where watchdog0 (the legacy /dev/watchdog) counts 60 s, as softdog without soft_margin.
    const root = mkdtempSync(join(tmpdir(), 'pgf-sysfs-'));
    try {
      mkdirSync(join(root, 'class/watchdog/watchdog0'), { recursive: true });
      writeFileSync(join(root, 'class/watchdog/watchdog0/timeout'), '60\n');
      const device = new RecordingDevice();
      const watchdog = new DeviceWatchdog('/dev/watchdog', systemClock, {
        openDevice: async () => device,
        readCountdownMs: (path) => readWatchdogCountdownMs(path, root),
      });
      // Act & Assess: the lease's deadline is 2.7 s away; a 60 s countdown would reset the host 57 s too late.
      await expect(watchdog.countdownMs()).resolves.toBe(60_000);
      await expect(watchdog.arm(systemClock.monotonicMs() + 2700)).rejects.toThrow(
        /sooner than the device's countdown/,
      );
      expect(device.writes).toEqual([]);
      expect(watchdogCountdownProblem(60_000, 2800)).toMatch(/counts 60000 ms.*at most 2 s/);
      // Once the module counts 2 s, it fits and is petted.
      writeFileSync(join(root, 'class/watchdog/watchdog0/timeout'), '2\n');
      await watchdog.arm(systemClock.monotonicMs() + 2700);
      expect(device.pets().length).toBe(1);
      await watchdog.disarm();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses a device that counts other than the config says, and one whose countdown cannot be read', async () => {
    // Prepare
    const root = mkdtempSync(join(tmpdir(), 'pgf-sysfs-'));
    try {
      mkdirSync(join(root, 'class/watchdog/watchdog1'), { recursive: true });
      writeFileSync(join(root, 'class/watchdog/watchdog1/timeout'), '5\n');
      const read = (path: string) => readWatchdogCountdownMs(path, root);
      // Act & Assess
      const mismatched = new DeviceWatchdog('/dev/watchdog1', systemClock, {
        expectedTimeoutMs: 2000,
        readCountdownMs: read,
      });
      await expect(mismatched.countdownMs()).rejects.toThrow(
        /counts 5 s but watchdog.timeoutMs says 2000 ms: .*soft_margin=2/,
      );
      const unloaded = new DeviceWatchdog('/dev/watchdog', systemClock, { readCountdownMs: read });
      await expect(unloaded.countdownMs()).rejects.toThrow(
        /cannot read the countdown of \/dev\/watchdog from .*watchdog0\/timeout \(ENOENT\)/,
      );
      await expect(unloaded.arm(systemClock.monotonicMs() + 5000)).rejects.toThrow(/cannot read the countdown/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('finds the sysfs directory of /dev/watchdog, /dev/watchdogN and a udev symlink to one, and refuses other paths', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'pgf-dev-'));
    try {
      writeFileSync(join(dir, 'watchdog3'), '');
      symlinkSync(join(dir, 'watchdog3'), join(dir, 'watchdog-softdog'));
      // Act & Assess
      expect(await watchdogSysfsDir('/dev/watchdog', '/s')).toBe('/s/class/watchdog/watchdog0');
      expect(await watchdogSysfsDir('/dev/watchdog2', '/s')).toBe('/s/class/watchdog/watchdog2');
      expect(await watchdogSysfsDir(join(dir, 'watchdog-softdog'), '/s')).toBe('/s/class/watchdog/watchdog3');
      await expect(watchdogSysfsDir('/dev/null', '/s')).rejects.toThrow(/not a watchdog device node/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
