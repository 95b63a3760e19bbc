// pgfailover-agent: wiring only. Loads and checks the config, connects the store and the probe, runs
// the agent until SIGTERM/SIGINT, and then marks it exited in the store.

import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Command } from 'commander';
import { loadAgentConfig } from '../core/agent-config.ts';
import { systemClock } from '../core/clock.ts';
import { ConfigError } from '../core/errors.ts';
import { StateStore } from '../core/state-store.ts';
import { PGFAILOVER_VERSION } from '../core/version.ts';
import { dirname, join } from 'node:path';
import { Agent } from './agent.ts';
import { kernelBootId, LeaseFile } from './lease-file.ts';
import { ProgressFile } from './progress-file.ts';
import { SystemdReadiness } from './readiness.ts';
import { DeviceWatchdog } from './watchdog/device-watchdog.ts';
import { FileWatchdog } from './watchdog/file-watchdog.ts';
import { createNodeOps, replicationConninfo } from './node-ops.ts';
import { existsSync } from 'node:fs';
import type { AgentDeps } from './deps.ts';
import { readPeerKey } from './peer/peer-key.ts';
import { UdpChannel } from './peer/udp-channel.ts';
import { VouchFile } from './peer/vouch-file.ts';
import type { AgentConfig } from '../core/agent-config.ts';
import { describeLayout, LayoutError } from '../core/postgres-layout.ts';
import { sleepMs } from '../core/deadline.ts';
import { hasStandbySignal, writeStandbyFiles } from './server-control.ts';
import { wireServer } from './server-layout.ts';
import { runBootGate } from './boot-gate-command.ts';
import { callAws } from '../core/aws-errors.ts';
import { hostFacts } from './host-facts.ts';
import { readInstanceMetadata, type InstanceFacts } from './instance-metadata.ts';
import { resolvePassword } from './password.ts';
import { LEASE_REQUEST_TIMEOUT_MS } from '../core/lease-timing.ts';
import { EXIT } from '../core/exit-codes.ts';

const program = new Command()
  .name('pgfailover-agent')
  .description('Watches the local PostgreSQL server and reports heartbeats to the pgfailover state store')
  .version(PGFAILOVER_VERSION)
  .requiredOption('-c, --config <file>', 'agent configuration file (JSON; see docs/agent.md)')
  .option('--check-config', 'validate the configuration and exit (0 when valid)')
  .option(
    '--boot-gate',
    "PostgreSQL's ExecStartPre (install.sh's drop-in): wait until starting the server cannot make a second primary, then exit 0",
  )
  .showHelpAfterError();

program.parse();
const options = program.opts<{ config: string; checkConfig?: boolean; bootGate?: boolean }>();

try {
  if (options.bootGate && !existsSync(options.config)) {
    // Installed, not yet configured: this host is in no cluster, so nothing can have replaced its server.
    process.stdout.write(
      `pgfailover boot gate: no ${options.config}: not in a pgfailover cluster yet; PostgreSQL may start\n`,
    );
    process.exit(EXIT.ok);
  }
  const config = loadAgentConfig(options.config);
  if (options.bootGate) {
    const why = await bootGateMain(config);
    process.stdout.write(`pgfailover boot gate: PostgreSQL may start: ${why}\n`);
    process.exit(EXIT.ok);
  }
  const wiring = wireServer(config);
  const layout = wiring?.layout;
  const fetchSecret = async (secretId: string): Promise<string> => {
    // Loaded only for a password kept in Secrets Manager: the client costs an agent several MB it
    // otherwise never uses.
    const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
    const secrets = new SecretsManagerClient({ region: config.store.region ?? process.env.AWS_REGION });
    const secret = await callAws('secretsmanager:GetSecretValue', secretId, () =>
      secrets.send(new GetSecretValueCommand({ SecretId: secretId })),
    );
    secrets.destroy();
    return secret.SecretString ?? '';
  };
  const password = config.database
    ? await resolvePassword(config.database, options.config, { fetchSecret })
    : undefined;
  if (options.checkConfig) {
    const peerKey = config.peerLeases ? readPeerKey(config.peerLeases.keyFile) : undefined;
    if (peerKey && !peerKey.ok) throw new ConfigError(options.config, [peerKey.problem]);
    process.stdout.write(
      `${options.config}: valid (cluster ${config.cluster}, node ${config.nodeId}, role ${config.role})\n${
        layout
          ? describeLayout(layout)
              .map((line) => `  PostgreSQL: ${line}\n`)
              .join('')
          : ''
      }`,
    );
    process.exit(EXIT.ok);
  }
  const logger = new Logger({
    serviceName: 'pgfailover-agent',
    logLevel: config.logLevel,
    persistentKeys: { cluster: config.cluster, nodeId: config.nodeId },
  });
  const store = StateStore.connect({
    ...config.store,
    // A heartbeat or goal read that cannot be done within two intervals is retried by the agent's own loop;
    // never more than 4 s, as a busy agent (a failover under way) reads the goal on the same connections.
    requestTimeoutMs: Math.min(4000, Math.max(1000, config.heartbeatIntervalMs * 2)),
    maxAttempts: 2,
  });
  // Renewals on their own connection: one short attempt each, the next tick retries (agent.ts).
  const leaseStore = StateStore.connect({
    ...config.store,
    requestTimeoutMs: LEASE_REQUEST_TIMEOUT_MS,
    maxAttempts: 1,
  });
  if (layout) logger.info(`PostgreSQL: ${describeLayout(layout).join('; ')}`);
  let instance: InstanceFacts | undefined;
  if (config.aws.instanceMetadata) {
    try {
      instance = await readInstanceMetadata(config.aws.imdsEndpoint);
      logger.info('instance metadata read', { ...instance });
    } catch (error) {
      logger.warn(
        'instance metadata (IMDSv2) unavailable: using the ids in the config; the address movers need the ENI id',
        { error: String(error) },
      );
    }
  }
  const watchdog =
    config.watchdog?.kind === 'device'
      ? new DeviceWatchdog(config.watchdog.path, systemClock, { expectedTimeoutMs: config.watchdog.timeoutMs })
      : config.watchdog?.kind === 'file'
        ? new FileWatchdog(config.watchdog.path)
        : undefined;
  if (watchdog instanceof DeviceWatchdog) {
    // Said at start, not only at the first arm: a countdown that cannot fence is found before it is needed.
    await watchdog.countdownMs().then(
      (countdownMs) => logger.info(`watchdog ${config.watchdog?.path ?? ''} counts ${countdownMs} ms`),
      (error: unknown) =>
        logger.error('the watchdog cannot be used: this node reports itself unprotected', { error: String(error) }),
    );
  }
  const stateFile =
    config.stateFile ??
    (config.database?.dataDirectory
      ? join(dirname(config.database.dataDirectory), `pgfailover-${config.nodeId}.state.json`)
      : undefined);
  // Beside the state file: where the lease's end survives a restart of the agent within this boot.
  const bootOfKernel = kernelBootId();
  const leaseFile =
    stateFile && bootOfKernel
      ? new LeaseFile(besideStateFile(stateFile, 'lease'), bootOfKernel, (message) => logger.warn(message))
      : undefined;
  const peers = config.peerLeases ? await openPeers(config, stateFile, bootOfKernel, logger) : undefined;
  const agent = new Agent({
    config,
    store,
    leaseStore,
    ops: createNodeOps(config, password, undefined, wiring?.server),
    watchdog,
    ...(stateFile ? { progressStore: new ProgressFile(stateFile, (message) => logger.warn(message)) } : {}),
    ...(leaseFile ? { leaseMemory: leaseFile } : {}),
    clock: systemClock,
    logger,
    host: hostFacts(config, instance),
    bootId: randomUUID(),
    readiness: new SystemdReadiness(),
    ...(peers ? { peers } : {}),
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`received ${signal}; stopping`);
    void agent.stop().finally(() => process.exit(EXIT.ok));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  agent.start();
} catch (error) {
  if (error instanceof ConfigError || error instanceof LayoutError) {
    process.stderr.write(`pgfailover-agent: ${error.message}\n`);
    process.exit(EXIT.usage);
  }
  throw error;
}

/** A file kept beside the state file: pgfailover-db1.state.json -> pgfailover-db1.lease.json. */
function besideStateFile(stateFile: string, kind: 'lease' | 'vouch'): string {
  return stateFile.replace(/(\.state\.json)?$/, (end) => (end ? `.${kind}.json` : `.${kind}`));
}

/** Peer leases: the key, the listening socket and the vouch file, or a ConfigError that says what to fix. */
async function openPeers(
  config: AgentConfig,
  stateFile: string | undefined,
  bootId: string | undefined,
  logger: Logger,
): Promise<NonNullable<AgentDeps['peers']>> {
  const peerLeases = config.peerLeases as NonNullable<AgentConfig['peerLeases']>;
  const problems: string[] = [];
  const read = readPeerKey(peerLeases.keyFile);
  const key = read.ok ? read.key : '';
  if (!read.ok) problems.push(read.problem);
  if (!stateFile || !bootId)
    problems.push(
      'peerLeases: a member keeps its promises on disk; set stateFile (a witness has no data directory to put it beside)',
    );
  if (problems.length > 0) throw new ConfigError(options.config, problems);
  const memory = new VouchFile(besideStateFile(stateFile as string, 'vouch'), bootId as string, (message) =>
    logger.warn(message),
  );
  try {
    const channel = await UdpChannel.open({
      cluster: config.cluster,
      nodeId: config.nodeId,
      key,
      listen: peerLeases.listen,
      peers: peerLeases.peers,
      warn: (message) => logger.warn(message),
    });
    logger.info(`peer leases: listening on ${peerLeases.listen} (udp) for ${Object.keys(peerLeases.peers).join(', ')}`);
    return { channel, memory };
  } catch (error) {
    throw new ConfigError(options.config, [
      `peerLeases.listen: cannot listen on ${peerLeases.listen} (udp): ${(error as Error).message}`,
    ]);
  }
}

async function bootGateMain(config: AgentConfig): Promise<string> {
  const dataDirectory = config.database?.dataDirectory;
  if (config.role === 'database' && !dataDirectory)
    throw new ConfigError(options.config, [
      'database.dataDirectory: the boot gate needs it to tell a standby (standby.signal) from an old primary',
    ]);
  // Only the data directory's owner matters here (standby.signal is handed to it); a layout the agent would
  // refuse must not keep the server down, so the default user stands in.
  try {
    wireServer(config);
  } catch (error) {
    process.stderr.write(`pgfailover boot gate: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  const store = StateStore.connect(config.store);
  return runBootGate({
    config,
    readCluster: () => store.getCluster(config.cluster),
    readMembership: () => store.getMembership(config.cluster),
    markedStandby: () => hasStandbySignal(dataDirectory as string),
    markStandby: (conninfo) => writeStandbyFiles(dataDirectory as string, conninfo),
    conninfoFor: (address) => replicationConninfo(config, address),
    sleepMs,
    log: (line) => process.stderr.write(`pgfailover boot gate: ${line}\n`),
  });
}
