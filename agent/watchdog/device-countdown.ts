// What the watchdog device really counts. The countdown is the device's own (softdog's soft_margin, a
// hardware timer's setting), not what the agent's config says: a softdog loaded without soft_margin counts
// 60 s, and a watchdog that fires a minute after the lease's end fences nothing in time. Linux publishes it
// in /sys/class/watchdog/watchdogN/timeout (seconds), the value WDIOC_GETTIMEOUT returns; Node has no
// ioctl, and reading sysfs needs no open of the device (opening it starts the countdown).

import { readFile, realpath } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** The sysfs directory of the device at `devicePath`: /dev/watchdogN is watchdogN; /dev/watchdog is watchdog0's. */
export async function watchdogSysfsDir(devicePath: string, sysfsRoot = '/sys'): Promise<string> {
  // A udev symlink (/dev/watchdog-softdog) names the real node.
  const real = await realpath(devicePath).catch(() => devicePath);
  const name = basename(real);
  // The kernel registers the legacy /dev/watchdog (misc 10:130) for the device with id 0 (watchdog_dev.c).
  const device = name === 'watchdog' ? 'watchdog0' : name;
  if (!/^watchdog\d+$/.test(device)) {
    throw new Error(`${devicePath} is not a watchdog device node (expected /dev/watchdog or /dev/watchdogN)`);
  }
  return join(sysfsRoot, 'class', 'watchdog', device);
}

/** The device's countdown in ms, read from sysfs; throws with what to do when it cannot be read. */
export async function readWatchdogCountdownMs(devicePath: string, sysfsRoot = '/sys'): Promise<number> {
  const dir = await watchdogSysfsDir(devicePath, sysfsRoot);
  const file = join(dir, 'timeout');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(
      `cannot read the countdown of ${devicePath} from ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)}): is the watchdog loaded (modprobe softdog soft_margin=2)?`,
    );
  }
  const seconds = Number(text.trim());
  if (!Number.isInteger(seconds) || seconds <= 0)
    throw new Error(`${file} holds "${text.trim()}", not a countdown in seconds`);
  return seconds * 1000;
}
