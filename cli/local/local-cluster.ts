// `pgfailover local up|status|down|clean`: a whole cluster on this machine with real parts: PostgreSQL
// servers in streaming replication, dynalite as the state store, one real agent process (and a watchdog
// stand-in) per node, the evaluator on a timer. Everything started is recorded in DIR/local.json as it
// starts, so `down` (or a failed `up`) can stop exactly those processes and remove exactly those
// namespaces, and nothing else.
//
// Two networks: the lab (root on Linux; cli/local/lab-network.ts), where every node has a network
// namespace and an IP of its own and faults are real dropped packets; and the loopback fallback, where
// the controller's TCP forwarders stand in for links and the cluster address (and cuts close sockets).

import { chmodSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { buildClusterStatus, type ClusterStatusReport } from '../../core/cluster-status.ts';
import { UsageError } from '../../core/errors.ts';
import { assertServerUserCanReach } from './postgres-server.ts';
import { freePort, isAlive } from './processes.ts';
import { createLab, destroyLab, labUnavailable, newLabId, planLab } from './lab-network.ts';

import {
  STATE_FILE,
  connectLocalStore,
  livePids,
  readLocalState,
  writeLocalState,
  type LocalClusterState,
  type LocalUpOptions,
} from './local-state.ts';
import { startLocalCluster } from './local-start.ts';
import { stopLocalProcesses } from './local-teardown.ts';

export * from './local-state.ts';
export { restartAgent, rejoinNode, rejoinNodeSaying } from './local-node-actions.ts';
export { localClean, localDown, type LocalCleanResult, type LocalDownResult } from './local-teardown.ts';

const LAB_STORE_PORT = 8000;
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
  if (options.peerLeases && network !== 'lab')
    throw new UsageError(
      "--peer-leases needs the network lab: on loopback the members' datagrams would pass every fault made there",
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
    evaluatorInvocationMs: options.evaluatorInvocationMs ?? null,
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
