// The agent's hands on its own server: promote, repoint, fence, hooks, and the remote check of a peer.
// SQL goes through the agent's monitoring role (its grants are in agent/monitoring-role.ts); stopping
// the server and writing standby.signal need the data directory and run as the server's OS user.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { AgentConfig } from '../core/agent-config.ts';
import { parseNodeAddress } from '../core/node-address.ts';
import type { NodeOps } from './ports/node-ops.ts';
import {
  checkReachable,
  HeldConnection,
  probeDatabase,
  promoteServer,
  runStatements,
  watchConnection,
  type DatabaseTarget,
} from './database-probe.ts';
import { runHook } from './hooks.ts';
import { PgCtlStarter, serverLogFile, type ServerStarter } from './server-starter.ts';
import { rejoinAsStandby, rejoinLockHolder } from './rejoin.ts';
import {
  checkpointLocation,
  hasStandbySignal,
  hasExited,
  killServer,
  postmasterPid,
  quitServer,
  runServerCommand,
  shutDownFast,
  writeStandbyFiles,
} from './server-control.ts';

/** How long a fence waits for an immediate stop before killing the server's processes. */
const FENCE_STOP_WAIT_MS = 1000;
/** How long a switchover's clean stop may take (pg_ctl's default wait); past it the demotion fails and is reported. */
const DEMOTE_STOP_WAIT_MS = 60_000;

const execFileAsync = promisify(execFile);

/** Runs a host command (ip); injectable so tests can see the exact command without changing the host. */
export type CommandRunner = (command: string, args: string[]) => Promise<unknown>;

/** primary_conninfo for following the server at `address`, as this node's replication role. */
export function replicationConninfo(config: Pick<AgentConfig, 'nodeId' | 'replication'>, address: string): string {
  const { host, port } = parseNodeAddress(address);
  const parts = [
    `host=${host}`,
    `port=${port}`,
    `user=${config.replication.user}`,
    `application_name=${config.nodeId}`,
    `sslmode=${config.replication.sslmode}`,
    'connect_timeout=2',
  ];
  if (config.replication.passfile) parts.push(`passfile=${config.replication.passfile}`);
  return parts.join(' ');
}

export function createNodeOps(
  config: AgentConfig,
  password: string | undefined,
  run: CommandRunner = (command, args) => execFileAsync(command, args, { timeout: 10_000 }),
  /** How the server is started: its systemd unit on a host (main.ts), pg_ctl on the data directory by default. */
  server?: { starter: ServerStarter; configFile?: string | undefined },
): NodeOps {
  const database = config.database;
  const local: DatabaseTarget | undefined = database ? { ...database, password } : undefined;
  const dataDirectory = database?.dataDirectory;
  const requireLocal = (what: string): DatabaseTarget => {
    if (!local) throw new Error(`cannot ${what}: this agent has no database configured`);
    return local;
  };
  const starterFor = (directory: string): ServerStarter =>
    server?.starter ?? new PgCtlStarter(directory, serverLogFile(directory));
  const requireDataDirectory = (what: string): string => {
    if (!dataDirectory) throw new Error(`cannot ${what}: set database.dataDirectory in the agent config`);
    return dataDirectory;
  };
  const conninfoFor = (address: string): string => replicationConninfo(config, address);
  // The local server and the recorded primary are checked over held connections (database-probe.ts).
  const localChecks = local ? new HeldConnection(local) : undefined;
  let peerChecks: { address: string; connection: HeldConnection } | undefined;
  const peerConnection = (address: string, target: DatabaseTarget): HeldConnection => {
    if (peerChecks?.address !== address) {
      // The primary changed: the connection to the old one goes.
      peerChecks?.connection.close();
      peerChecks = { address, connection: new HeldConnection(target) };
    }
    return peerChecks.connection;
  };
  return {
    probe: localChecks ? (timeoutMs) => localChecks.probe(timeoutMs) : undefined,
    // A witness has no credentials to hold a connection with; its checks keep their period.
    watch: local
      ? (address, signal) =>
          watchConnection(
            address ? { ...local, ...parseNodeAddress(address) } : local,
            config.timeouts.remoteTimeoutMs,
            signal,
          )
      : undefined,
    checkPeer(address, timeoutMs) {
      const { host, port } = parseNodeAddress(address);
      // Credentials only matter for telling "refused" from "no answer". A witness has none: the server asking
      // it for a password is the answer (the client then gives up, so the server logs no failed login).
      const base = local ?? { dbname: 'postgres', user: 'pgfailover', password: '', sslmode: 'prefer' as const };
      const target = { ...base, host, port, password: base.password ?? '' };
      // Without credentials no session can be held: each check connects (and stops at the password).
      return local ? peerConnection(address, target).check(timeoutMs) : checkReachable(target, timeoutMs);
    },
    async probePeer(address, timeoutMs) {
      return probeDatabase({ ...requireLocal('read a peer'), ...parseNodeAddress(address) }, timeoutMs);
    },
    async promote() {
      // Resolves once the server accepts writes (up to 65 s, as pg_promote's own 60 s wait would).
      await promoteServer(requireLocal('promote'), 65_000);
    },
    async repoint(primaryConninfo) {
      const target = requireLocal('repoint');
      await runStatements(
        target,
        [`ALTER SYSTEM SET primary_conninfo = '${primaryConninfo.replaceAll("'", "''")}'`, 'SELECT pg_reload_conf()'],
        10_000,
      );
    },
    async fence(primaryConninfo) {
      const directory = requireDataDirectory('fence this node');
      // standby.signal first: if anything restarts the server from here on, it comes back a standby.
      await writeStandbyFiles(directory, primaryConninfo);
      // A crashed server leaves its postmaster.pid behind: nothing to stop (pg_ctl would only wait on it).
      const running = postmasterPid(directory);
      if (running === undefined || hasExited(running)) return;
      // An immediate stop takes milliseconds; a postmaster that is stopped (SIGSTOP) or hung ignores it,
      // so after a short wait every server process is killed. Both are retried until nothing is left.
      for (let attempt = 0; attempt < 5; attempt++) {
        if (await quitServer(running, FENCE_STOP_WAIT_MS)) return;
        const pid = postmasterPid(directory);
        if (pid === undefined || hasExited(pid)) return;
        killServer(directory);
        if (hasExited(pid)) return;
      }
      throw new Error(`the server in ${directory} is still running after being stopped and killed`);
    },
    runHook,
    conninfoFor,
    async demote(primaryConninfo, stopped) {
      const directory = requireDataDirectory('demote this node');
      await shutDownFast(directory, DEMOTE_STOP_WAIT_MS);
      const stoppedAt = await checkpointLocation(directory);
      await stopped(stoppedAt);
      await writeStandbyFiles(directory, primaryConninfo);
      // Not waited for: the switchover goes on once the stop position is reported, and the server,
      // standby.signal in place, can only come back as a standby; the agent's checks see it come up.
      await starterFor(directory).start(false);
      return stoppedAt;
    },
    async holdAddress(ip, hold) {
      const cidr = `${ip}/${config.aws.secondaryIpPrefixLength}`;
      const device = config.aws.secondaryIpDevice;
      // replace is idempotent; del of an address that is not there is not an error worth stopping for.
      if (hold) await run('ip', ['addr', 'replace', cidr, 'dev', device]);
      else await run('ip', ['addr', 'del', cidr, 'dev', device]).catch(() => undefined);
    },
    async rejoin(primaryAddress) {
      const directory = requireDataDirectory('rejoin');
      const { host, port } = parseNodeAddress(primaryAddress);
      const rewindConninfo = [
        `host=${host}`,
        `port=${port}`,
        `user=${config.rewind.user}`,
        'dbname=postgres',
        ...(config.rewind.passfile ? [`passfile=${config.rewind.passfile}`] : []),
      ].join(' ');
      return rejoinAsStandby({
        dataDirectory: directory,
        logFile: serverLogFile(directory),
        starter: starterFor(directory),
        ...(server?.configFile ? { configFile: server.configFile } : {}),
        followConninfo: conninfoFor(primaryAddress),
        rewindConninfo,
        copyConninfo: conninfoFor(primaryAddress),
        checkpointSource: () =>
          runServerCommand('psql', ['-X', '-q', '-d', rewindConninfo, '-c', 'CHECKPOINT']).then(() => undefined),
        sourceInRecovery: () =>
          runServerCommand('psql', [
            '-X',
            '-q',
            '-t',
            '-A',
            '-d',
            rewindConninfo,
            '-c',
            'SELECT pg_is_in_recovery()',
          ]).then((output) => output.trim() !== 'f'),
      });
    },
    markedStandby() {
      return dataDirectory ? hasStandbySignal(dataDirectory) : true;
    },
    rejoinUnderWay() {
      return dataDirectory ? rejoinLockHolder(dataDirectory) !== undefined : false;
    },
  };
}
