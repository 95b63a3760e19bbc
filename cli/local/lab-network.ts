// The local mode's network lab: every node (database or witness) in a Linux network namespace of its
// own, the state store and the evaluator in another (the "AWS side"), clients in a third, all linked to
// one router namespace that plays the VPC, as pg_auto_failover's test suite (tests/network.py) builds
// its network. Each host has a veth to the router and a /30 of its own in 198.18.0.0/24 (RFC 2544's
// benchmarking range: never a real host). The cluster address (198.19.0.10) is routed by the router to
// whichever node holds it, as the VPC delivers a secondary IP only to the ENI it is assigned to,
// whatever the old holder's OS still has configured. Nothing in the lab has a route out of it: the
// router knows only its own links, and the root namespace has no link into the lab at all (tools
// there reach the store and the servers through Unix sockets).
//
// Faults are made in the router with iptables (silent DROP: no FIN, no RST).

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const LAB_PREFIX = 'pgf-';
export const LAB_ADDRESS = '198.19.0.10';
/** The router's chain that every fault rule goes into. */
export const FAULT_CHAIN = 'PGF-FAULTS';
export const HOST_DEVICE = 'eth0';

export interface LabHost {
  name: string;
  netns: string;
  ip: string;
  gateway: string;
  /** The router's end of this host's link. */
  routerDevice: string;
}

export interface LabPlan {
  id: string;
  routerNetns: string;
  address: string;
  aws: LabHost;
  app: LabHost;
  nodes: LabHost[];
}

export function newLabId(): string {
  return randomBytes(2).toString('hex');
}

/** Names and addresses for a lab with these nodes; nothing is created yet. */
export function planLab(id: string, nodeNames: string[]): LabPlan {
  if (nodeNames.length > 60) throw new Error('the lab has room for 60 nodes');
  const host = (name: string, index: number): LabHost => ({
    name,
    netns: `${LAB_PREFIX}${id}-${name}`,
    ip: `198.18.0.${index * 4 + 2}`,
    gateway: `198.18.0.${index * 4 + 1}`,
    routerDevice: `pgf${id}r${index}`,
  });
  return {
    id,
    routerNetns: `${LAB_PREFIX}${id}-net`,
    address: LAB_ADDRESS,
    aws: host('aws', 0),
    app: host('app', 1),
    nodes: nodeNames.map((name, index) => host(name, index + 2)),
  };
}

export function labHosts(plan: LabPlan): LabHost[] {
  return [plan.aws, plan.app, ...plan.nodes];
}

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

/** Runs `command` inside `netns` (as `ip netns exec` does: the same process, in the namespace). */
export function inNetns(netns: string, command: string, args: string[]): [string, string[]] {
  return ['ip', ['netns', 'exec', netns, command, ...args]];
}

export async function runInNetns(netns: string, command: string, args: string[]): Promise<string> {
  const [bin, binArgs] = inNetns(netns, command, args);
  try {
    const { stdout } = await run(bin, binArgs, { timeout: 30_000 });
    return stdout;
  } catch (error) {
    const failure = error as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} in ${netns} failed: ${(failure.stderr || failure.message).trim()}`);
  }
}

/** Why the lab cannot be built here, or undefined when it can (root on Linux, ip and iptables present). */
export async function labUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = `${LAB_PREFIX}probe-${process.pid}`;
  try {
    await ip('netns', 'add', probe);
  } catch (error) {
    return `cannot make a network namespace: ${(error as { stderr?: string }).stderr?.trim() ?? String(error)}`;
  }
  try {
    // Running a program in the namespace at all: ip netns exec needs / to be a mount point (not so in a chroot).
    await runInNetns(probe, 'true', []);
  } catch (error) {
    await ip('netns', 'del', probe).catch(() => undefined);
    return `cannot run a program in a network namespace (ip netns exec; in a chroot, bind-mount its root onto itself first): ${String(error)}`;
  }
  try {
    await runInNetns(probe, 'iptables', ['-w', '-S']);
    return undefined;
  } catch (error) {
    return `iptables does not work in a network namespace (install Debian's iptables): ${String(error)}`;
  } finally {
    await ip('netns', 'del', probe).catch(() => undefined);
  }
}

/**
 * Creates the lab. `created` is called with each namespace as soon as it exists, so that a failure half
 * way leaves a record of everything to remove.
 */
export async function createLab(plan: LabPlan, created: (netns: string) => void): Promise<void> {
  await ip('netns', 'add', plan.routerNetns);
  created(plan.routerNetns);
  await ip('-n', plan.routerNetns, 'link', 'set', 'lo', 'up');
  // Routing on: through /proc rather than sysctl(8), which a minimal Debian does not have (procps).
  await runInNetns(plan.routerNetns, 'sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
  await runInNetns(plan.routerNetns, 'iptables', ['-w', '-N', FAULT_CHAIN]);
  await runInNetns(plan.routerNetns, 'iptables', ['-w', '-A', 'FORWARD', '-j', FAULT_CHAIN]);
  for (const host of labHosts(plan)) {
    await ip('netns', 'add', host.netns);
    created(host.netns);
    const peer = `${host.routerDevice.replace(/r(\d+)$/, 'h$1')}`;
    // Made in the router namespace, so no device ever appears in the root namespace.
    await ip('-n', plan.routerNetns, 'link', 'add', host.routerDevice, 'type', 'veth', 'peer', 'name', peer);
    await ip('-n', plan.routerNetns, 'link', 'set', peer, 'netns', host.netns);
    await ip('-n', host.netns, 'link', 'set', peer, 'name', HOST_DEVICE);
    await ip('-n', plan.routerNetns, 'addr', 'add', `${host.gateway}/30`, 'dev', host.routerDevice);
    await ip('-n', plan.routerNetns, 'link', 'set', host.routerDevice, 'up');
    await ip('-n', host.netns, 'addr', 'add', `${host.ip}/30`, 'dev', HOST_DEVICE);
    await ip('-n', host.netns, 'link', 'set', HOST_DEVICE, 'up');
    await ip('-n', host.netns, 'link', 'set', 'lo', 'up');
    // The only way out of a host is the router, which knows only the lab.
    await ip('-n', host.netns, 'route', 'add', 'default', 'via', host.gateway);
  }
}

/** Deletes namespaces (their veths and iptables rules go with them). Missing ones are not an error. */
export async function destroyLab(namespaces: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const netns of namespaces) {
    try {
      await ip('netns', 'del', netns);
      removed.push(netns);
    } catch {
      // Already gone.
    }
  }
  return removed;
}

/** Lab namespaces on this machine (any run's), by name. */
export async function listLabNamespaces(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(LAB_PREFIX));
}

/** PIDs of processes running inside `netns`. */
export async function pidsInNetns(netns: string): Promise<number[]> {
  try {
    const { stdout } = await run('ip', ['netns', 'pids', netns]);
    return stdout.split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The address mover of the lab: the router sends the cluster address to the new holder only. */
export async function routeAddressTo(routerNetns: string, address: string, holderIp: string): Promise<void> {
  await ip('-n', routerNetns, 'route', 'replace', `${address}/32`, 'via', holderIp);
}

export async function addressHolderIp(routerNetns: string, address: string): Promise<string | undefined> {
  const { stdout } = await run('ip', ['-n', routerNetns, 'route', 'show', `${address}/32`]);
  return /via (\S+)/.exec(stdout)?.[1];
}
