// Real PostgreSQL servers for the local mode: initdb and base backups; pg_ctl control is shared with the
// agent (agent/server-control.ts).

import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runServerCommand, runsAsRoot, writeStandbyFiles } from '../../agent/server-control.ts';
import { UsageError } from '../../core/errors.ts';

export { giveToServerUser, postmasterPid, startServer, stopServer } from '../../agent/server-control.ts';

const run = promisify(execFile);

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

/** A streaming standby copied from a running primary (over `sourcePort`), following it at `followPort` as `applicationName`. */
export async function cloneStandby(dataDir: string, sourcePort: number, followPort: number, port: number, applicationName: string, passfile: string): Promise<void> {
  await runServerCommand('pg_basebackup', ['-h', '127.0.0.1', '-p', String(sourcePort), '-U', 'replicator', '-D', dataDir, '-X', 'stream', '-c', 'fast', '-R', '--no-password'], {
    PGPASSFILE: passfile,
  });
  appendSettings(dataDir, { port });
  // -R wrote a primary_conninfo without our application_name; the last setting in the file wins.
  await writeStandbyFiles(dataDir, `host=127.0.0.1 port=${followPort} user=replicator passfile=${passfile} application_name=${applicationName}`);
}
