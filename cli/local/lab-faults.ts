// Silent faults in the network lab, made in the router namespace (the lab's "VPC"): iptables DROP rules
// in one chain, so that packets vanish as in a real partition (no FIN, no RST: connections hang until
// some timeout), one-way if asked, or are lost at random. Every rule names its node in a comment, so a
// node's faults can be healed alone. The chain dies with the router namespace on `local down`.

import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FAULT_CHAIN, inNetns, runInNetns } from './lab-network.ts';
import { killServer, postmasterPid } from '../../agent/server-control.ts';
import {
  connectLocalStore,
  livePids,
  readLocalState,
  rejoinNodeSaying,
  restartAgent,
  type LocalClusterState,
  type LocalNode,
} from './local-cluster.ts';
import { isAlive, nodeArgsFor, resumeProcess, spawnDetached, stopProcess } from './processes.ts';

const DELAY_PROXY = fileURLToPath(new URL('./delay-proxy.ts', import.meta.url));

/** What a node is cut from: the state store and evaluator, the other members, the clients, or all of them. */
export const CUT_SCOPES = ['store', 'peers', 'clients', 'all'] as const;
export type CutScope = (typeof CUT_SCOPES)[number];
/** both: nothing passes; in: nothing reaches the node; out: nothing leaves it. */
export const CUT_DIRECTIONS = ['both', 'in', 'out'] as const;
export type CutDirection = (typeof CUT_DIRECTIONS)[number];

export interface LabFaultTarget {
  routerNetns: string;
  /** The router's device towards each host, by host name (node names, "aws", "app"). */
  devices: Record<string, string>;
}

export function faultTarget(state: LocalClusterState): LabFaultTarget {
  if (!state.lab)
    throw new Error('network faults need the lab network (local up without --network loopback, as root on Linux)');
  const devices: Record<string, string> = {};
  const id = state.lab.id;
  // The router's device names follow the plan's order: aws 0, app 1, then the nodes.
  devices.aws = `pgf${id}r0`;
  devices.app = `pgf${id}r1`;
  state.nodes.forEach((node, index) => (devices[node.name] = `pgf${id}r${index + 2}`));
  return { routerNetns: state.lab.routerNetns, devices };
}

function device(target: LabFaultTarget, name: string): string {
  const found = target.devices[name];
  if (!found) throw new Error(`no lab host named ${name}`);
  return found;
}

function others(target: LabFaultTarget, scope: CutScope, node: string): string[] {
  const peers = Object.keys(target.devices).filter((name) => name !== node && name !== 'aws' && name !== 'app');
  if (scope === 'store') return ['aws'];
  if (scope === 'peers') return peers;
  if (scope === 'clients') return ['app'];
  return ['aws', 'app', ...peers];
}

async function iptables(target: LabFaultTarget, args: string[]): Promise<void> {
  await runInNetns(target.routerNetns, 'iptables', ['-w', ...args]);
}

/** Drops every packet between `node` and what `scope` names (or the lab hosts listed), in `direction`. */
export async function cut(
  target: LabFaultTarget,
  node: string,
  scope: CutScope | readonly string[],
  direction: CutDirection = 'both',
): Promise<void> {
  const own = device(target, node);
  const hosts = typeof scope === 'string' ? others(target, scope, node) : scope;
  for (const other of hosts) {
    const theirs = device(target, other);
    if (direction !== 'out') await dropRule(target, node, ['-i', theirs, '-o', own]);
    if (direction !== 'in') await dropRule(target, node, ['-i', own, '-o', theirs]);
  }
}

/** Appends a DROP rule for `match`, tagged with the node so that healing it finds exactly its rules. */
async function dropRule(target: LabFaultTarget, node: string, match: string[]): Promise<void> {
  await iptables(target, ['-A', FAULT_CHAIN, ...match, '-m', 'comment', '--comment', `pgf:${node}`, '-j', 'DROP']);
}

/** Loses each packet to or from `node` with `probability` (0 to 1). */
export async function loss(target: LabFaultTarget, node: string, probability: number): Promise<void> {
  if (!(probability > 0 && probability <= 1))
    throw new Error(`packet loss is a probability above 0 and at most 1; got ${probability}`);
  const own = device(target, node);
  for (const flag of ['-i', '-o'])
    await dropRule(target, node, [
      flag,
      own,
      '-m',
      'statistic',
      '--mode',
      'random',
      '--probability',
      String(probability),
    ]);
}

/** What a delay applies to: a node's connections to the store, or the clients' connections to a node. */
export const DELAY_SCOPES = ['store', 'clients'] as const;
export type DelayScope = (typeof DELAY_SCOPES)[number];

/**
 * Adds `delayMs` each way to `node`'s connections to the store, or to the clients' connections to it
 * (new connections; open ones keep their path). A proxy in the router does it (no netem here); the
 * router redirects those connections to it. Healing the node removes both.
 */
export async function delay(
  target: LabFaultTarget,
  state: LocalClusterState,
  node: string,
  scope: DelayScope,
  delayMs: number,
): Promise<number> {
  const lab = state.lab;
  const member = state.nodes.find((candidate) => candidate.name === node);
  if (!lab || !member?.ip) throw new Error(`no lab node named ${node}`);
  const index = state.nodes.indexOf(member) + 2;
  // The proxy listens on the router's own address on the side the connections come from.
  const [fromDevice, listenIp, upstreamIp, upstreamPort, matchIp] =
    scope === 'store'
      ? [device(target, node), `198.18.0.${index * 4 + 1}`, lab.awsIp, 8000, lab.awsIp]
      : [device(target, 'app'), '198.18.0.5', member.ip, member.port ?? 5432, member.ip];
  const listenPort = 20_000 + index * 10 + (scope === 'store' ? 1 : 2);
  const [bin, args] = inNetns(
    target.routerNetns,
    process.execPath,
    nodeArgsFor(DELAY_PROXY, [listenIp, String(listenPort), upstreamIp, String(upstreamPort), String(delayMs)]),
  );
  const pid = spawnDetached(bin, args, join(dirname(state.notificationsFile), `delay-${node}-${scope}.log`));
  await runInNetns(target.routerNetns, 'iptables', [
    '-w',
    '-t',
    'nat',
    '-A',
    'PREROUTING',
    '-i',
    fromDevice,
    '-p',
    'tcp',
    '-d',
    matchIp,
    '--dport',
    String(upstreamPort),
    '-m',
    'comment',
    '--comment',
    `pgf:${node}:delay:${pid}`,
    '-j',
    'DNAT',
    '--to-destination',
    `${listenIp}:${listenPort}`,
  ]);
  return pid;
}

/** Removes the faults of `node`, or every fault. */
export async function heal(target: LabFaultTarget, node?: string): Promise<void> {
  await removeDelays(target, node);
  if (!node) {
    await iptables(target, ['-F', FAULT_CHAIN]);
    return;
  }
  await deleteRules(target, 'filter', FAULT_CHAIN, (rule) => nodeTag(rule) === node);
}

/** The node a fault rule was added for (its "pgf:NODE" comment), if any. */
function nodeTag(rule: string): string | undefined {
  return /pgf:([^:\s"]+)/.exec(rule)?.[1];
}

async function removeDelays(target: LabFaultTarget, node?: string): Promise<void> {
  const removed = await deleteRules(
    target,
    'nat',
    'PREROUTING',
    (rule) => /:delay:\d+/.test(rule) && (!node || nodeTag(rule) === node),
  );
  for (const rule of removed) await stopProcess(Number(/:delay:(\d+)/.exec(rule)?.[1]), 2000);
}

/** Deletes the rules of `chain` that `pick` chooses; returns them as iptables -S printed them. */
async function deleteRules(
  target: LabFaultTarget,
  table: 'filter' | 'nat',
  chain: string,
  pick: (rule: string) => boolean,
): Promise<string[]> {
  const rules = (await runInNetns(target.routerNetns, 'iptables', ['-w', '-t', table, '-S', chain]))
    .split('\n')
    .filter((rule) => rule.startsWith(`-A ${chain} `) && pick(rule));
  for (const rule of rules) {
    // -S prints each rule as it was added; the same words after -D delete it.
    const words = rule.replace(/^-A /, '').match(/"[^"]*"|\S+/g) ?? [];
    await iptables(target, ['-t', table, '-D', ...words.map((word) => word.replace(/^"|"$/g, ''))]);
  }
  return rules;
}

/** Steps the wall clock of a node's agent (libfaketime), e.g. "-30s"; its monotonic clock is left alone. */
export async function stepClock(node: LocalNode, offset: string): Promise<void> {
  if (!node.clockFile)
    throw new Error(
      `the agent of ${node.name} does not run under libfaketime (install Debian's faketime and start the lab again)`,
    );
  if (!/^[+-]\d+(\.\d+)?[smhd]?$/.test(offset))
    throw new Error(`a clock step is an offset such as -30s or +2m; got ${offset}`);
  writeFileSync(node.clockFile, `${offset}\n`);
}

/**
 * Undoes what drills and the nemesis leave behind: every network fault, every paused process of the
 * cluster (SIGCONT to the recorded PIDs), every stepped clock; restarts agents that died. Servers a
 * failover stopped are not restarted here: they come back as standbys with a rejoin.
 */
/**
 * Undoes what drills and the nemesis leave: network faults (the lab's rules, the loopback links), paused
 * processes, stepped clocks, dead agents, and stopped database servers, which come back as standbys of
 * the recorded primary through rejoin (pg_rewind, else a fresh base backup), as pgfailover rejoin does.
 */
export async function localHeal(dir: string): Promise<string[]> {
  const state = readLocalState(dir);
  const done: string[] = [];
  if (state.lab) {
    await heal(faultTarget(state));
    done.push('network faults removed');
  } else {
    writeFileSync(state.linksFile, `${JSON.stringify({ isolated: [] })}\n`);
    done.push('links restored');
  }
  for (const pid of livePids(state)) resumeProcess(pid);
  done.push('paused processes resumed');
  for (const node of state.nodes) if (node.clockFile) writeFileSync(node.clockFile, '+0\n');
  const restarted = state.nodes
    .filter((node) => node.agentPid && !isAlive(node.agentPid))
    .map((node) => (restartAgent(dir, node.name), node.name));
  if (restarted.length) done.push(`agents restarted: ${restarted.join(', ')}`);
  const record = await connectLocalStore(state).getCluster(state.cluster);
  const primary = record?.phase === 'steady' ? record.primaryNodeId : null;
  for (const node of state.nodes) {
    if (!node.dataDir || node.name === primary || !primary) continue;
    const pid = postmasterPid(node.dataDir);
    if (pid !== undefined && isAlive(pid)) continue;
    const how = await rejoinNodeSaying(dir, node.name, primary);
    done.push(`${node.name} rejoined as a standby of ${primary}: ${how}`);
  }
  return done;
}

/**
 * A node dies with its host: its packets vanish first (the kernel that outlives the killed processes here
 * must not send the FIN or RST a real crash would not), then its agent and every server process are killed.
 */
export async function killNode(target: LabFaultTarget, node: LocalNode): Promise<void> {
  await cut(target, node.name, 'all');
  if (node.agentPid && isAlive(node.agentPid)) process.kill(node.agentPid, 'SIGKILL');
  if (node.dataDir) killServer(node.dataDir);
}

/**
 * The node's agent killed (SIGKILL) and started again `afterMs` later, as systemd's Restart= would: only once
 * the killed process has exited (a process being torn down still counts as running, and the restart would
 * then do nothing). Returns the new agent's PID.
 */
export async function killAndRestartAgent(dir: string, node: LocalNode, afterMs: number): Promise<number> {
  const pid = node.agentPid;
  if (!pid || !isAlive(pid)) throw new Error(`the agent of ${node.name} is not running`);
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  for (let waited = 0; isAlive(pid); waited += 10) {
    if (waited > 10_000) throw new Error(`the agent of ${node.name} (${pid}) has not exited 10 s after SIGKILL`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const leftMs = afterMs - (Date.now() - killedAt);
  if (leftMs > 0) await new Promise((resolve) => setTimeout(resolve, leftMs));
  const restarted = restartAgent(dir, node.name);
  if (restarted === pid) throw new Error(`the agent of ${node.name} was not restarted`);
  return restarted;
}
