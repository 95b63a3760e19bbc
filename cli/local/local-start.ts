// Starting a local cluster's parts, in order: the secrets, the state store, the controller (links and the
// evaluator), the servers (a primary and streaming standbys), the membership, then one agent (and watchdog
// stand-in) per node; it returns once every agent has reported and the address is on the primary.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitoringRoleGrants } from '../../agent/monitoring-role.ts';
import { allowNode } from '../../core/membership.ts';
import { DEFAULT_CLUSTER_POLICY } from '../../core/records.ts';
import type { StateStore } from '../../core/state-store.ts';
import { BUSY_PERIOD_MS, EVALUATION_PERIOD_MS } from '../../lambdas/evaluator/evaluator.ts';
import { cloneStandby, giveToServerUser, initPrimary, postmasterPid, startServer } from './postgres-server.ts';
import { freePort, GiveUp, isAlive, logTail, nodeArgsFor, waitFor } from './processes.ts';
import { superuserQuery, type SqlTarget } from './superuser-sql.ts';
import { HOST_DEVICE, type LabPlan } from './lab-network.ts';

import {
  LAB_PG_PORT,
  connectLocalStore,
  sqlTarget,
  writeLocalState,
  type LocalClusterState,
  type LocalNode,
  type LocalUpOptions,
} from './local-state.ts';
import { LIBFAKETIME, spawnAgent, spawnIn } from './local-node-actions.ts';

const STORE_SERVER = fileURLToPath(new URL('./store-server.ts', import.meta.url));
const CONTROLLER = fileURLToPath(new URL('./controller.ts', import.meta.url));
const WATCHDOG = fileURLToPath(new URL('./watchdog-process.ts', import.meta.url));

/** What every phase of the start works on; `save` records the state file after each process started. */
interface Start {
  dir: string;
  state: LocalClusterState;
  storePort: number;
  options: LocalUpOptions;
  plan: LabPlan | undefined;
  progress: (line: string) => void;
  save: () => void;
}

interface Secrets {
  superuser: string;
  monitor: string;
  replicator: string;
  superuserFile: string;
  monitorFile: string;
  passfile: string;
  rewindPassfile: string;
}

export async function startLocalCluster(
  dir: string,
  state: LocalClusterState,
  storePort: number,
  options: LocalUpOptions,
  plan: LabPlan | undefined,
  progress: (line: string) => void,
): Promise<void> {
  const start: Start = { dir, state, storePort, options, plan, progress, save: () => writeLocalState(dir, state) };
  const secrets = await writeSecrets(start);
  const store = await startStore(start);
  await planNodes(start);
  startController(start);
  await startServers(start, secrets);
  if (options.synchronous) await makeSynchronous(start, secrets);
  await allowNodes(start, store);
  startAgents(start, secrets);
  await firstHeartbeats(start, store);
}

/** The roles' passwords, in files the servers read as the postgres OS user; the agent's stays with us. */
async function writeSecrets({ dir, plan }: Start): Promise<Secrets> {
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
  return { ...secrets, superuserFile, monitorFile, passfile, rewindPassfile };
}

async function startStore({ dir, state, storePort, options, plan, progress, save }: Start): Promise<StateStore> {
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
        peerLeases: options.peerLeases === true,
      },
      primaryNodeId: 'db1',
      // In the lab the address is a secondary IP, moved by the router and brought up by the agents as on EC2.
      address: plan
        ? { mode: 'secondary-ip', value: plan.address, holderNodeId: null }
        : { mode: 'local', value: `127.0.0.1:${state.addressPort ?? 0}`, holderNodeId: null },
    },
    Date.now(),
  );
  return store;
}

/** Every node's record, before anything of it runs: ports, namespace, files. */
async function planNodes({ dir, state, options, plan }: Start): Promise<void> {
  const hostOf = (name: string) => plan?.nodes.find((host) => host.name === name);
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
}

function startController({ dir, state, plan, progress, save }: Start): void {
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
}

async function startServers({ dir, state, plan, progress, save }: Start, secrets: Secrets): Promise<void> {
  const { superuserFile, passfile } = secrets;
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
}

async function makeSynchronous({ state, progress }: Start, secrets: Secrets): Promise<void> {
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

async function allowNodes({ state }: Start, store: StateStore): Promise<void> {
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
}

/** The lab's peer port: every member has its own namespace and address. */
const LAB_PEER_PORT = 7654;

/** Every agent's peerLeases section (lab only), with the cluster's shared key written once. */
function peerLeasesConfig({ dir, state, options, plan }: Start): ((node: LocalNode) => object) | undefined {
  if (!options.peerLeases || !plan) return undefined;
  const keyFile = writeSecret(join(dir, 'peer.key'), randomBytes(32).toString('hex'));
  return (node) => ({
    // A database agent keeps its state beside the data directory by default; a witness has none.
    ...(node.dataDir ? {} : { stateFile: join(dir, `pgfailover-${node.name}.state.json`) }),
    peerLeases: {
      listen: `${node.ip ?? '0.0.0.0'}:${LAB_PEER_PORT}`,
      keyFile,
      peers: Object.fromEntries(
        state.nodes
          .filter((other) => other !== node)
          .map((other) => [other.name, `${other.ip ?? ''}:${LAB_PEER_PORT}`]),
      ),
    },
  });
}

function startAgents(start: Start, secrets: Secrets): void {
  const { dir, state, storePort, options, plan, progress, save } = start;
  const { monitorFile, passfile, rewindPassfile } = secrets;
  const peerSection = peerLeasesConfig(start);
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
          ...(peerSection ? peerSection(node) : {}),
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
                // The local mode starts its servers with pg_ctl, never through a unit this machine may have.
                postgres: { unit: false },
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
}

async function firstHeartbeats({ dir, state }: Start, store: StateStore): Promise<void> {
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

function databaseNames(options: LocalUpOptions): string[] {
  return ['db1', ...Array.from({ length: options.standbys }, (_, index) => `db${index + 2}`)];
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

function secret(): string {
  return randomBytes(18).toString('base64url');
}

function writeSecret(path: string, value: string): string {
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return path;
}
