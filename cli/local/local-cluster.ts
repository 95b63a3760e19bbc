// `pgfailover local up|status|down`: a whole cluster on this machine with real parts: PostgreSQL servers
// in streaming replication, dynalite as the state store, and one real agent process per node.
// Everything started is recorded in DIR/local.json as it starts, so `down` (or a failed `up`) can stop
// exactly those processes and nothing else.

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { monitoringRoleGrants } from '../../agent/monitoring-role.ts';
import { buildClusterStatus, type ClusterStatusReport } from '../../core/cluster-status.ts';
import { UsageError } from '../../core/errors.ts';
import { allowNode } from '../../core/membership.ts';
import { DEFAULT_CLUSTER_POLICY } from '../../core/records.ts';
import { StateStore } from '../../core/state-store.ts';
import {
  assertServerUserCanReach,
  cloneStandby,
  giveToServerUser,
  initPrimary,
  postmasterPid,
  startServer,
  stopServer,
} from './postgres-server.ts';
import { freePort, isAlive, nodeArgsFor, spawnDetached, stopProcess, waitFor } from './processes.ts';
import { superuserQuery } from './superuser-sql.ts';

const STATE_FILE = 'local.json';
const AGENT_BIN = fileURLToPath(new URL('../../bin/pgfailover-agent.js', import.meta.url));
const STORE_SERVER = fileURLToPath(new URL('./store-server.ts', import.meta.url));
const CONTROLLER = fileURLToPath(new URL('./controller.ts', import.meta.url));

const localNodeSchema = z.strictObject({
  name: z.string(),
  role: z.enum(['primary', 'standby', 'witness']),
  address: z.string(),
  /** The server's real port: only its own agent uses it. */
  port: z.number().int().positive().nullable(),
  /** The node's database as the rest of the cluster sees it (a link a drill can cut). */
  linkPort: z.number().int().positive().nullable(),
  /** The node's way to the state store (a link a drill can cut). */
  storeLinkPort: z.number().int().positive(),
  dataDir: z.string().nullable(),
  postmasterPid: z.number().int().positive().nullable(),
  agentPid: z.number().int().positive().nullable(),
  agentConfig: z.string(),
  agentLog: z.string(),
});
export type LocalNode = z.infer<typeof localNodeSchema>;

const localStateSchema = z.strictObject({
  version: z.literal(1),
  cluster: z.string(),
  table: z.string(),
  storeEndpoint: z.string(),
  storePid: z.number().int().positive().nullable(),
  /** The evaluator on a timer, with the address forwarder and the notification sinks. */
  controllerPid: z.number().int().positive().nullable(),
  /** The cluster's address: 127.0.0.1:addressPort always reaches the current primary. */
  addressPort: z.number().int().positive(),
  notificationsFile: z.string(),
  /** Drills write the names of isolated nodes here; the controller cuts their links. */
  linksFile: z.string(),
  webhookUrl: z.string().nullable(),
  createdAtMs: z.number().int(),
  stoppedAtMs: z.number().int().nullable(),
  nodes: z.array(localNodeSchema),
});
export type LocalClusterState = z.infer<typeof localStateSchema>;

export interface LocalUpOptions {
  dir: string;
  standbys: number;
  witness: boolean;
  cluster?: string;
  /** Also POST every notice to this URL. */
  webhookUrl?: string;
  /** Start without automatic failover (detection and notices only). */
  autoFailover?: boolean;
  /** A fencing hook for every database agent (EFM script.fence); non-zero aborts a failover. */
  fenceHook?: string;
  /** Synchronous replication: every commit waits for one standby (ANY 1), so no acknowledged write is lost. */
  synchronous?: boolean;
  onProgress?: (line: string) => void;
}

export function readLocalState(dir: string): LocalClusterState {
  const path = join(resolve(dir), STATE_FILE);
  if (!existsSync(path)) throw new UsageError(`${resolve(dir)} holds no local cluster (no ${STATE_FILE}); start one with: pgfailover local up --dir ${dir}`);
  const parsed = localStateSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new Error(`${path} is not a pgfailover local state file: ${parsed.error.message}`);
  return parsed.data;
}

function writeLocalState(dir: string, state: LocalClusterState): void {
  writeFileSync(join(dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

/** PIDs recorded in the state that are still running. */
export function livePids(state: LocalClusterState): number[] {
  const pids = [state.storePid, state.controllerPid, ...state.nodes.flatMap((node) => [node.agentPid, node.dataDir ? (postmasterPid(node.dataDir) ?? null) : null])];
  return pids.filter((pid): pid is number => pid !== null && isAlive(pid));
}

export function connectLocalStore(state: LocalClusterState): StateStore {
  return StateStore.connect({ table: state.table, endpoint: state.storeEndpoint, region: 'local' });
}

export async function localUp(options: LocalUpOptions): Promise<LocalClusterState> {
  const dir = resolve(options.dir);
  const progress = options.onProgress ?? (() => undefined);
  if (!Number.isInteger(options.standbys) || options.standbys < 1 || options.standbys > 8) {
    throw new UsageError(`--standbys must be a whole number from 1 to 8; got ${options.standbys}`);
  }
  if (existsSync(join(dir, STATE_FILE))) {
    const existing = readLocalState(dir);
    const running = livePids(existing);
    if (running.length > 0) {
      throw new UsageError(`a local cluster (${existing.cluster}) is already running from ${dir} (pids ${running.join(', ')}); nothing was changed. See it with: pgfailover local status --dir ${options.dir}, or stop it with: pgfailover local down --dir ${options.dir}`);
    }
    throw new UsageError(`${dir} holds a stopped local cluster from an earlier run; remove it with: pgfailover local down --dir ${options.dir} --purge, or choose another directory`);
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new UsageError(`${dir} is not empty; give local up an empty or new directory`);
  // The servers run as the postgres OS user when we are root: it must be able to enter DIR.
  if (existsSync(dir)) chmodSync(dir, 0o755);
  // Check before creating anything, so a refused directory leaves no trace.
  await assertServerUserCanReach(nearestExisting(dir));
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  await assertServerUserCanReach(dir);

  const cluster = options.cluster ?? 'local';
  const storePort = await freePort();
  const state: LocalClusterState = {
    version: 1,
    cluster,
    table: 'pgfailover',
    storeEndpoint: `http://127.0.0.1:${storePort}`,
    storePid: null,
    controllerPid: null,
    addressPort: await freePort(),
    notificationsFile: join(dir, 'notifications.jsonl'),
    linksFile: join(dir, 'links.json'),
    webhookUrl: options.webhookUrl ?? null,
    createdAtMs: Date.now(),
    stoppedAtMs: null,
    nodes: [],
  };
  writeLocalState(dir, state);
  try {
    await startLocalCluster(dir, state, storePort, options, progress);
    return state;
  } catch (error) {
    progress(`start-up failed (${error instanceof Error ? error.message : String(error)}); stopping what was started`);
    await stopLocalProcesses(dir, state);
    throw error;
  }
}

async function startLocalCluster(dir: string, state: LocalClusterState, storePort: number, options: LocalUpOptions, progress: (line: string) => void): Promise<void> {
  const save = () => writeLocalState(dir, state);
  const secretsDir = join(dir, 'secrets');
  mkdirSync(secretsDir, { mode: 0o700 });
  const secrets = { superuser: secret(), monitor: secret(), replicator: secret() };
  const superuserFile = writeSecret(join(secretsDir, 'superuser.password'), secrets.superuser);
  const monitorFile = writeSecret(join(secretsDir, 'monitor.password'), secrets.monitor);
  const passfile = writeSecret(join(secretsDir, 'replication.pgpass'), `127.0.0.1:*:*:replicator:${secrets.replicator}`);
  // The servers read these two as the postgres OS user; the agent's password stays with us.
  await giveToServerUser(secretsDir);
  await giveToServerUser(superuserFile);
  await giveToServerUser(passfile);

  progress(`state store: dynalite on ${state.storeEndpoint}`);
  state.storePid = spawnDetached(process.execPath, nodeArgsFor(STORE_SERVER, [String(storePort)]), join(dir, 'store.log'));
  save();
  const store = connectLocalStore(state);
  await waitFor('the state store to answer', () => store.createTableIfMissing().then(() => true), 30_000, 100);
  await store.initCluster(
    {
      cluster: state.cluster,
      policy: { ...DEFAULT_CLUSTER_POLICY, autoFailover: options.autoFailover ?? true },
      primaryNodeId: 'db1',
      address: { mode: 'local', value: `127.0.0.1:${state.addressPort}`, holderNodeId: null },
    },
    Date.now(),
  );

  const names = ['db1', ...Array.from({ length: options.standbys }, (_, index) => `db${index + 2}`)];
  for (const name of names) {
    const port = await freePort();
    const linkPort = await freePort();
    const nodeDir = join(dir, name);
    mkdirSync(nodeDir);
    await giveToServerUser(nodeDir);
    state.nodes.push({
      name,
      role: name === 'db1' ? 'primary' : 'standby',
      address: `127.0.0.1:${linkPort}`,
      port,
      linkPort,
      storeLinkPort: await freePort(),
      dataDir: join(nodeDir, 'data'),
      postmasterPid: null,
      agentPid: null,
      agentConfig: join(nodeDir, 'agent.json'),
      agentLog: join(nodeDir, 'agent.log'),
    });
  }
  if (options.witness) {
    state.nodes.push({
      name: 'witness',
      role: 'witness',
      address: 'witness.local',
      port: null,
      linkPort: null,
      storeLinkPort: await freePort(),
      dataDir: null,
      postmasterPid: null,
      agentPid: null,
      agentConfig: join(dir, 'witness-agent.json'),
      agentLog: join(dir, 'witness-agent.log'),
    });
  }
  writeFileSync(state.linksFile, `${JSON.stringify({ isolated: [] })}\n`);
  // The controller first: it carries the links between the nodes, and then runs the evaluator.
  progress(`controller: node links, the cluster address 127.0.0.1:${state.addressPort}, the evaluator every second`);
  state.controllerPid = spawnDetached(process.execPath, nodeArgsFor(CONTROLLER, [dir]), join(dir, 'controller.log'));
  save();

  for (const node of state.nodes) {
    if (!node.dataDir || !node.port) continue;
    const logFile = join(dir, node.name, 'postgres.log');
    if (node.role === 'primary') {
      progress(`${node.name}: initdb and start the primary on 127.0.0.1:${node.port}`);
      await initPrimary(node.dataDir, superuserFile, node.port);
      await startServer(node.dataDir, logFile);
      await createRoles(node.port, secrets);
    } else {
      const primary = state.nodes[0];
      if (!primary?.port) throw new Error('the primary must be set up before its standbys');
      progress(`${node.name}: base backup from db1 and start a streaming standby on 127.0.0.1:${node.port}`);
      // Copied over the real port; streams through the primary's link, so that a partition cuts it.
      await cloneStandby(node.dataDir, primary.port, primary.linkPort ?? primary.port, node.port, node.name, passfile);
      await startServer(node.dataDir, logFile);
    }
    node.postmasterPid = postmasterPid(node.dataDir) ?? null;
    save();
  }

  if (options.synchronous) {
    // Only now that the standbys stream (a commit would wait for them before). Every node carries the
    // setting, so a promoted standby keeps commits synchronous too.
    const names = state.nodes.filter((node) => node.dataDir).map((node) => node.name);
    for (const node of state.nodes) {
      if (!node.port) continue;
      await superuserSql(node.port, secrets.superuser, [`ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (${names.join(', ')})'`, 'SELECT pg_reload_conf()']);
    }
    progress(`synchronous replication: every commit waits for one of ${names.join(', ')}`);
  }

  await store.updateMembership(
    state.cluster,
    (membership) => state.nodes.reduce((current, node) => allowNode(current, { nodeId: node.name, address: node.address, role: node.role === 'witness' ? 'witness' : 'database' }), membership),
    Date.now(),
  );

  for (const node of state.nodes) {
    writeFileSync(
      node.agentConfig,
      `${JSON.stringify(
        {
          cluster: state.cluster,
          nodeId: node.name,
          role: node.role === 'witness' ? 'witness' : 'database',
          address: node.address,
          store: { table: state.table, endpoint: `http://127.0.0.1:${node.storeLinkPort}`, region: 'local' },
          ...(node.port && node.dataDir
            ? {
                database: { host: '127.0.0.1', port: node.port, dbname: 'postgres', user: 'pgfailover', passwordFile: monitorFile, sslmode: 'disable', dataDirectory: node.dataDir },
                replication: { user: 'replicator', passfile, sslmode: 'disable' },
                ...(options.fenceHook ? { hooks: { fence: options.fenceHook } } : {}),
              }
            : {}),
        },
        null,
        2,
      )}\n`,
    );
    node.agentPid = spawnDetached(process.execPath, [AGENT_BIN, '--config', node.agentConfig], node.agentLog);
    save();
  }
  progress(`agents started: ${state.nodes.map((node) => `${node.name} (pid ${node.agentPid})`).join(', ')}`);

  // Return once every agent has reported and the address is on the primary, so that `local status`
  // right after has something to show and clients can connect.
  await waitFor(
    'every agent to send its first heartbeat',
    async () => {
      for (const node of state.nodes) {
        if (node.agentPid && !isAlive(node.agentPid)) throw new Error(`the agent of ${node.name} exited; see ${node.agentLog}`);
      }
      if (state.controllerPid && !isAlive(state.controllerPid)) throw new Error(`the controller exited; see ${join(dir, 'controller.log')}`);
      const snapshot = await store.readSnapshot(state.cluster);
      const reported = state.nodes.every((node) => snapshot.heartbeats.some((heartbeat) => heartbeat.nodeId === node.name));
      return reported && snapshot.cluster.address.holderNodeId === 'db1' ? true : undefined;
    },
    30_000,
    200,
  );
}

async function superuserSql(port: number, password: string, statements: string[]): Promise<void> {
  for (const statement of statements) await superuserQuery(port, password, statement);
}

async function createRoles(port: number, secrets: { superuser: string; monitor: string; replicator: string }): Promise<void> {
  await superuserSql(port, secrets.superuser, [
    `CREATE ROLE replicator WITH LOGIN REPLICATION PASSWORD '${secrets.replicator}'`,
    `CREATE ROLE pgfailover WITH LOGIN PASSWORD '${secrets.monitor}'`,
    ...monitoringRoleGrants('pgfailover'),
  ]);
}

export interface LocalDownResult {
  stoppedPids: number[];
  purged: boolean;
}

export async function localDown(dir: string, options: { purge?: boolean } = {}): Promise<LocalDownResult> {
  const absolute = resolve(dir);
  const state = readLocalState(absolute);
  const stoppedPids = await stopLocalProcesses(absolute, state);
  const remaining = livePids(state);
  if (remaining.length > 0) throw new Error(`processes still running after local down: ${remaining.join(', ')}`);
  if (options.purge) rmSync(absolute, { recursive: true, force: true });
  return { stoppedPids, purged: options.purge === true };
}

/**
 * Stops the agents first (they mark themselves EXITED, through their links), then the controller (the
 * links: stopped earlier, a primary would find itself cut off and fence itself), the servers, the store.
 */
async function stopLocalProcesses(dir: string, state: LocalClusterState): Promise<number[]> {
  const stopped: number[] = [];
  await Promise.all(
    state.nodes.map(async (node) => {
      if (node.agentPid && isAlive(node.agentPid)) {
        await stopProcess(node.agentPid, 8000);
        stopped.push(node.agentPid);
      }
    }),
  );
  if (state.controllerPid && isAlive(state.controllerPid)) {
    await stopProcess(state.controllerPid);
    stopped.push(state.controllerPid);
  }
  await Promise.all(
    state.nodes.map(async (node) => {
      if (!node.dataDir) return;
      const pid = postmasterPid(node.dataDir);
      if (!pid || !isAlive(pid)) return;
      await stopServer(node.dataDir, 'fast').catch(() => stopProcess(pid, 10_000));
      stopped.push(pid);
    }),
  );
  if (state.storePid && isAlive(state.storePid)) {
    await stopProcess(state.storePid);
    stopped.push(state.storePid);
  }
  if (existsSync(join(dir, STATE_FILE))) writeLocalState(dir, { ...state, stoppedAtMs: Date.now() });
  return stopped;
}

export async function localStatus(dir: string): Promise<ClusterStatusReport> {
  const state = readLocalState(dir);
  if (state.storePid === null || !isAlive(state.storePid)) {
    throw new UsageError(`the local cluster in ${resolve(dir)} is not running (its state store is stopped); start a new one with: pgfailover local up --dir NEW_DIR`);
  }
  const store = connectLocalStore(state);
  return buildClusterStatus(await store.readSnapshot(state.cluster), Date.now());
}

function nearestExisting(path: string): string {
  let current = path;
  while (!existsSync(current) && dirname(current) !== current) current = dirname(current);
  return current;
}

function secret(): string {
  return randomBytes(18).toString('base64url');
}

function writeSecret(path: string, value: string): string {
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return path;
}
