// The local mode's stand-in for a host watchdog (softdog): a process of its own, apart from the agent,
// that kills the node's PostgreSQL (the postmaster and every child, as a host reset would) when the
// deadline the agent wrote passes without being renewed. It is what stops an isolated primary whose
// agent is frozen or dead. Usage: watchdog-process FILE DATA_DIR

import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../../core/clock.ts';
import { killServer } from '../../agent/server-control.ts';
import { readWatchdogFile, type WatchdogFile } from '../../agent/watchdog/file-watchdog.ts';
import { EXIT } from '../../core/exit-codes.ts';

/** How often the deadline is checked: the watchdog fires at most this late. */
const TICK_MS = 20;

const [file, dataDir] = process.argv.slice(2);
if (!file || !dataDir) {
  process.stderr.write('usage: watchdog-process FILE DATA_DIR\n');
  process.exit(EXIT.usage);
}

function log(message: string): void {
  process.stdout.write(`${new Date().toISOString()} watchdog: ${message}\n`);
}

function fire(reason: string): void {
  const victims = killServer(dataDir as string);
  log(
    victims.length
      ? `fired (${reason}): killed the server (pids ${victims.join(', ')})`
      : `fired (${reason}); no server running`,
  );
}

let stopping = false;
process.on('SIGTERM', () => (stopping = true));
process.on('SIGINT', () => (stopping = true));
log(`watching ${file} for ${dataDir}`);
let lastArmed = false;
// Fired once per deadline, as a reset would; the file is the agent's alone to write.
let firedFor: number | undefined;
// A read that meets a write half done (or the file not yet written) changes nothing: the last good record stands.
let state: WatchdogFile | undefined;
while (!stopping) {
  state = readWatchdogFile(file) ?? state;
  const now = systemClock.monotonicMs();
  if (state?.armed && now >= state.deadlineMonoMs && firedFor !== state.deadlineMonoMs) {
    firedFor = state.deadlineMonoMs;
    fire(
      `the deadline passed ${Math.round(now - state.deadlineMonoMs)} ms ago without renewal (armed by pid ${state.writer})`,
    );
  }
  if ((state?.armed ?? false) !== lastArmed) log(state?.armed ? 'armed' : 'disarmed');
  lastArmed = state?.armed ?? false;
  await sleep(TICK_MS);
}
log('stopped');
