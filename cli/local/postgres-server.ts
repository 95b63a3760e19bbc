// Real PostgreSQL servers for the local mode: initdb, base backups, start and stop through pg_ctl.
// PostgreSQL refuses to run as root, so when this process is root every server command runs as the
// `postgres` OS user (runuser) and the files it must own are handed to that user.

import { execFile } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { UsageError } from '../../core/errors.ts';

const run = promisify(execFile);

export const runsAsRoot = (): boolean => process.getuid?.() === 0;

/** The newest PostgreSQL installed the Debian way, or PGFAILOVER_PG_BIN. */
export function postgresBinDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PGFAILOVER_PG_BIN) return env.PGFAILOVER_PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => existsSync(join(root, name, 'bin', 'pg_ctl')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (!newest) {
    throw new Error('no PostgreSQL server found under /usr/lib/postgresql; install it (apt-get install postgresql-15) or set PGFAILOVER_PG_BIN to its bin directory');
  }
  return join(root, newest, 'bin');
}

interface PostgresUser {
  uid: number;
  gid: number;
}

let cachedUser: PostgresUser | undefined;
async function postgresUser(): Promise<PostgresUser> {
  if (cachedUser) return cachedUser;
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    cachedUser = { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
    return cachedUser;
  } catch {
    throw new Error('running as root, but there is no "postgres" OS user to run PostgreSQL as; install the postgresql package or run as an ordinary user');
  }
}

/** Runs a PostgreSQL program as the user that owns the servers; throws with its output on failure. */
export async function runServerCommand(program: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const binary = join(postgresBinDir(), program);
  const [command, commandArgs] = runsAsRoot() ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
  try {
    const { stdout } = await run(command, commandArgs, { env: { ...process.env, ...env }, timeout: 120_000 });
    return stdout;
  } catch (error) {
    const failure = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${program} ${args.join(' ')} failed: ${(failure.stderr || failure.stdout || failure.message).trim()}`);
  }
}

/** Hands a path to the server user (no-op unless root). */
export async function giveToServerUser(path: string): Promise<void> {
  if (!runsAsRoot()) return;
  const user = await postgresUser();
  chownSync(path, user.uid, user.gid);
}

/** Fails early, with the fix, when the server user cannot reach `dir`. */
export async function assertServerUserCanReach(dir: string): Promise<void> {
  if (!runsAsRoot()) return;
  try {
    await run('runuser', ['-u', 'postgres', '--', 'test', '-x', dir]);
  } catch {
    throw new UsageError(`the postgres OS user cannot reach ${dir}: PostgreSQL runs as that user because this process is root; choose a directory under /tmp, or make every parent directory traversable (chmod o+x)`);
  }
}

export interface ServerSettings {
  port: number;
  /** Extra postgresql.conf lines. */
  extra?: Record<string, string | number>;
}

/** Settings every local server gets: loopback only, TCP only, replication on. */
function baseSettings(port: number): Record<string, string | number> {
  return {
    listen_addresses: "'127.0.0.1'",
    port,
    // No Unix sockets: their path length limit would bite in deep temporary directories.
    unix_socket_directories: "''",
    wal_level: 'replica',
    max_wal_senders: 10,
    max_replication_slots: 10,
    hot_standby: 'on',
    // pg_rewind needs it to re-attach an old primary after a failover.
    wal_log_hints: 'on',
    wal_keep_size: "'256MB'",
    // Let a standby ask the primary for what it needs (feedback), and show lag in pg_stat_replication promptly.
    hot_standby_feedback: 'on',
    wal_receiver_status_interval: "'1s'",
    shared_buffers: "'32MB'",
    max_connections: 50,
    fsync: 'on',
  };
}

export function appendSettings(dataDir: string, settings: Record<string, string | number>): void {
  const lines = Object.entries(settings).map(([key, value]) => `${key} = ${value}`);
  const path = join(dataDir, 'postgresql.conf');
  writeFileSync(path, `${readFileSync(path, 'utf8')}\n# pgfailover local mode\n${lines.join('\n')}\n`);
}

const HBA = `# pgfailover local mode: TCP on loopback only, passwords (SCRAM) for every role
host    replication     replicator      127.0.0.1/32    scram-sha-256
host    all             all             127.0.0.1/32    scram-sha-256
`;

/** initdb a new primary with a password-protected superuser. */
export async function initPrimary(dataDir: string, superuserPasswordFile: string, port: number): Promise<void> {
  await runServerCommand('initdb', ['-D', dataDir, '-U', 'postgres', `--pwfile=${superuserPasswordFile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-instructions']);
  appendSettings(dataDir, baseSettings(port));
  writeFileSync(join(dataDir, 'pg_hba.conf'), HBA);
}

/** A streaming standby copied from a running primary, following it as `applicationName`. */
export async function cloneStandby(dataDir: string, primaryPort: number, port: number, applicationName: string, passfile: string): Promise<void> {
  await runServerCommand('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'replicator', '-D', dataDir, '-X', 'stream', '-c', 'fast', '-R', '--no-password'], {
    PGPASSFILE: passfile,
  });
  appendSettings(dataDir, { port });
  // -R wrote a primary_conninfo without our application_name; the last setting in the file wins.
  const autoConf = join(dataDir, 'postgresql.auto.conf');
  writeFileSync(
    autoConf,
    `${readFileSync(autoConf, 'utf8')}primary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=replicator passfile=''${passfile}'' application_name=${applicationName}'\n`,
  );
}

export async function startServer(dataDir: string, logFile: string): Promise<void> {
  await runServerCommand('pg_ctl', ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start']);
}

export async function stopServer(dataDir: string, mode: 'smart' | 'fast' | 'immediate' = 'fast'): Promise<void> {
  await runServerCommand('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
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
