// How each of the nemesis's faults is brought about in the lab cluster and healed, as a table from the fault's
// name (nemesis-schedule.ts names them and draws the schedule). The runner (nemesis.ts) holds each for its
// time and checks the cluster after the heal.

import { type NemesisFault, type PlannedFault } from './nemesis-schedule.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { killServer, postmasterPid } from '../../agent/server-control.ts';
import { systemClock } from '../../core/clock.ts';
import { requestSwitchover } from '../../core/role-change-request.ts';
import { ConnectionStorm } from './connection-storm.ts';
import { cut, delay, heal, killAndRestartAgent, killNode, loss, stepClock, type LabFaultTarget } from './lab-faults.ts';
import { connectLocalStore, restartAgent, sqlTarget, type LocalClusterState, type LocalNode } from './local-cluster.ts';
import { isAlive, pauseProcess, resumeProcess, waitFor } from './processes.ts';

/** What a fault acts on: the cluster as it is when the fault begins. */
export interface FaultContext {
  dir: string;
  lab: LabFaultTarget;
  state: LocalClusterState;
  primary: LocalNode;
  /** The standby `planned.pick` chooses (the primary itself when there is none). */
  standby: LocalNode;
  planned: PlannedFault;
  password: string;
  note: (line: string) => void;
}

/** The PID when that process is running; throws (naming `what`) when it is not. */
function pid(value: number | null, what: string): number {
  if (!value || !isAlive(value)) throw new Error(`${what} is not running`);
  return value;
}

/** A fault ready to be held: brought about by `start`, healed by `stop`. */
export interface HeldFault {
  target: string;
  start: () => Promise<void> | void;
  stop: () => Promise<void> | void;
}

function held(target: string, start: HeldFault['start'], stop: HeldFault['stop']): HeldFault {
  return { target, start, stop };
}

export function node(state: LocalClusterState, name: string): LocalClusterState['nodes'][number] {
  const found = state.nodes.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no node ${name}`);
  return found;
}

/** The primary's network impaired for the hold (cut, one way or both, or lossy) and healed after. */
function impaired(c: FaultContext, impair: (lab: LabFaultTarget, name: string) => Promise<void>): HeldFault {
  return held(
    c.primary.name,
    () => impair(c.lab, c.primary.name),
    () => heal(c.lab, c.primary.name),
  );
}

/** Cut from the store and its peers; its clients still reach it. */
async function partition(lab: LabFaultTarget, name: string): Promise<void> {
  await cut(lab, name, 'store');
  await cut(lab, name, 'peers');
}

/** A process stopped (SIGSTOP) for the hold and resumed after; it must be running when the fault begins. */
function paused(target: string, value: number | null, what: string): HeldFault {
  const running = pid(value, what);
  return held(
    target,
    () => pauseProcess(running),
    () => resumeProcess(running),
  );
}

/** A node's agent SIGKILLed for the hold and started again after, as systemd would. */
function killedAgent(c: FaultContext, victim: LocalNode): HeldFault {
  return held(
    `${victim.name} agent`,
    () => {
      process.kill(pid(victim.agentPid, `the agent of ${victim.name}`), 'SIGKILL');
    },
    () => void restartAgent(c.dir, victim.name),
  );
}

function killPrimaryDb(c: FaultContext): HeldFault {
  const { primary } = c;
  return held(
    `${primary.name} database`,
    () => void killServer(primary.dataDir as string),
    () => undefined,
  );
}

function delayPrimaryClients(c: FaultContext): HeldFault {
  const { lab, state, primary } = c;
  return held(
    primary.name,
    () => delay(lab, state, primary.name, 'clients', 300).then(() => undefined),
    () => heal(lab, primary.name),
  );
}

function stormPrimary(c: FaultContext): HeldFault {
  const { lab, primary, planned, note, password } = c;
  const storm = new ConnectionStorm(sqlTarget(primary), password, planned.holdMs + 60_000);
  const cutOff = planned.fault === 'storm-partition-primary';
  return held(
    primary.name,
    async () => {
      await storm.start();
      if (!cutOff) return;
      // Cut once the agent's logins are refused, so that its fence has to act on an UNKNOWN server.
      await waitFor('the storm to fill the server', () => (storm.full ? true : undefined), 10_000, 20).catch(() =>
        note(`the storm did not fill ${primary.name} within 10 s; cutting it off anyway`),
      );
      await partition(lab, primary.name);
    },
    async () => {
      await storm.stop();
      if (cutOff) await heal(lab, primary.name);
    },
  );
}

function restartPrimaryAgentPartitioned(c: FaultContext): HeldFault {
  const { dir, lab, primary } = c;
  return held(
    `${primary.name} agent`,
    async () => {
      await partition(lab, primary.name);
      // As systemd's Restart= would, half a second later.
      await killAndRestartAgent(dir, primary, 500);
    },
    () => heal(lab, primary.name),
  );
}

function switchoverCutPrimary(c: FaultContext): HeldFault {
  const { dir, lab, state, primary, standby, planned, note } = c;
  const store = connectLocalStore(state);
  const killTarget = planned.fault === 'switchover-kill-target';
  return held(
    killTarget
      ? `${primary.name} -> ${standby.name} (target killed)`
      : `${primary.name} -> ${standby.name} (primary cut)`,
    async () => {
      // A node rejoined a moment ago may still be reported down: ask until the switchover is accepted. One
      // never accepted is no switchover to interrupt, and nothing is broken (killing a node mid-rejoin is
      // another fault).
      const asked = await waitFor(
        `a switchover to ${standby.name} to be accepted`,
        () =>
          requestSwitchover(store, state.cluster, standby.name, 'nemesis', systemClock).then(
            () => true,
            () => undefined,
          ),
        15_000,
        500,
      ).catch(() => false);
      if (!asked) {
        note(`switchover to ${standby.name} was not accepted within 15 s; nothing interrupted`);
        return;
      }
      await sleep(200);
      if (killTarget) await killNode(lab, standby);
      else {
        await partition(lab, primary.name);
      }
    },
    // Healed: the network back, a killed node's agent restarted (its server is rejoined by the recovery).
    async () => {
      await heal(lab, killTarget ? standby.name : primary.name);
      if (killTarget) restartAgent(dir, standby.name);
    },
  );
}

function doubleFault(c: FaultContext): HeldFault {
  const { dir, lab, state, primary, standby, planned, note } = c;
  // The primary's node dies, then the standby it would fail over to: before the decision, or right after it
  // (the chosen candidate, mid-promotion), as `pick` says.
  const afterDecision = planned.pick >= 0.5;
  const store = connectLocalStore(state);
  const killed: string[] = [];
  return held(
    `${primary.name}, then a standby ${afterDecision ? 'after' : 'before'} the decision`,
    async () => {
      await killNode(lab, primary);
      killed.push(primary.name);
      let second = standby;
      if (afterDecision) {
        const promoting = await waitFor(
          'a candidate chosen',
          async () => {
            const now = await store.getCluster(state.cluster).catch(() => undefined);
            return now?.phase === 'promoting' ? now : undefined;
          },
          30_000,
          10,
        ).catch(() => undefined);
        second = node(state, promoting?.failover?.toNodeId ?? standby.name);
      }
      await killNode(lab, second);
      killed.push(second.name);
      note(`killed ${killed.join(' and ')}`);
    },
    async () => {
      for (const name of killed) {
        await heal(lab, name);
        restartAgent(dir, name);
      }
    },
  );
}

function clockStepPrimary(c: FaultContext): HeldFault {
  const { lab, primary } = c;
  return held(
    primary.name,
    async () => {
      await stepClock(primary, '-30s');
      await cut(lab, primary.name, 'all');
    },
    async () => {
      await heal(lab, primary.name);
      await stepClock(primary, '+0');
    },
  );
}

/** How each fault is brought about and healed. */
export const FAULT_ARMS: Record<NemesisFault, (c: FaultContext) => HeldFault> = {
  'partition-primary': (c) => impaired(c, partition),
  'isolate-primary': (c) => impaired(c, (lab, name) => cut(lab, name, 'all')),
  'blip-primary': (c) => impaired(c, (lab, name) => cut(lab, name, 'all')),
  'cut-primary-from-store': (c) => impaired(c, (lab, name) => cut(lab, name, 'store')),
  'one-way-primary-out': (c) => impaired(c, (lab, name) => cut(lab, name, 'all', 'out')),
  'one-way-primary-in': (c) => impaired(c, (lab, name) => cut(lab, name, 'all', 'in')),
  'lossy-primary': (c) => impaired(c, (lab, name) => loss(lab, name, 0.3)),
  'pause-primary-agent': (c) => paused(`${c.primary.name} agent`, c.primary.agentPid, `the agent of ${c.primary.name}`),
  'pause-primary-agent-briefly': (c) =>
    paused(`${c.primary.name} agent`, c.primary.agentPid, `the agent of ${c.primary.name}`),
  'pause-primary-postmaster-briefly': (c) =>
    paused(
      `${c.primary.name} postmaster`,
      c.primary.dataDir ? (postmasterPid(c.primary.dataDir) ?? null) : null,
      `the postmaster of ${c.primary.name}`,
    ),
  'pause-standby-agent': (c) => paused(`${c.standby.name} agent`, c.standby.agentPid, `the agent of ${c.standby.name}`),
  'pause-evaluator': (c) => paused('evaluator', c.state.controllerPid, 'the evaluator'),
  'pause-store': (c) => paused('store', c.state.storePid, 'the store'),
  'kill-primary-agent': (c) => killedAgent(c, c.primary),
  'kill-standby-agent': (c) => killedAgent(c, c.standby),
  'kill-primary-db': killPrimaryDb,
  'delay-primary-clients': delayPrimaryClients,
  'storm-primary': stormPrimary,
  'storm-partition-primary': stormPrimary,
  'restart-primary-agent-partitioned': restartPrimaryAgentPartitioned,
  'switchover-cut-primary': switchoverCutPrimary,
  'switchover-kill-target': switchoverCutPrimary,
  'double-fault': doubleFault,
  'clock-step-primary': clockStepPrimary,
  'store-outage': (c) =>
    held(
      'every member',
      async () => {
        for (const member of c.state.nodes) await cut(c.lab, member.name, 'store');
      },
      () => heal(c.lab),
    ),
};
