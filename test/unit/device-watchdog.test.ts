// The Linux watchdog adapter: the device takes only "pet" and "magic close", so the adapter pets it for as
// long as a whole countdown fits before the deadline it was armed with. Between renewals too: a store blip
// stops renewals, not the agent, and must not reset a host whose lease is still valid.

import { describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.ts';
import { DeviceWatchdog, type WatchdogDevice } from '../../agent/watchdog/device-watchdog.ts';
import { pollUntil } from '../support/poll.ts';

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
    const watchdog = new DeviceWatchdog('/dev/watchdog', 300, systemClock, async () => device);
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
    const watchdog = new DeviceWatchdog('/dev/watchdog', 1000, systemClock, async () => device);
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
});
