// What the local mode does to one node of a running cluster: start its agent (again, as systemd would), or
// bring its stopped database back as a standby.

import { describeRejoin, rejoinAsStandby, type RejoinOutcome } from '../../agent/rejoin.ts';
import { AGENT_ENVIRONMENT, AGENT_NODE_FLAGS } from '../../agent/runtime-flags.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../core/errors.ts';
import { withoutLibpqEnvironment } from '../../agent/server-control.ts';
import { postmasterPid } from './postgres-server.ts';
import { isAlive, spawnDetached } from './processes.ts';
import { superuserQuery } from './superuser-sql.ts';
import { inNetns } from './lab-network.ts';

import { readLocalState, sqlTarget, writeLocalState, type LocalNode } from './local-state.ts';

const AGENT_BIN = fileURLToPath(new URL('../../bin/pgfailover-agent.js', import.meta.url));
export const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
/** How long a rejoined (rewound) standby may take to accept connections before it is copied afresh. */
const REJOIN_START_WAIT_S = 20;

/** Starts a detached process, inside `netns` when given (ip netns exec execs it: the PID is the program's). */
export function spawnIn(
  netns: string | undefined,
  command: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv = withoutLibpqEnvironment(process.env),
): number {
  const [bin, binArgs] = netns ? inNetns(netns, command, args) : [command, args];
  return spawnDetached(bin, binArgs, logFile, env);
}

export function spawnAgent(node: LocalNode): number {
  const base = { ...withoutLibpqEnvironment(process.env), ...AGENT_ENVIRONMENT };
  const env = node.clockFile
    ? {
        ...base,
        LD_PRELOAD: LIBFAKETIME,
        FAKETIME_TIMESTAMP_FILE: node.clockFile,
        FAKETIME_DONT_FAKE_MONOTONIC: '1',
        FAKETIME_CACHE_DURATION: '1',
      }
    : base;
  // PGFAILOVER_LOCAL_AGENT runs another build of the agent (the benchmark measures the release bundle).
  return spawnIn(
    node.netns ?? undefined,
    process.execPath,
    [...AGENT_NODE_FLAGS, process.env.PGFAILOVER_LOCAL_AGENT || AGENT_BIN, '--config', node.agentConfig],
    node.agentLog,
    env,
  );
}

/** Starts a node's agent again (after a crash or a kill), as systemd would, and records its new PID. */
export function restartAgent(dir: string, name: string): number {
  const state = readLocalState(dir);
  const node = state.nodes.find((candidate) => candidate.name === name);
  if (!node) throw new UsageError(`no node ${name} in the local cluster in ${dir}`);
  if (node.agentPid && isAlive(node.agentPid)) return node.agentPid;
  node.agentPid = spawnAgent(node);
  writeLocalState(dir, state);
  return node.agentPid;
}

/**
 * Brings a stopped database node back as a standby of `primaryName` (EFM's resume after a failover, by
 * hand there): pg_rewind from the new primary (which runs crash recovery on the old data first), or,
 * when the history cannot be rewound, a fresh base backup; then it starts in its namespace.
 */
export async function rejoinNode(dir: string, name: string, primaryName: string): Promise<'running' | RejoinOutcome> {
  const state = readLocalState(dir);
  const node = state.nodes.find((candidate) => candidate.name === name);
  const primary = state.nodes.find((candidate) => candidate.name === primaryName);
  if (!node?.dataDir || !node.port || !primary?.dataDir || !primary.port)
    throw new UsageError(`rejoin needs two database nodes; got ${name} and ${primaryName}`);
  const running = postmasterPid(node.dataDir);
  if (running !== undefined && isAlive(running)) return 'running';
  const passfile = join(dir, 'secrets', 'replication.pgpass');
  const follow = primary.ip
    ? { host: primary.ip, port: primary.port }
    : { host: '127.0.0.1', port: primary.linkPort ?? primary.port };
  const conninfo = `host=${follow.host} port=${follow.port} user=replicator passfile=${passfile} application_name=${node.name}`;
  const source = sqlTarget(primary);
  const logFile = join(dir, node.name, 'postgres.log');
  const superuserPassword = readFileSync(join(dir, 'secrets', 'superuser.password'), 'utf8').trim();
  const how = await rejoinAsStandby({
    dataDirectory: node.dataDir,
    logFile,
    followConninfo: conninfo,
    rewindConninfo: `host=${source.host} port=${source.port} user=postgres dbname=postgres`,
    copyConninfo: `host=${source.host} port=${source.port} user=replicator application_name=${node.name}`,
    rewindEnv: { PGPASSWORD: superuserPassword },
    // PGPASSWORD would win over the passfile: the replication role's password is only in the passfile.
    copyEnv: { PGPASSFILE: passfile, PGPASSWORD: undefined },
    checkpointSource: () => superuserQuery(source, superuserPassword, 'CHECKPOINT').then(() => undefined),
    sourceInRecovery: () =>
      superuserQuery<{ recovery: boolean }>(source, superuserPassword, 'SELECT pg_is_in_recovery() AS recovery').then(
        (rows) => rows[0]?.recovery !== false,
      ),
    ...(node.netns ? { netns: node.netns } : {}),
    startWaitSeconds: REJOIN_START_WAIT_S,
  });
  node.postmasterPid = postmasterPid(node.dataDir) ?? null;
  writeLocalState(dir, state);
  return how;
}

/** rejoinNode as a line for the operator: "already running", "by pg_rewind", "by a fresh ...", or "failed: ...". */
export function rejoinNodeSaying(dir: string, name: string, primaryName: string): Promise<string> {
  return rejoinNode(dir, name, primaryName).then(
    (outcome) => (outcome === 'running' ? 'already running' : `by ${describeRejoin(outcome)}`),
    (error: unknown) => `failed: ${String(error)}`,
  );
}
