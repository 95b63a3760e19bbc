// The faults the simulation draws: silent ones only (cuts, pauses, kills, crashes, clock steps, full
// servers), as data. Each takes the world as it is and returns how to heal it; `blip` faults are shorter
// than the protocol's stated tolerance and must never cause a promotion.

import { CLIENTS, type World } from './world.ts';
import type { Random } from './random.ts';

export interface FaultStart {
  describe: string;
  /** Must not lead to a new term (shorter than the tolerance, or no fault of the primary at all). */
  noPromotion: boolean;
  heal: () => void;
  /** At the heal: a promise the design made for this fault and broke (a failover it owed), if any. */
  broken?: () => string | undefined;
}

export interface Fault {
  name: string;
  /** How long it is held, drawn per fault (ms). */
  holdMs: (random: Random) => number;
  start: (world: World, random: Random) => FaultStart;
}

/** A blip the primary rides out: renewals every 500 ms and the self-fence 150 ms before a 2.8 s lease. */
export const BLIP_TOLERANCE_MS = 2_100;

/** A heartbeat older than the node timeout (15 s by default) is not live; a second more for the last beat. */
const VOTE_GOES_STALE_MS = 16_000;
/**
 * A crashed primary whose stop is proven (fencing "watchdog" or "ec2-stop") or whose failure a majority of
 * live members confirm is failed over within this long; nominally the lease window and a promotion (about
 * 3.5 s), the rest is margin for a vote or a fence that is retried.
 */
export const FAILOVER_PROMISE_MS = 15_000;

function primary(world: World): string {
  return world.table.cluster.primaryNodeId ?? 'db1';
}

function peersOf(world: World, name: string): string[] {
  return world.hosts.map((host) => host.name).filter((other) => other !== name);
}

/** Cut from the store, the evaluator and its peers; its clients still reach it. */
function partition(world: World, name: string): void {
  world.network.cutBetween(name, ['store', 'evaluator', ...peersOf(world, name)]);
}

function standbys(world: World): string[] {
  return world.databases.filter((name) => name !== primary(world));
}

function bestStandby(world: World): string | undefined {
  const running = standbys(world).filter((name) => world.server(name).running);
  return running.sort((a, b) => world.server(b).wal.length - world.server(a).wal.length)[0];
}

const healNetwork = (world: World) => () => world.network.healAll();

/** SIGSTOP of the primary's agent, its server running on; SIGCONT to heal. */
function pausePrimaryAgent(world: World): FaultStart {
  const p = primary(world);
  const process = world.host(p).process;
  world.network.pause(process);
  return { describe: `${p}'s agent paused`, noPromotion: false, heal: () => world.network.resume(process) };
}

export const FAULTS: Fault[] = [
  {
    name: 'partition-primary',
    holdMs: (r) => r.int(4_000, 12_000),
    start: (world) => {
      const p = primary(world);
      partition(world, p);
      return { describe: `${p} cut from the store and its peers`, noPromotion: false, heal: healNetwork(world) };
    },
  },
  {
    name: 'isolate-primary',
    holdMs: (r) => r.int(4_000, 12_000),
    start: (world) => {
      const p = primary(world);
      world.network.cutBetween(p, [...peersOf(world, p), 'store', 'evaluator', CLIENTS]);
      return { describe: `${p} isolated`, noPromotion: false, heal: healNetwork(world) };
    },
  },
  {
    name: 'one-way-primary-out',
    holdMs: (r) => r.int(4_000, 10_000),
    start: (world) => {
      const p = primary(world);
      world.network.cutBetween(p, ['store', 'evaluator', ...peersOf(world, p)], 'out');
      return { describe: `${p} can receive but not send`, noPromotion: false, heal: healNetwork(world) };
    },
  },
  {
    name: 'blip-primary',
    holdMs: (r) => r.int(300, BLIP_TOLERANCE_MS - 300),
    start: (world) => {
      const p = primary(world);
      partition(world, p);
      return { describe: `${p} cut briefly`, noPromotion: true, heal: healNetwork(world) };
    },
  },
  {
    name: 'kill-primary-agent',
    holdMs: (r) => r.int(2_000, 10_000),
    start: (world) => {
      const p = primary(world);
      world.killAgent(p);
      return { describe: `${p}'s agent killed`, noPromotion: false, heal: () => world.startAgent(p) };
    },
  },
  {
    name: 'restart-agent-partitioned',
    holdMs: (r) => r.int(5_000, 12_000),
    start: (world, random) => {
      const p = primary(world);
      partition(world, p);
      world.killAgent(p);
      setTimeout(() => world.startAgent(p), random.int(200, 1_500));
      return {
        describe: `${p} cut off, its agent killed and restarted`,
        noPromotion: false,
        heal: healNetwork(world),
      };
    },
  },
  {
    name: 'pause-primary-agent',
    holdMs: (r) => r.int(1_000, 8_000),
    start: pausePrimaryAgent,
  },
  {
    // Longer than the node timeout: the primary's last report goes stale while its server still runs.
    name: 'pause-primary-agent-long',
    holdMs: (r) => r.int(16_000, 30_000),
    start: pausePrimaryAgent,
  },
  {
    name: 'crash-primary-node',
    holdMs: (r) => r.int(3_000, 10_000),
    start: (world) => {
      const p = primary(world);
      world.crashNode(p, 'fault');
      return { describe: `${p}'s node crashed`, noPromotion: false, heal: () => world.startAgent(p) };
    },
  },
  {
    name: 'storm-primary',
    holdMs: (r) => r.int(3_000, 10_000),
    start: (world) => {
      const p = primary(world);
      world.host(p).refusesChecks = true;
      return {
        describe: `${p}'s server full (checks refused)`,
        noPromotion: true,
        heal: () => void (world.host(p).refusesChecks = false),
      };
    },
  },
  {
    name: 'storm-partition-primary',
    holdMs: (r) => r.int(4_000, 10_000),
    start: (world) => {
      const p = primary(world);
      world.host(p).refusesChecks = true;
      partition(world, p);
      return {
        describe: `${p}'s server full and ${p} cut off`,
        noPromotion: false,
        heal: () => {
          world.host(p).refusesChecks = false;
          world.network.healAll();
        },
      };
    },
  },
  {
    name: 'clock-step-primary',
    holdMs: (r) => r.int(4_000, 10_000),
    start: (world, random) => {
      const p = primary(world);
      const stepMs = random.pick([-30_000, 30_000]);
      world.host(p).wallOffsetMs += stepMs;
      partition(world, p);
      return {
        describe: `${p}'s wall clock stepped ${stepMs / 1000} s as it is cut off`,
        noPromotion: false,
        heal: () => world.network.healAll(),
      };
    },
  },
  {
    name: 'switchover',
    holdMs: () => 8_000,
    start: (world, random) => {
      const to = random.pick(standbys(world));
      world.table.askSwitchover(to, Date.now());
      return { describe: `switchover to ${to} asked`, noPromotion: false, heal: () => undefined };
    },
  },
  {
    name: 'switchover-cut-primary',
    holdMs: (r) => r.int(4_000, 10_000),
    start: (world, random) => {
      const p = primary(world);
      const to = random.pick(standbys(world));
      world.table.askSwitchover(to, Date.now());
      setTimeout(() => partition(world, p), random.int(0, 400));
      return { describe: `switchover to ${to}, then ${p} cut off`, noPromotion: false, heal: healNetwork(world) };
    },
  },
  {
    name: 'switchover-kill-target',
    holdMs: (r) => r.int(4_000, 10_000),
    start: (world, random) => {
      const to = random.pick(standbys(world));
      world.table.askSwitchover(to, Date.now());
      setTimeout(() => world.crashNode(to, 'fault'), random.int(0, 400));
      return {
        describe: `switchover to ${to}, then ${to} crashed`,
        noPromotion: false,
        heal: () => world.startAgent(to),
      };
    },
  },
  {
    name: 'double-fault',
    holdMs: (r) => r.int(6_000, 12_000),
    start: (world, random) => {
      const p = primary(world);
      world.crashNode(p, 'fault');
      let second: string | undefined;
      setTimeout(
        () => {
          second = bestStandby(world);
          if (second) world.crashNode(second, 'fault (the second)');
        },
        random.int(200, 3_500),
      );
      return {
        describe: `${p}'s node crashed, then the best standby's`,
        noPromotion: false,
        heal: () => {
          world.startAgent(p);
          if (second) world.startAgent(second);
        },
      };
    },
  },
  {
    // A standby's agent dies with "the primary answers" as its last vote; once that heartbeat is no longer
    // live, the primary's node crashes. The failover the design promises must not wait on the dead vote.
    name: 'dead-voter-then-crash-primary',
    holdMs: () => VOTE_GOES_STALE_MS + FAILOVER_PROMISE_MS + 1_000,
    start: (world, random) => {
      const p = primary(world);
      const voter = random.pick(standbys(world));
      world.killAgent(voter);
      let broken: string | undefined;
      setTimeout(() => {
        const term = world.table.cluster.term;
        if (world.table.cluster.primaryNodeId !== p || !world.server(p).running) return;
        world.crashNode(p, 'fault (after the dead vote)');
        setTimeout(() => {
          if (!failoverPromised(world) || world.table.cluster.term !== term) return;
          broken = `${p}'s node crashed with ${voter}'s agent dead, and no failover within ${FAILOVER_PROMISE_MS} ms (fencing ${world.options.fencing}, ${standbys(world).length} standbys)`;
        }, FAILOVER_PROMISE_MS);
      }, VOTE_GOES_STALE_MS);
      return {
        describe: `${voter}'s agent killed, then ${p}'s node crashed`,
        noPromotion: false,
        heal: () => {
          world.startAgent(voter);
          world.startAgent(p);
        },
        broken: () => broken,
      };
    },
  },
  {
    name: 'pause-evaluator',
    holdMs: (r) => r.int(1_000, 8_000),
    start: (world) => {
      world.network.pause('evaluator');
      return { describe: 'the evaluator paused', noPromotion: true, heal: () => world.network.resume('evaluator') };
    },
  },
];

/**
 * With one member's agent dead and the primary crashed, the rest of the members can fail over when fencing
 * proves the stop, or when they are a majority of the members by themselves (three standbys and a witness).
 */
function failoverPromised(world: World): boolean {
  return world.options.fencing !== 'agent' || standbys(world).length >= 3;
}

export function faultNamed(name: string): Fault {
  const fault = FAULTS.find((candidate) => candidate.name === name);
  if (!fault) throw new Error(`no fault ${name}; the faults are: ${FAULTS.map((f) => f.name).join(', ')}`);
  return fault;
}
