// Rejoin: a stopped database node (a fenced old primary, a broken standby) becomes a streaming standby of
// the current primary. pg_rewind first (it copies only what diverged, after running crash recovery on
// the old data); when the history cannot be rewound, or the rewound copy will not start, a fresh base
// backup. Used by `pgfailover rejoin` on a database host and by the local mode's heal; never run on the
// current primary (the callers check that against the cluster record first).

import { PgCtlStarter, type ServerStarter } from './server-starter.ts';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  clusterState,
  giveToServerUser,
  hasExited,
  isAlive,
  killServer,
  postmasterPid,
  runServerCommand,
  shutDownFast,
  writeStandbyFiles,
} from './server-control.ts';

/** The node's own configuration, which pg_rewind and pg_basebackup would replace by the source's. */
const OWN_FILES = ['postgresql.conf', 'postgresql.auto.conf', 'pg_hba.conf', 'pg_ident.conf'];

export interface RejoinSpec {
  dataDirectory: string;
  logFile: string;
  /** primary_conninfo of the standby it becomes. */
  followConninfo: string;
  /** libpq conninfo for pg_rewind's source: a role that may read the primary's files (docs/operations.md). */
  rewindConninfo: string;
  /** pg_basebackup's connection to the primary, as the replication role. */
  copyConninfo: string;
  /** Extra environment for pg_rewind (a password or passfile for the rewind role). */
  rewindEnv?: NodeJS.ProcessEnv;
  /** Extra environment for pg_basebackup (the replication role's passfile). */
  copyEnv?: NodeJS.ProcessEnv;
  /**
   * A just-promoted primary writes its new timeline to pg_control only at its next checkpoint; without one,
   * pg_rewind may see "the same timeline" and rewind nothing. The caller runs CHECKPOINT on the primary.
   */
  checkpointSource: () => Promise<void>;
  /**
   * Whether the source is still in recovery. A rejoin follows only a primary: one still being promoted has
   * not yet forked its new timeline, and pg_rewind would find "the same timeline" and rewind nothing.
   */
  sourceInRecovery: () => Promise<boolean>;
  /** The local mode's lab runs each server in its node's network namespace. */
  netns?: string;
  /** How long a rewound server may take to start before a fresh copy is made instead. */
  startWaitSeconds?: number;
  /** How the server is started (its systemd unit on a host); default pg_ctl on the data directory. */
  starter?: ServerStarter;
  /** postgresql.conf when it is not in the data directory (Debian): pg_rewind's --config-file. */
  configFile?: string;
}

/** Starts the server as the spec says and waits until it is up. */
function startAsSpecified(spec: RejoinSpec, waitSeconds?: number): Promise<void> {
  return (spec.starter ?? new PgCtlStarter(spec.dataDirectory, spec.logFile, spec.netns)).start(true, waitSeconds);
}

/** The source is still in recovery (being promoted): nothing was touched, and the rejoin may be tried again. */
export class SourceNotPrimaryError extends Error {
  constructor() {
    super('the source is still in recovery, not yet a primary: rejoin once it has been promoted');
    this.name = 'SourceNotPrimaryError';
  }
}

/** How the node rejoined; when a fresh copy was made, why pg_rewind could not be used (for the DBA). */
export type RejoinOutcome = { how: 'rewound' } | { how: 'recloned'; whyNotRewound: string };

/** "pg_rewind", or "a fresh base backup (pg_rewind could not: ...)": one wording for the CLI, agent and lab. */
export function describeRejoin(outcome: RejoinOutcome): string {
  return outcome.how === 'rewound'
    ? 'pg_rewind'
    : `a fresh base backup (pg_rewind could not: ${outcome.whyNotRewound})`;
}

function saveOwnFiles(dataDirectory: string): Map<string, string> {
  const saved = new Map<string, string>();
  for (const name of OWN_FILES) {
    const path = join(dataDirectory, name);
    if (existsSync(path)) saved.set(name, readFileSync(path, 'utf8'));
  }
  return saved;
}

async function restoreOwnFiles(dataDirectory: string, saved: Map<string, string>): Promise<void> {
  for (const [name, text] of saved) {
    const path = join(dataDirectory, name);
    // primary_conninfo is written afresh by writeStandbyFiles: drop the old one, whatever it pointed at.
    writeFileSync(path, name === 'postgresql.auto.conf' ? withoutPrimaryConninfo(text) : text);
    await giveToServerUser(path);
  }
}

function withoutPrimaryConninfo(text: string): string {
  return text
    .split('\n')
    .filter((line) => !/^\s*primary_conninfo\s*=/.test(line))
    .join('\n');
}

async function waitUntilStopped(dataDirectory: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pid = postmasterPid(dataDirectory);
    if (pid === undefined || !isAlive(pid)) return;
    if (Date.now() > deadline) throw new Error(`the old server in ${dataDirectory} (PID ${pid}) will not stop`);
    await sleep(50);
  }
}

export async function rejoinAsStandby(spec: RejoinSpec): Promise<RejoinOutcome> {
  const { dataDirectory } = spec;
  const running = postmasterPid(dataDirectory);
  // A killed postmaster nobody has reaped yet is dead but still holds its PID, and PostgreSQL (pg_rewind's
  // crash recovery included) will not start over it: wait, boundedly, for it to be reaped.
  if (running !== undefined && isAlive(running) && hasExited(running))
    await waitUntilStopped(dataDirectory, 15_000).catch(() => undefined);
  if (running !== undefined && isAlive(running))
    throw new Error(`the server in ${dataDirectory} is running (PID ${running}); stop it first`);
  // One rejoin at a time per data directory: the agent's automatic rejoin, `pgfailover rejoin` and
  // `local heal` may all reach for the same stopped server (seen: two base backups into one directory).
  const release = takeRejoinLock(dataDirectory);
  try {
    return await rejoinLocked(spec);
  } finally {
    release();
  }
}

const lockPath = (dataDirectory: string): string => `${dataDirectory.replace(/\/+$/, '')}.rejoin.lock`;

/** The PID of a live process holding the data directory's rejoin lock, if any (a dead holder's does not count). */
export function rejoinLockHolder(dataDirectory: string): number | undefined {
  let holder: number;
  try {
    holder = Number(readFileSync(lockPath(dataDirectory), 'utf8').trim());
  } catch {
    return undefined;
  }
  return Number.isInteger(holder) && holder > 0 && isAlive(holder) ? holder : undefined;
}

/** `${dataDirectory}.rejoin.lock` holds the PID of the process rejoining; a dead holder's lock is taken over. */
export function takeRejoinLock(dataDirectory: string): () => void {
  const lock = lockPath(dataDirectory);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      return () => rmSync(lock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = rejoinLockHolder(dataDirectory);
      if (holder !== undefined)
        throw new Error(`a rejoin of ${dataDirectory} is already under way (PID ${holder}); wait for it to finish`);
      rmSync(lock, { force: true });
    }
  }
  throw new Error(`could not take the rejoin lock ${lock}`);
}

async function rejoinLocked(spec: RejoinSpec): Promise<RejoinOutcome> {
  const { dataDirectory } = spec;
  if (await spec.sourceInRecovery()) throw new SourceNotPrimaryError();
  const own = saveOwnFiles(dataDirectory);
  try {
    if (!existsSync(join(dataDirectory, 'global', 'pg_control'))) throw new Error('nothing to rewind');
    await recoverCrashedStandby(spec);
    // Single-user crash recovery (run by pg_rewind) refuses standby mode: the signal goes back afterwards.
    rmSync(join(dataDirectory, 'standby.signal'), { force: true });
    await spec.checkpointSource().catch(() => undefined);
    await runServerCommand(
      'pg_rewind',
      [
        '--target-pgdata',
        dataDirectory,
        '--source-server',
        spec.rewindConninfo,
        ...(spec.configFile ? ['--config-file', spec.configFile] : []),
      ],
      spec.rewindEnv ?? {},
    );
    await restoreOwnFiles(dataDirectory, own);
    await writeStandbyFiles(dataDirectory, spec.followConninfo);
    // A rewound standby that cannot reach a consistent state soon will not: copy afresh instead.
    await startAsSpecified(spec, spec.startWaitSeconds ?? 20).catch((error: unknown) => {
      throw new Error(`the rewound server did not start: ${errorText(error)}`);
    });
    return { how: 'rewound' };
  } catch (error) {
    // Could not rewind (no common history, missing WAL, no wal_log_hints), or it would not start.
    killServer(dataDirectory);
    await waitUntilStopped(dataDirectory, 10_000);
    await copyAfresh(spec, own);
    return { how: 'recloned', whyNotRewound: errorText(error) };
  }
}

/**
 * A standby that crashed is recovered as a standby, from its own WAL, and stopped cleanly before pg_rewind
 * sees it. Otherwise pg_rewind's single-user crash recovery ends recovery as a primary would and writes a
 * checkpoint of its own onto the old timeline: behind the primary's fork point that record is a divergence
 * pg_rewind does not see ("no rewind required"), and the standby never streams again.
 */
async function recoverCrashedStandby(spec: RejoinSpec): Promise<void> {
  const { dataDirectory } = spec;
  if ((await clusterState(dataDirectory)) !== 'in archive recovery') return;
  // No primary_conninfo: it replays what it has and streams nothing while it is only being brought to rest.
  const autoConf = join(dataDirectory, 'postgresql.auto.conf');
  const before = existsSync(autoConf) ? readFileSync(autoConf, 'utf8') : undefined;
  if (before !== undefined) writeFileSync(autoConf, withoutPrimaryConninfo(before));
  await writeStandbyFiles(dataDirectory, null);
  try {
    await startAsSpecified(spec, spec.startWaitSeconds ?? 20);
    await shutDownFast(dataDirectory, 60_000);
  } finally {
    if (before !== undefined) writeFileSync(autoConf, before);
  }
}

function errorText(error: unknown): string {
  // pg_ctl and pg_rewind print several lines; the last ones say what went wrong.
  const text = (error instanceof Error ? error.message : String(error)).trim().split('\n').slice(-3).join(' / ');
  return text.length > 400 ? `...${text.slice(-400)}` : text;
}

/**
 * A fresh base backup in place of the old directory. The old one is moved aside in one step (the node's
 * agent may write into it meanwhile) and removed only once the copy has started; if the copy fails it is
 * put back, so a failed attempt never loses the node's data or its configuration.
 */
async function copyAfresh(spec: RejoinSpec, own: Map<string, string>): Promise<void> {
  const { dataDirectory } = spec;
  const aside = `${dataDirectory}.rejoin-${Date.now()}`;
  const hadDirectory = existsSync(dataDirectory);
  if (hadDirectory) renameSync(dataDirectory, aside);
  try {
    await runServerCommand(
      'pg_basebackup',
      ['-D', dataDirectory, '-d', spec.copyConninfo, '-X', 'stream', '-c', 'fast', '--no-password'],
      spec.copyEnv ?? {},
    );
    await restoreOwnFiles(dataDirectory, own);
    await writeStandbyFiles(dataDirectory, spec.followConninfo);
    await startAsSpecified(spec);
  } catch (error) {
    killServer(dataDirectory);
    rmSync(dataDirectory, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    if (hadDirectory) renameSync(aside, dataDirectory);
    throw error;
  }
  if (hadDirectory) rmSync(aside, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}
