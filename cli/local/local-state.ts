// The local cluster's state file (DIR/local.json): every process and namespace recorded as it starts, so
// that `down` stops exactly those and nothing else; and how tools on this host reach the cluster's parts.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { UsageError } from '../../core/errors.ts';
import { StateStore } from '../../core/state-store.ts';
import { postmasterPid } from './postgres-server.ts';
import { isAlive } from './processes.ts';
import { type SqlTarget } from './superuser-sql.ts';

export const STATE_FILE = 'local.json';
/** Inside the lab every node has its own IP, and its server listens on the usual port. */
export const LAB_PG_PORT = 5432;

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
  /**
   * Run the evaluator as the schedule runs the Lambda: a new invocation every this many ms, each overlapping
   * the next by 5 s, handing over as the Lambda's do. Null: one evaluator for the cluster's life.
   */
  evaluatorInvocationMs: z.number().int().positive().nullable().default(null),
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
  /** The evaluator as scheduled invocations of this length (ms), handing over as the Lambda's do. */
  evaluatorInvocationMs?: number;
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
  /** Peer leases on (policy and every agent's config; lab only: a partition must cut the members' datagrams too). */
  peerLeases?: boolean;
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

export function writeLocalState(dir: string, state: LocalClusterState): void {
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
