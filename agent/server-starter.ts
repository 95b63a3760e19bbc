// Starting the local server, the one thing the agent does to PostgreSQL that decides where the server runs.
// Under systemd it asks PostgreSQL's own unit (UnitStarter): the postmaster then lives in that unit's
// cgroup, not the agent's, so stopping or restarting the agent never takes the server with it, and the
// start passes the unit's boot gate like any other. Without a unit (a source build, the local mode) it runs
// pg_ctl (PgCtlStarter), pointed at the directory that holds postgresql.conf.

import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { launchServer, startServer } from './server-control.ts';

/** Where a server the agent starts with pg_ctl logs: beside its data directory. */
export function serverLogFile(dataDirectory: string): string {
  return join(dirname(dataDirectory), 'pgfailover-postgres.log');
}

export interface ServerStarter {
  readonly describe: string;
  /** Starts the stopped server; with `wait`, resolves once it is up (or throws), else at once. */
  start(wait: boolean, waitSeconds?: number): Promise<void>;
}

export class PgCtlStarter implements ServerStarter {
  readonly describe: string;

  constructor(
    /** The data directory, or the configuration directory where postgresql.conf lives elsewhere (pg_ctl -D). */
    private readonly directory: string,
    private readonly logFile: string,
    private readonly netns?: string,
  ) {
    this.describe = `pg_ctl -D ${directory}`;
  }

  async start(wait: boolean, waitSeconds = 60): Promise<void> {
    if (wait) await startServer(this.directory, this.logFile, this.netns, waitSeconds);
    else await launchServer(this.directory, this.logFile);
  }
}

export type TimedRunner = (command: string, args: string[], timeoutMs: number) => Promise<{ stdout: string }>;

const execFileAsync = promisify(execFile);
const runCommand: TimedRunner = (command, args, timeoutMs) => execFileAsync(command, args, { timeout: timeoutMs });

/** States in which `systemctl start` would do nothing: the unit has not yet seen the server it ran exit. */
const NOT_YET_DOWN = new Set(['active', 'deactivating', 'reloading']);

export class UnitStarter implements ServerStarter {
  readonly describe: string;

  constructor(
    private readonly unit: string,
    private readonly run: TimedRunner = runCommand,
    private readonly sleepMs: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {
    this.describe = `systemctl start ${unit}`;
  }

  async start(wait: boolean, waitSeconds = 60): Promise<void> {
    // The agent stopped the server by signal; until systemd has reaped it the unit reads active, and a start
    // would be a no-op that leaves the server down. Wait (briefly) for the unit to see it.
    for (let attempt = 0; ; attempt++) {
      const { stdout } = await this.run('systemctl', ['show', '--property=ActiveState', '--value', this.unit], 5000);
      if (!NOT_YET_DOWN.has(stdout.trim())) break;
      if (attempt >= 100) throw new Error(`${this.unit} is still ${stdout.trim()} although its server has stopped`);
      await this.sleepMs(50);
    }
    try {
      await this.run('systemctl', ['start', ...(wait ? [] : ['--no-block']), this.unit], (waitSeconds + 5) * 1000);
    } catch (error) {
      const failure = error as { stderr?: string; message: string };
      throw new Error(
        `systemctl start ${this.unit} failed: ${(failure.stderr || failure.message).trim()} (journalctl -u ${this.unit})`,
      );
    }
  }
}
