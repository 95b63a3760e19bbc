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
    throw new UsageError(
      `the postgres OS user cannot reach ${dir}: PostgreSQL runs as that user because this process is root; choose a directory under /tmp, or make every parent directory traversable (chmod o+x)`,
    );
  }
}

export interface ServerSettings {
  port: number;
  /** Extra postgresql.conf lines. */
  extra?: Record<string, string | number>;
}

/** Where a server listens: loopback only and TCP only, or (in the lab) every address of its namespace plus a socket. */
export interface Listen {
  port: number;
  /** The lab: listen on the namespace's addresses (its own IP, and the cluster address when it holds it). */
  everyAddress?: boolean;
  /** The lab: the Unix socket directory through which tools outside the namespace reach the server. */
  socketDir?: string;
}

/** Settings every local server gets: replication on, and where it listens. */
function baseSettings(listen: Listen): Record<string, string | number> {
  return {
    listen_addresses: listen.everyAddress ? "'*'" : "'127.0.0.1'",
    port: listen.port,
    // Without the lab, no Unix sockets: their path length limit would bite in deep temporary directories.
    unix_socket_directories: listen.socketDir ? `'${listen.socketDir}'` : "''",
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
    // Room for the lab's own superuser tools (the writable sampler, the drills) when another role fills every
    // ordinary slot: a connection storm must not blind the checks that judge the cluster.
    superuser_reserved_connections: 10,
    fsync: 'on',
  };
}

export function appendSettings(dataDir: string, settings: Record<string, string | number>): void {
  const lines = Object.entries(settings).map(([key, value]) => `${key} = ${value}`);
  const path = join(dataDir, 'postgresql.conf');
  writeFileSync(path, `${readFileSync(path, 'utf8')}\n# pgfailover local mode\n${lines.join('\n')}\n`);
}

const HBA = `# pgfailover local mode: loopback, the lab's own network (198.18.0.0/15) and the socket; passwords (SCRAM) for every role
local   replication     replicator                      scram-sha-256
local   all             all                             scram-sha-256
host    replication     replicator      127.0.0.1/32    scram-sha-256
host    all             all             127.0.0.1/32    scram-sha-256
host    replication     replicator      198.18.0.0/15   scram-sha-256
host    all             all             198.18.0.0/15   scram-sha-256
`;

/** initdb a new primary with a password-protected superuser. */
export async function initPrimary(dataDir: string, superuserPasswordFile: string, listen: Listen): Promise<void> {
  await runServerCommand('initdb', [
    '-D',
    dataDir,
    '-U',
    'postgres',
    `--pwfile=${superuserPasswordFile}`,
    '--auth=scram-sha-256',
    '--encoding=UTF8',
    '--no-instructions',
  ]);
  appendSettings(dataDir, baseSettings(listen));
  writeFileSync(join(dataDir, 'pg_hba.conf'), HBA);
}

/**
 * A streaming standby copied from a running primary (reached at `source`: a host or socket directory and
 * port), following it at `follow` as `applicationName`, listening as `listen` says.
 */
export async function cloneStandby(
  dataDir: string,
  source: { host: string; port: number },
  follow: { host: string; port: number },
  listen: Listen,
  applicationName: string,
  passfile: string,
): Promise<void> {
  // PGPASSWORD would win over the passfile in pg_basebackup and in nothing else: never inherit it.
  await runServerCommand(
    'pg_basebackup',
    [
      '-h',
      source.host,
      '-p',
      String(source.port),
      '-U',
      'replicator',
      '-D',
      dataDir,
      '-X',
      'stream',
      '-c',
      'fast',
      '-R',
      '--no-password',
    ],
    {
      PGPASSFILE: passfile,
      PGPASSWORD: undefined,
    },
  );
  appendSettings(dataDir, baseSettings(listen));
  // -R wrote a primary_conninfo without our application_name; the last setting in the file wins.
  await writeStandbyFiles(
    dataDir,
    `host=${follow.host} port=${follow.port} user=replicator passfile=${passfile} application_name=${applicationName}`,
  );
}
