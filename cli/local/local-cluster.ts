// `pgfailover local up|status|down|clean`: a whole cluster on this machine with real parts: PostgreSQL
// servers in streaming replication, dynalite as the state store, one real agent process (and a watchdog
// stand-in) per node, the evaluator on a timer. Everything started is recorded in DIR/local.json as it
// starts, so `down` (or a failed `up`) can stop exactly those processes and remove exactly those
// namespaces, and nothing else.
//
// Two networks: the lab (root on Linux; cli/local/lab-network.ts), where every node has a network
// namespace and an IP of its own and faults are real dropped packets; and the loopback fallback, where
// the controller's TCP forwarders stand in for links and the cluster address (and cuts close sockets).

import { describeRejoin, rejoinAsStandby, type RejoinOutcome } from '../../agent/rejoin.ts';
import { AGENT_ENVIRONMENT, AGENT_NODE_FLAGS } from '../../agent/runtime-flags.ts';
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
import { withoutLibpqEnvironment } from '../../agent/server-control.ts';
import { BUSY_PERIOD_MS, EVALUATION_PERIOD_MS } from '../../lambdas/evaluator/evaluator.ts';
import {
  assertServerUserCanReach,
  cloneStandby,
  giveToServerUser,
  initPrimary,
  postmasterPid,
  startServer,
  stopServer,
} from './postgres-server.ts';
import { freePort, GiveUp, isAlive, logTail, nodeArgsFor, spawnDetached, stopProcess, waitFor } from './processes.ts';
import { superuserQuery, type SqlTarget } from './superuser-sql.ts';
import {
  createLab,
  destroyLab,
  HOST_DEVICE,
  inNetns,
  labUnavailable,
  listLabNamespaces,
  newLabId,
  pidsInNetns,
  planLab,
  type LabPlan,
} from './lab-network.ts';

const STATE_FILE = 'local.json';
const AGENT_BIN = fileURLToPath(new URL('../../bin/pgfailover-agent.js', import.meta.url));
const STORE_SERVER = fileURLToPath(new URL('./store-server.ts', import.meta.url));
const CONTROLLER = fileURLToPath(new URL('./controller.ts', import.meta.url));
const WATCHDOG = fileURLToPath(new URL('./watchdog-process.ts', import.meta.url));

const localNodeSchema = z.strictObject({
  name: z.string(),
  role: z.enum(['primary', 'standby', 'witness']),
  address: z.string(),
  /** The server's real port: only its own agent uses it (5432 inside the lab, where each node has its own IP). */
  port: z.number().int().positive().nullable(),
  /** Loopback network: the node's database as the rest of the cluster sees it (a link a drill can cut). */
  linkPort: z.number().int().positive().nullable(),
  /** Loopback network: the node's way to the state store (a link a drill can cut). */
  storeLinkPort: z.number().int().positive().nullable(),
  /** Lab: the node's network namespace and its IP there. */
  netns: z.string().nullable().default(null),
  ip: z.string().nullable().default(null),
  /** Lab: the server's Unix socket directory, how tools outside the lab reach it. */
  socketDir: z.string().nullable().default(null),
  /** Lab: libfaketime's control file for this node's agent (its wall clock can be stepped). */
  clockFile: z.string().nullable().default(null),
  dataDir: z.string().nullable(),
  postmasterPid: z.number().int().positive().nullable(),
  agentPid: z.number().int().positive().nullable(),
  /** The stand-in for the host's watchdog (database nodes): kills the server when the agent stops renewing it. */
  watchdogPid: z.number().int().positive().nullable().default(null),
  watchdogFile: z.string().nullable().default(null),
  agentConfig: z.string(),
  agentLog: z.string(),
});
export type LocalNode = z.infer<typeof localNodeSchema>;

const localStateSchema = z.strictObject({
  version: z.literal(1),
  cluster: z.string(),
  table: z.string(),
  /** How tools on this host reach the store: http://127.0.0.1:PORT, or unix:///DIR/store.sock in the lab. */
  storeEndpoint: z.string(),
  storePid: z.number().int().positive().nullable(),
  network: z.enum(['lab', 'loopback']).default('loopback'),
  lab: z
    .strictObject({
      id: z.string(),
      routerNetns: z.string(),
      awsNetns: z.string(),
      awsIp: z.string(),
      appNetns: z.string(),
      /** The cluster address: a real IP in the lab that the router sends to the current primary. */
      address: z.string(),
      /** Every namespace made, recorded as it was made, so that down removes exactly these. */
      namespaces: z.array(z.string()),
    })
    .nullable()
    .default(null),
  /** The evaluator on a timer, with the address forwarder and the notification sinks. */
  controllerPid: z.number().int().positive().nullable(),
  /** Loopback network: 127.0.0.1:addressPort always reaches the current primary (the lab uses lab.address:5432). */
  addressPort: z.number().int().positive().nullable(),
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
  /** Agents rejoin a stopped old primary as a standby themselves. */
  autoRejoin?: boolean;
  /** A fencing hook for every database agent (EFM script.fence); non-zero aborts a failover. */
  fenceHook?: string;
  /** Synchronous replication: every commit waits for one standby (ANY 1), so no acknowledged write is lost. */
  synchronous?: boolean;
  /** lab: namespaces (root on Linux; the default there); loopback: TCP forwarders on 127.0.0.1. */
  network?: 'lab' | 'loopback';
  /** The cluster's fencing policy (default watchdog: a watchdog process per node; ec2-stop needs the lab). */
  fencing?: 'agent' | 'watchdog' | 'ec2-stop';
  onProgress?: (line: string) => void;
}

export function readLocalState(dir: string): LocalClusterState {
  const path = join(resolve(dir), STATE_FILE);
  if (!existsSync(path))
    throw new UsageError(
      `${resolve(dir)} holds no local cluster (no ${STATE_FILE}); start one with: pgfailover local up --dir ${dir}`,
    );
  const parsed = localStateSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new Error(`${path} is not a pgfailover local state file: ${parsed.error.message}`);
  return parsed.data;
}

function writeLocalState(dir: string, state: LocalClusterState): void {
  writeFileSync(join(dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

/** PIDs recorded in the state that are still running. */
export function livePids(state: LocalClusterState): number[] {
  const pids = [
    state.storePid,
    state.controllerPid,
    ...state.nodes.flatMap((node) => [
      node.agentPid,
      node.watchdogPid,
      node.dataDir ? (postmasterPid(node.dataDir) ?? null) : null,
    ]),
  ];
  return pids.filter((pid): pid is number => pid !== null && isAlive(pid));
}

export function connectLocalStore(state: LocalClusterState): StateStore {
  return StateStore.connect({ table: state.table, endpoint: state.storeEndpoint, region: 'local' });
}

/** How this process reaches a node's server: its socket in the lab, TCP on loopback otherwise. */
export function sqlTarget(node: LocalNode): SqlTarget {
  if (!node.port) throw new Error(`${node.name} has no database`);
  return { host: node.socketDir ?? '127.0.0.1', port: node.port };
}

/** The address clients use, as "host:port". */
export function clusterAddress(state: LocalClusterState): string {
  return state.lab ? `${state.lab.address}:${LAB_PG_PORT}` : `127.0.0.1:${state.addressPort ?? 0}`;
}

const LAB_PG_PORT = 5432;
/** How long a rejoined (rewound) standby may take to accept connections before it is copied afresh. */
const REJOIN_START_WAIT_S = 20;
const LAB_STORE_PORT = 8000;
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
/** Unix socket paths are limited to 107 bytes; PostgreSQL adds "/.s.PGSQL.5432". */
const MAX_SOCKET_DIR = 90;

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
      throw new UsageError(
        `a local cluster (${existing.cluster}) is already running from ${dir} (pids ${running.join(', ')}); nothing was changed. See it with: pgfailover local status --dir ${options.dir}, or stop it with: pgfailover local down --dir ${options.dir}`,
      );
    }
    throw new UsageError(
      `${dir} holds a stopped local cluster from an earlier run; remove it with: pgfailover local down --dir ${options.dir} --purge, or choose another directory`,
    );
  }
  if (existsSync(dir) && readdirSync(dir).length > 0)
    throw new UsageError(`${dir} is not empty; give local up an empty or new directory`);
  let network = options.network;
  const unavailable = network === 'loopback' ? undefined : await labUnavailable();
  if (network === 'lab' && unavailable)
    throw new UsageError(`the network lab cannot be built here: ${unavailable}; use --network loopback`);
  network ??= unavailable ? 'loopback' : 'lab';
  if (unavailable && network === 'loopback' && options.network === undefined) {
    progress(`network: loopback forwarders (${unavailable}); faults there close connections rather than drop packets`);
  }
  if (options.fencing === 'ec2-stop' && network !== 'lab')
    throw new UsageError(
      '--fencing ec2-stop needs the network lab: its stand-in stops a node by ending everything in its namespace',
    );
  if (network === 'lab' && join(dir, 'db1').length > MAX_SOCKET_DIR) {
    throw new UsageError(
      `${dir} is too long a path for PostgreSQL's Unix sockets in the lab (at most ${MAX_SOCKET_DIR - 4} characters); choose a shorter directory`,
    );
  }
  // The servers run as the postgres OS user when we are root: it must be able to enter DIR.
  if (existsSync(dir)) chmodSync(dir, 0o755);
  // Check before creating anything, so a refused directory leaves no trace.
  await assertServerUserCanReach(nearestExisting(dir));
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  await assertServerUserCanReach(dir);

  const cluster = options.cluster ?? 'local';
  const storePort = network === 'lab' ? LAB_STORE_PORT : await freePort();
  const labId = newLabId();
  const names = [
    'db1',
    ...Array.from({ length: options.standbys }, (_, index) => `db${index + 2}`),
    ...(options.witness ? ['witness'] : []),
  ];
  const plan = network === 'lab' ? planLab(labId, names) : undefined;
  const state: LocalClusterState = {
    version: 1,
    cluster,
    table: 'pgfailover',
    storeEndpoint: plan ? `unix://${join(dir, 'store.sock')}` : `http://127.0.0.1:${storePort}`,
    storePid: null,
    network,
    lab: plan
      ? {
          id: plan.id,
          routerNetns: plan.routerNetns,
          awsNetns: plan.aws.netns,
          awsIp: plan.aws.ip,
          appNetns: plan.app.netns,
          address: plan.address,
          namespaces: [],
        }
      : null,
    controllerPid: null,
    addressPort: plan ? null : await freePort(),
    notificationsFile: join(dir, 'notifications.jsonl'),
    linksFile: join(dir, 'links.json'),
    webhookUrl: options.webhookUrl ?? null,
    createdAtMs: Date.now(),
    stoppedAtMs: null,
    nodes: [],
  };
  writeLocalState(dir, state);
  try {
    if (plan) {
      progress(
        `network lab ${plan.id}: a namespace per node, the store and evaluator in ${plan.aws.netns}, clients in ${plan.app.netns}, cluster address ${plan.address}`,
      );
      await createLab(plan, (netns) => {
        state.lab?.namespaces.push(netns);
        writeLocalState(dir, state);
      });
    }
    await startLocalCluster(dir, state, storePort, options, plan, progress);
    return state;
  } catch (error) {
    progress(`start-up failed (${error instanceof Error ? error.message : String(error)}); stopping what was started`);
    await stopLocalProcesses(dir, state);
    if (state.lab) await destroyLab(state.lab.namespaces);
    throw error;
  }
}

async function startLocalCluster(
  dir: string,
  state: LocalClusterState,
  storePort: number,
  options: LocalUpOptions,
  plan: LabPlan | undefined,
  progress: (line: string) => void,
): Promise<void> {
  const save = () => writeLocalState(dir, state);
  const hostOf = (name: string) => plan?.nodes.find((host) => host.name === name);
  const secretsDir = join(dir, 'secrets');
  mkdirSync(secretsDir, { mode: 0o700 });
  const secrets = { superuser: secret(), monitor: secret(), replicator: secret() };
  const superuserFile = writeSecret(join(secretsDir, 'superuser.password'), secrets.superuser);
  const monitorFile = writeSecret(join(secretsDir, 'monitor.password'), secrets.monitor);
  const passfile = writeSecret(
    join(secretsDir, 'replication.pgpass'),
    `${plan ? '*' : '127.0.0.1'}:*:*:replicator:${secrets.replicator}`,
  );
  // pgfailover rejoin: pg_rewind reads the new primary's files as the superuser.
  const rewindPassfile = writeSecret(
    join(secretsDir, 'superuser.pgpass'),
    `${plan ? '*' : '127.0.0.1'}:*:*:postgres:${secrets.superuser}`,
  );
  // The servers read these as the postgres OS user; the agent's password stays with us.
  await giveToServerUser(secretsDir);
  await giveToServerUser(superuserFile);
  await giveToServerUser(passfile);
  await giveToServerUser(rewindPassfile);

  // The store: on loopback, or on the lab's "AWS side", with a socket for tools on this host.
  const counts = join(dir, 'store-requests.json');
  const storeArgs = plan
    ? [String(storePort), plan.aws.ip, join(dir, 'store.sock'), counts]
    : [String(storePort), '127.0.0.1', '', counts];
  progress(
    `state store: dynalite on ${plan ? `${plan.aws.ip}:${storePort} (${plan.aws.netns})` : state.storeEndpoint}`,
  );
  state.storePid = spawnIn(
    plan?.aws.netns,
    process.execPath,
    nodeArgsFor(STORE_SERVER, storeArgs),
    join(dir, 'store.log'),
  );
  save();
  const store = connectLocalStore(state);
  await waitFor('the state store to answer', () => store.createTableIfMissing().then(() => true), 30_000, 100);
  await store.initCluster(
    {
      cluster: state.cluster,
      // By default every database node has a watchdog stand-in, so a frozen or dead agent cannot leave a
      // primary behind; with ec2-stop the evaluator stops the node's "instance" instead.
      policy: {
        ...DEFAULT_CLUSTER_POLICY,
        autoFailover: options.autoFailover ?? true,
        autoRejoin: options.autoRejoin ?? false,
        fencing: options.fencing ?? 'watchdog',
      },
      primaryNodeId: 'db1',
      // In the lab the address is a secondary IP, moved by the router and brought up by the agents as on EC2.
      address: plan
        ? { mode: 'secondary-ip', value: plan.address, holderNodeId: null }
        : { mode: 'local', value: `127.0.0.1:${state.addressPort ?? 0}`, holderNodeId: null },
    },
    Date.now(),
  );

  for (const name of databaseNames(options)) {
    const nodeDir = join(dir, name);
    mkdirSync(nodeDir);
    await giveToServerUser(nodeDir);
    const host = hostOf(name);
    const port = plan ? LAB_PG_PORT : await freePort();
    const linkPort = plan ? null : await freePort();
    state.nodes.push({
      name,
      role: name === 'db1' ? 'primary' : 'standby',
      address: host ? `${host.ip}:${port}` : `127.0.0.1:${linkPort ?? 0}`,
      port,
      linkPort,
      storeLinkPort: plan ? null : await freePort(),
      netns: host?.netns ?? null,
      ip: host?.ip ?? null,
      socketDir: plan ? nodeDir : null,
      clockFile: plan && existsSync(LIBFAKETIME) ? join(nodeDir, 'clock.rc') : null,
      dataDir: join(nodeDir, 'data'),
      postmasterPid: null,
      agentPid: null,
      watchdogPid: null,
      watchdogFile: join(nodeDir, 'watchdog.json'),
      agentConfig: join(nodeDir, 'agent.json'),
      agentLog: join(nodeDir, 'agent.log'),
    });
  }
  if (options.witness) {
    const host = hostOf('witness');
    state.nodes.push({
      name: 'witness',
      role: 'witness',
      address: host ? host.ip : 'witness.local',
      port: null,
      linkPort: null,
      storeLinkPort: plan ? null : await freePort(),
      netns: host?.netns ?? null,
      ip: host?.ip ?? null,
      socketDir: null,
      clockFile: null,
      dataDir: null,
      postmasterPid: null,
      agentPid: null,
      watchdogPid: null,
      watchdogFile: null,
      agentConfig: join(dir, 'witness-agent.json'),
      agentLog: join(dir, 'witness-agent.log'),
    });
  }
  writeFileSync(state.linksFile, `${JSON.stringify({ isolated: [] })}\n`);
  // The controller first: on loopback it carries the links between the nodes; then it runs the evaluator.
  progress(
    plan
      ? `controller: the evaluator every ${EVALUATION_PERIOD_MS} ms (every ${BUSY_PERIOD_MS} ms while a failure is suspected), in ${plan.aws.netns}`
      : `controller: node links, the cluster address 127.0.0.1:${state.addressPort ?? 0}, the evaluator every ${EVALUATION_PERIOD_MS} ms (every ${BUSY_PERIOD_MS} ms while a failure is suspected)`,
  );
  state.controllerPid = spawnIn(
    plan?.aws.netns,
    process.execPath,
    nodeArgsFor(CONTROLLER, [dir]),
    join(dir, 'controller.log'),
  );
  save();

  const primary = state.nodes[0];
  if (!primary?.dataDir || !primary.port) throw new Error('the primary must be set up before its standbys');
  for (const node of state.nodes) {
    if (!node.dataDir || !node.port) continue;
    const logFile = join(dir, node.name, 'postgres.log');
    const listen = {
      port: node.port,
      everyAddress: plan !== undefined,
      ...(node.socketDir ? { socketDir: node.socketDir } : {}),
    };
    const where = node.ip ? `${node.ip}:${node.port} in ${node.netns ?? ''}` : `127.0.0.1:${node.port}`;
    if (node.role === 'primary') {
      progress(`${node.name}: initdb and start the primary on ${where}`);
      await initPrimary(node.dataDir, superuserFile, listen);
      await startServer(node.dataDir, logFile, node.netns ?? undefined);
      await createRoles(sqlTarget(node), secrets);
    } else {
      progress(`${node.name}: base backup from db1 and start a streaming standby on ${where}`);
      // Copied over the primary's own socket or port; streams over the network (the primary's IP, or its
      // link on loopback), so that a partition cuts it.
      const follow = primary.ip
        ? { host: primary.ip, port: primary.port }
        : { host: '127.0.0.1', port: primary.linkPort ?? primary.port };
      await cloneStandby(node.dataDir, sqlTarget(primary), follow, listen, node.name, passfile);
      await startServer(node.dataDir, logFile, node.netns ?? undefined);
    }
    node.postmasterPid = postmasterPid(node.dataDir) ?? null;
    save();
  }

  if (options.synchronous) {
    // Only now that the standbys stream (a commit would wait for them before). Every node carries the
    // setting, so a promoted standby keeps commits synchronous too.
    const databases = state.nodes.filter((node) => node.dataDir).map((node) => node.name);
    for (const node of state.nodes) {
      if (!node.port) continue;
      await superuserSql(sqlTarget(node), secrets.superuser, [
        `ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (${databases.join(', ')})'`,
        'SELECT pg_reload_conf()',
      ]);
    }
    progress(`synchronous replication: every commit waits for one of ${databases.join(', ')}`);
  }

  await store.updateMembership(
    state.cluster,
    (membership) =>
      state.nodes.reduce(
        (current, node) =>
          allowNode(current, {
            nodeId: node.name,
            address: node.address,
            role: node.role === 'witness' ? 'witness' : 'database',
          }),
        membership,
      ),
    Date.now(),
  );

  for (const node of state.nodes) {
    const storeEndpoint = plan ? `http://${plan.aws.ip}:${storePort}` : `http://127.0.0.1:${node.storeLinkPort ?? 0}`;
    writeFileSync(
      node.agentConfig,
      `${JSON.stringify(
        {
          cluster: state.cluster,
          nodeId: node.name,
          role: node.role === 'witness' ? 'witness' : 'database',
          address: node.address,
          store: { table: state.table, endpoint: storeEndpoint, region: 'local' },
          ...(node.port && node.dataDir
            ? {
                database: {
                  host: '127.0.0.1',
                  port: node.port,
                  dbname: 'postgres',
                  user: 'pgfailover',
                  passwordFile: monitorFile,
                  sslmode: 'disable',
                  dataDirectory: node.dataDir,
                },
                replication: { user: 'replicator', passfile, sslmode: 'disable' },
                rewind: { user: 'postgres', passfile: rewindPassfile },
                ...(options.fenceHook ? { hooks: { fence: options.fenceHook } } : {}),
                ...(node.watchdogFile && (options.fencing ?? 'watchdog') === 'watchdog'
                  ? { watchdog: { kind: 'file', path: node.watchdogFile } }
                  : {}),
                // The lab's address is a secondary IP on the node's interface, as on EC2.
                ...(plan ? { aws: { secondaryIpDevice: HOST_DEVICE, secondaryIpPrefixLength: 32 } } : {}),
              }
            : {}),
        },
        null,
        2,
      )}\n`,
    );
    if (node.watchdogFile && node.dataDir && (options.fencing ?? 'watchdog') === 'watchdog') {
      node.watchdogPid = spawnIn(
        node.netns ?? undefined,
        process.execPath,
        nodeArgsFor(WATCHDOG, [node.watchdogFile, node.dataDir]),
        join(dir, node.name, 'watchdog.log'),
      );
      save();
    }
    // A node's wall clock can be stepped (drills, the nemesis) through libfaketime; its monotonic clock never.
    if (node.clockFile) writeFileSync(node.clockFile, '+0\n');
    node.agentPid = spawnAgent(node);
    save();
  }
  progress(`agents started: ${state.nodes.map((node) => `${node.name} (pid ${node.agentPid})`).join(', ')}`);

  // Return once every agent has reported and the address is on the primary, so that \`local status\`
  // right after has something to show and clients can connect.
  await waitFor(
    'every agent to send its first heartbeat',
    async () => {
      for (const node of state.nodes) {
        if (node.agentPid && !isAlive(node.agentPid))
          throw new GiveUp(`the agent of ${node.name} exited${logTail(node.agentLog)}`);
      }
      if (state.controllerPid && !isAlive(state.controllerPid))
        throw new GiveUp(`the controller exited${logTail(join(dir, 'controller.log'))}`);
      const snapshot = await store.readSnapshot(state.cluster);
      const reported = state.nodes.every((node) =>
        snapshot.heartbeats.some((heartbeat) => heartbeat.nodeId === node.name),
      );
      return reported && snapshot.cluster.address.holderNodeId === 'db1' ? true : undefined;
    },
    30_000,
    200,
  );
}

function spawnAgent(node: LocalNode): number {
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

function databaseNames(options: LocalUpOptions): string[] {
  return ['db1', ...Array.from({ length: options.standbys }, (_, index) => `db${index + 2}`)];
}

/** Starts a detached process, inside `netns` when given (ip netns exec execs it: the PID is the program's). */
function spawnIn(
  netns: string | undefined,
  command: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv = withoutLibpqEnvironment(process.env),
): number {
  const [bin, binArgs] = netns ? inNetns(netns, command, args) : [command, args];
  return spawnDetached(bin, binArgs, logFile, env);
}

async function superuserSql(target: SqlTarget, password: string, statements: string[]): Promise<void> {
  for (const statement of statements) await superuserQuery(target, password, statement);
}

async function createRoles(
  target: SqlTarget,
  secrets: { superuser: string; monitor: string; replicator: string },
): Promise<void> {
  await superuserSql(target, secrets.superuser, [
    `CREATE ROLE replicator WITH LOGIN REPLICATION PASSWORD '${secrets.replicator}'`,
    `CREATE ROLE pgfailover WITH LOGIN PASSWORD '${secrets.monitor}'`,
    ...monitoringRoleGrants('pgfailover'),
  ]);
}

export interface LocalDownResult {
  stoppedPids: number[];
  removedNamespaces: string[];
  purged: boolean;
}

export async function localDown(dir: string, options: { purge?: boolean } = {}): Promise<LocalDownResult> {
  const absolute = resolve(dir);
  const state = readLocalState(absolute);
  const stoppedPids = await stopLocalProcesses(absolute, state);
  const remaining = livePids(state);
  if (remaining.length > 0) throw new Error(`processes still running after local down: ${remaining.join(', ')}`);
  // Deleting the namespaces removes their veths, routes and iptables rules with them.
  const removedNamespaces = state.lab ? await removeLab(state.lab.namespaces) : [];
  if (options.purge) rmSync(absolute, { recursive: true, force: true });
  return { stoppedPids, removedNamespaces, purged: options.purge === true };
}

/** Removes lab namespaces, after ending any process of ours still inside them (a crashed run's). */
async function removeLab(namespaces: readonly string[]): Promise<string[]> {
  for (const netns of namespaces) {
    for (const pid of await pidsInNetns(netns)) await stopProcess(pid, 2000);
  }
  const removed = await destroyLab(namespaces);
  const left = (await listLabNamespaces()).filter((netns) => namespaces.includes(netns));
  if (left.length > 0) throw new Error(`network namespaces still present after local down: ${left.join(', ')}`);
  return removed;
}

export interface LocalCleanResult {
  removedNamespaces: string[];
  stoppedPids: number[];
  /** Namespaces of a lab whose state file says it is still running, left alone. */
  inUse: string[];
}

/**
 * What a crashed run left: with DIR, everything that run recorded; without, every lab namespace on this
 * machine that no running local cluster owns (a namespace still holding processes is reported, not touched).
 */
export async function localClean(dir?: string): Promise<LocalCleanResult> {
  if (dir) {
    const absolute = resolve(dir);
    const state = readLocalState(absolute);
    const stoppedPids = await stopLocalProcesses(absolute, state);
    const removedNamespaces = state.lab ? await removeLab(state.lab.namespaces) : [];
    return { removedNamespaces, stoppedPids, inUse: [] };
  }
  const removedNamespaces: string[] = [];
  const inUse: string[] = [];
  for (const netns of await listLabNamespaces()) {
    if ((await pidsInNetns(netns)).length > 0) inUse.push(netns);
    else removedNamespaces.push(...(await destroyLab([netns])));
  }
  return { removedNamespaces, stoppedPids: [], inUse };
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
  // The agents stood their watchdogs down as they stopped; now the watchdogs themselves.
  await Promise.all(
    state.nodes.map(async (node) => {
      if (node.watchdogPid && isAlive(node.watchdogPid)) {
        await stopProcess(node.watchdogPid);
        stopped.push(node.watchdogPid);
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
    throw new UsageError(
      `the local cluster in ${resolve(dir)} is not running (its state store is stopped); start a new one with: pgfailover local up --dir NEW_DIR`,
    );
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
