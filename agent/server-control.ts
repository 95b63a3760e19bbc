// Controlling the local PostgreSQL server as its owner: pg_ctl start/stop, files in the data directory.
// PostgreSQL refuses to run as root, so when this process is root every server command runs as the
// server's OS user (runuser; `postgres` unless the layout says otherwise) and the files it must own are
// handed to that user.

import { execFile } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findBinDirectory } from '../core/postgres-layout.ts';
import { hostView } from './host-view.ts';

const run = promisify(execFile);

export const runsAsRoot = (): boolean => process.getuid?.() === 0;

/** What server commands need of this host's PostgreSQL (core/postgres-layout.ts resolves it from the config). */
export interface ServerLayout {
  binDirectory: string;
  osUser: string;
}

// One installation per host, set once by the agent at its start; the local mode and the CLI's tools, which
// run on a development machine, keep the detected default (Debian's layout, or PGFAILOVER_PG_BIN).
let hostLayout: ServerLayout | undefined;

export function useServerLayout(layout: ServerLayout): void {
  hostLayout = layout;
  cachedUser = undefined;
}

/** The layout's programs, or (the local mode, the CLI's tools) the newest installed, or PGFAILOVER_PG_BIN. */
export function postgresBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return hostLayout?.binDirectory ?? findBinDirectory(hostView(), undefined, env).value;
}

const serverUser = (): string => hostLayout?.osUser ?? 'postgres';

interface PostgresUser {
  uid: number;
  gid: number;
}

let cachedUser: PostgresUser | undefined;
async function postgresUser(): Promise<PostgresUser> {
  if (cachedUser) return cachedUser;
  const user = serverUser();
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', user]), run('id', ['-g', user])]);
    cachedUser = { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
    return cachedUser;
  } catch {
    throw new Error(
      `running as root, but there is no "${user}" OS user to run PostgreSQL as; set postgres.osUser in the agent config to the user that owns the data directory`,
    );
  }
}

/**
 * The environment without libpq's variables (PGPASSWORD, PGHOST, PGSSLMODE, ...): every server command
 * and local-mode process says what it means explicitly, and a variable set in the caller's shell (for
 * their own psql) must not change which server, user or password it uses.
 */
export function withoutLibpqEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(env).filter(([name]) => !/^PG/.test(name) || name.startsWith('PGFAILOVER_')),
  );
}

/**
 * The environment for server programs: no libpq variables, and no libfaketime. The local mode steps an
 * agent's wall clock through LD_PRELOAD; PostgreSQL must keep the real clock, and libfaketime's shared
 * semaphore, created by the agent's (root) process, cannot be opened by the postgres user: pg_ctl would
 * fail with "sem_open failed ... Permission denied".
 */
export function serverEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(withoutLibpqEnvironment(env)).filter(
      ([name]) => name !== 'LD_PRELOAD' && !name.startsWith('FAKETIME'),
    ),
  );
}

/**
 * Runs a PostgreSQL program as the user that owns the servers; throws with its output on failure. With
 * `netns` (the local mode's lab), it runs inside that network namespace, and so does a server it starts.
 */
export async function runServerCommand(
  program: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  netns?: string,
): Promise<string> {
  const binary = join(postgresBinDir(), program);
  const [asOwner, ownerArgs] = runsAsRoot() ? ['runuser', ['-u', serverUser(), '--', binary, ...args]] : [binary, args];
  const [command, commandArgs] = netns ? ['ip', ['netns', 'exec', netns, asOwner, ...ownerArgs]] : [asOwner, ownerArgs];
  try {
    const { stdout } = await run(command, commandArgs, {
      env: { ...serverEnvironment(process.env), ...env },
      timeout: 120_000,
    });
    return stdout;
  } catch (error) {
    const failure = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(
      `${program} ${args.join(' ')} failed: ${(failure.stderr || failure.stdout || failure.message).trim()}`,
    );
  }
}

/** Hands a path to the server user (no-op unless root). */
export async function giveToServerUser(path: string): Promise<void> {
  if (!runsAsRoot()) return;
  const user = await postgresUser();
  chownSync(path, user.uid, user.gid);
}

export async function startServer(dataDir: string, logFile: string, netns?: string, waitSeconds = 60): Promise<void> {
  await runServerCommand('pg_ctl', ['-D', dataDir, '-l', logFile, '-w', '-t', String(waitSeconds), 'start'], {}, netns);
}

/** Starts the server and returns at once (pg_ctl -W): its checks will see it come up, or not. */
export async function launchServer(dataDir: string, logFile: string): Promise<void> {
  await runServerCommand('pg_ctl', ['-D', dataDir, '-l', logFile, '-W', 'start']);
}

export async function stopServer(
  dataDir: string,
  mode: 'smart' | 'fast' | 'immediate' = 'fast',
  waitSeconds = 60,
): Promise<void> {
  await runServerCommand('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', String(waitSeconds), 'stop']);
}

/**
 * A fast shutdown by signal (SIGINT to the postmaster, as `pg_ctl stop -m fast` sends it): sessions end with
 * an error their clients receive at once, every byte of WAL goes to the connected standbys, a shutdown
 * checkpoint is written. Then a wait of up to `waitMs` for the postmaster to exit and remove postmaster.pid,
 * looked at every few ms: pg_ctl looks every 100 ms, and in a switchover every one of those is writes
 * unavailable. Throws when it has not exited by then. A server that is not running is no error.
 */
export async function shutDownFast(dataDir: string, waitMs: number): Promise<void> {
  const pid = postmasterPid(dataDir);
  if (pid === undefined) return;
  signalAll([pid], 'SIGINT');
  if (!(await within(waitMs, () => hasExited(pid) && !existsSync(join(dataDir, 'postmaster.pid')))))
    throw new Error(`the server in ${dataDir} (postmaster ${pid}) did not shut down within ${waitMs} ms`);
}

/**
 * An immediate shutdown by signal (SIGQUIT to the postmaster, as `pg_ctl stop -m immediate` sends it), then
 * a wait of up to `waitMs` for the postmaster to exit, looked at every few ms: pg_ctl itself looks only
 * every 100 ms, and a self-fence has FENCE_LEAD_MS − WATCHDOG_LEAD_MS (50 ms) before the watchdog fires.
 * True once it exited (it exits after its children).
 */
export async function quitServer(pid: number, waitMs: number): Promise<boolean> {
  signalAll([pid], 'SIGQUIT');
  return within(waitMs, () => hasExited(pid));
}

/** Whether `done` holds within `waitMs`, looked at every 3 ms (a stop by signal is waited for this closely). */
async function within(waitMs: number, done: () => boolean): Promise<boolean> {
  const deadline = performance.now() + waitMs;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 3));
  }
  return true;
}

/** The postmaster's PID from postmaster.pid, or undefined when the server is not running. */
export function postmasterPid(dataDir: string): number | undefined {
  try {
    const firstLine = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0];
    const pid = Number(firstLine);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Is process `pid` running (EPERM: it runs, as another user)? */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Has process `pid` stopped running, reaped or not? A killed postmaster stays signallable (isAlive) until
 * its parent reaps it; it can no longer write, so a fence need not wait for that (seen: a second per
 * failover where nothing reaped it promptly). PostgreSQL itself will not start again until it is reaped,
 * so anything that starts or rewinds the server keeps waiting on isAlive.
 */
export function hasExited(pid: number): boolean {
  return !isAlive(pid) || isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    // "pid (comm) S ...": the state follows the last ")", as comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    // No /proc (not Linux), or the process is gone between the two looks.
    return !existsSync('/proc/self/stat') ? false : !existsSync(`/proc/${pid}`);
  }
}

/** Sends `signal` to each of `pids` in turn; one already gone is no error. */
export function signalAll(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/** The postmaster and all its descendants, from /proc (children first found, then theirs). */
export function serverProcesses(postmaster: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(join('/proc', entry, 'stat'), 'utf8');
      // The command name may hold spaces and parentheses: the fields after the last ")" are fixed.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(entry), Number(fields[1]));
    } catch {
      // The process went away while we looked.
    }
  }
  const found = [postmaster];
  for (let index = 0; index < found.length; index++) {
    for (const [pid, parent] of parentOf) if (parent === found[index] && !found.includes(pid)) found.push(pid);
  }
  return found.filter((pid) => parentOf.has(pid));
}

/**
 * Kills the server at once, as a host reset would: SIGKILL to the postmaster (so it starts no new
 * backend) and to every child, which works on stopped (SIGSTOP) and hung processes too. Returns the pids.
 */
export function killServer(dataDir: string): number[] {
  const postmaster = postmasterPid(dataDir);
  if (postmaster === undefined) return [];
  const victims = serverProcesses(postmaster);
  signalAll(victims, 'SIGKILL');
  return victims;
}

/**
 * Makes the server come back as a standby of `primaryConninfo` whenever it next starts: standby.signal
 * plus primary_conninfo in postgresql.auto.conf (the last setting in the file wins). Written while the
 * server is stopped, this is what stops an old primary from ever returning writable.
 */
export async function writeStandbyFiles(dataDir: string, primaryConninfo: string | null): Promise<void> {
  const signal = join(dataDir, 'standby.signal');
  writeFileSync(signal, '');
  await giveToServerUser(signal);
  if (primaryConninfo !== null) {
    const autoConf = join(dataDir, 'postgresql.auto.conf');
    const before = existsSync(autoConf) ? readFileSync(autoConf, 'utf8') : '';
    writeFileSync(
      autoConf,
      `${before}${before.endsWith('\n') || before === '' ? '' : '\n'}primary_conninfo = '${primaryConninfo.replaceAll("'", "''")}'\n`,
    );
    await giveToServerUser(autoConf);
  }
}

export function hasStandbySignal(dataDir: string): boolean {
  return existsSync(join(dataDir, 'standby.signal'));
}

/** One field of pg_controldata's report on a stopped (or crashed) server's data directory. */
async function controlField(dataDir: string, label: string, pattern: string): Promise<string> {
  const output = await runServerCommand('pg_controldata', ['-D', dataDir], { LC_ALL: 'C', LANG: 'C' });
  const match = new RegExp(`^${label}:\\s+(${pattern})$`, 'm').exec(output);
  if (!match?.[1]) throw new Error(`pg_controldata printed no "${label}" for ${dataDir}`);
  return match[1];
}

/** Where a stopped server's last checkpoint is: after a clean stop, the end of everything it wrote. */
export function checkpointLocation(dataDir: string): Promise<string> {
  return controlField(dataDir, 'Latest checkpoint location', '[0-9A-F]+/[0-9A-F]+');
}

/**
 * The state pg_control records: "shut down", "shut down in recovery", "in production" (a primary that
 * crashed), "in archive recovery" (a standby that crashed), and a few rarer ones.
 */
export function clusterState(dataDir: string): Promise<string> {
  return controlField(dataDir, 'Database cluster state', '.+');
}
