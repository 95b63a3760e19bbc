// Ending a local cluster: its processes in order (agents, watchdogs, controller, servers, store), then its
// namespaces; and cleaning up after a run that crashed.

import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { postmasterPid, stopServer } from './postgres-server.ts';
import { isAlive, stopProcess } from './processes.ts';
import { destroyLab, listLabNamespaces, pidsInNetns } from './lab-network.ts';

import { STATE_FILE, livePids, readLocalState, writeLocalState, type LocalClusterState } from './local-state.ts';

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
export async function stopLocalProcesses(dir: string, state: LocalClusterState): Promise<number[]> {
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
