// What the benchmark's peers (Patroni, pg_auto_failover) share: a network lab of the same shape as the
// local mode's (cli/local/lab-network.ts: a namespace per member, one for the coordinator on the "AWS
// side", one for the client, a router making silent faults), a writer in the client namespace that
// commits to whichever member accepts, and the same fault injection by packet drop and SIGKILL.

import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { serverProcesses, signalAll, postmasterPid } from '../../agent/server-control.ts';
import { labWriter, type ClusterWriter } from '../../cli/local/cluster-writer.ts';
import { cut, heal, type LabFaultTarget } from '../../cli/local/lab-faults.ts';
import { createLab, destroyLab, newLabId, pidsInNetns, planLab, type LabPlan } from '../../cli/local/lab-network.ts';
import { isAlive, stopProcess } from '../../cli/local/processes.ts';

const run = promisify(execFile);
export const MEMBERS = ['p1', 'p2', 'p3'] as const;

export interface PeerLab {
  dir: string;
  plan: LabPlan;
  target: LabFaultTarget;
  namespaces: string[];
  /** PIDs this run started (ip netns exec keeps the PID of the program it runs). */
  pids: number[];
}

export async function createPeerLab(): Promise<PeerLab> {
  const dir = mkdtempSync(join(tmpdir(), 'pgfailover-peer-'));
  chmodSync(dir, 0o755);
  const plan = planLab(newLabId(), [...MEMBERS]);
  const lab: PeerLab = { dir, plan, target: faultTargetOf(plan), namespaces: [], pids: [] };
  try {
    await createLab(plan, (netns) => lab.namespaces.push(netns));
  } catch (error) {
    await destroyPeerLab(lab);
    throw error;
  }
  return lab;
}

function faultTargetOf(plan: LabPlan): LabFaultTarget {
  const devices: Record<string, string> = { aws: plan.aws.routerDevice, app: plan.app.routerDevice };
  for (const node of plan.nodes) devices[node.name] = node.routerDevice;
  return { routerNetns: plan.routerNetns, devices };
}

export function memberIp(lab: PeerLab, member: string): string {
  const host = lab.plan.nodes.find((node) => node.name === member);
  if (!host) throw new Error(`no member ${member}`);
  return host.ip;
}

export function memberNetns(lab: PeerLab, member: string): string {
  const host = lab.plan.nodes.find((node) => node.name === member);
  if (!host) throw new Error(`no member ${member}`);
  return host.netns;
}

/** A directory the postgres OS user owns (servers and their managers run as that user). */
export async function postgresDir(path: string): Promise<string> {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  chownSync(path, Number(uid.stdout.trim()), Number(gid.stdout.trim()));
  return path;
}

/** One statement on a member's server over its Unix socket, as the postgres superuser (local connections are trusted). */
export async function socketQuery<T extends pg.QueryResultRow = Record<string, unknown>>(
  socketDirectory: string,
  database: string,
  sql: string,
): Promise<T[]> {
  const client = new pg.Client({ host: socketDirectory, port: 5432, user: 'postgres', database });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function writerFor(lab: PeerLab, table: string): ClusterWriter {
  const passwordFile = join(lab.dir, 'password');
  writeFileSync(passwordFile, 'bench\n');
  return labWriter(
    lab.plan.app.netns,
    MEMBERS.map((member) => `${memberIp(lab, member)}:5432`),
    passwordFile,
    table,
  );
}

/** The faults, as pgfailover's drill makes them: packets dropped first, then processes killed. */
export async function killNode(lab: PeerLab, member: string): Promise<void> {
  await cut(lab.target, member, 'all');
  signalAll(await pidsInNetns(memberNetns(lab, member)), 'SIGKILL');
}

export function killDatabase(dataDir: string): void {
  const pid = postmasterPid(dataDir);
  if (pid !== undefined && isAlive(pid)) signalAll(serverProcesses(pid), 'SIGKILL');
}

export async function partition(lab: PeerLab, member: string): Promise<void> {
  // The coordinator (etcd or the monitor) and the peers are cut; clients on the member's side are not.
  await cut(lab.target, member, 'store');
  await cut(lab.target, member, 'peers');
}

export async function healAll(lab: PeerLab): Promise<void> {
  await heal(lab.target);
}

/** Stops what this lab started (by PID), then removes its namespaces and directory. */
export async function destroyPeerLab(lab: PeerLab): Promise<void> {
  for (const pid of lab.pids) await stopProcess(pid, 3000).catch(() => undefined);
  // Whatever those started inside the lab (servers, their children) goes with the namespaces' processes.
  for (const netns of lab.namespaces) signalAll(await pidsInNetns(netns), 'SIGKILL');
  await destroyLab(lab.namespaces);
  rmSync(lab.dir, { recursive: true, force: true });
}
