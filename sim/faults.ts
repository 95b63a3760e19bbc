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

/** Every member (and, when `evaluatorToo`, the evaluator) cut from the store: a regional outage. */
function storeOutage(world: World, evaluatorToo: boolean): void {
  for (const host of world.hosts) world.network.cutBetween(host.name, ['store']);
  if (evaluatorToo) world.network.cutBetween('evaluator', ['store']);
}

/** A store outage of any length changes no roles while peer leases are on and the primary keeps a majority. */
const ridesOutages = (world: World): boolean => world.options.peerLeases === true;

/**
 * Store outages (issue 24), drawn in runs with peer leases on: of every length, alone and combined with the
 * other faults, for everyone or for the primary alone.
 */
export const STORE_OUTAGE_FAULTS: Fault[] = [
  {
    name: 'store-outage',
    holdMs: (r) => r.pick([r.int(500, 3_000), r.int(3_000, 20_000), r.int(20_000, 90_000)]),
    start: (world, random) => {
      const evaluatorToo = random.chance(0.5);
      storeOutage(world, evaluatorToo);
      return {
        describe: `the store unreachable for every member${evaluatorToo ? ' and the evaluator' : ''}`,
        noPromotion: ridesOutages(world),
        heal: healNetwork(world),
      };
    },
  },
  {
    name: 'store-outage-primary-alone',
    holdMs: (r) => r.int(3_000, 40_000),
    start: (world) => {
      const p = primary(world);
      world.network.cutBetween(p, ['store', 'evaluator']);
      return { describe: `${p} cut from the store alone`, noPromotion: ridesOutages(world), heal: healNetwork(world) };
    },
  },
  {
    name: 'store-outage-member-partitioned',
    holdMs: (r) => r.int(5_000, 40_000),
    start: (world, random) => {
      const member = random.pick(peersOf(world, primary(world)));
      storeOutage(world, random.chance(0.5));
      setTimeout(() => world.network.cutBetween(member, peersOf(world, member)), random.int(0, 3_000));
      return {
        describe: `the store unreachable for everyone, then ${member} cut from its peers`,
        noPromotion: ridesOutages(world),
        heal: healNetwork(world),
      };
    },
  },
  {
    // The primary and half the members lose the store; the other members lose the primary. Those the primary
    // still reaches vouch for it while their heartbeats go stale; those that see it down are a minority.
    name: 'store-outage-split',
    holdMs: (r) => r.int(5_000, 30_000),
    start: (world, random) => {
      const p = primary(world);
      const members = peersOf(world, p)
        .map((name) => ({ name, key: random.next() }))
        .sort((a, b) => a.key - b.key)
        .map((entry) => entry.name);
      const keep = members.slice(0, Math.ceil(members.length / 2));
      const lose = members.slice(keep.length);
      for (const name of [p, ...keep]) world.network.cutBetween(name, ['store', 'evaluator']);
      for (const name of lose) world.network.cutBetween(name, [p]);
      return {
        describe: `${p}, ${keep.join(', ')} cut from the store; ${lose.join(', ')} cut from ${p}`,
        // ec2-stop may stop the silent primary and then fail over, rightly.
        noPromotion: ridesOutages(world) && world.options.fencing !== 'ec2-stop',
        heal: healNetwork(world),
      };
    },
  },
  {
    name: 'store-outage-then-crash-primary',
    holdMs: (r) => r.int(5_000, 30_000),
    start: (world, random) => {
      const p = primary(world);
      storeOutage(world, random.chance(0.5));
      setTimeout(() => world.crashNode(p, 'fault (during a store outage)'), random.int(0, 4_000));
      return {
        describe: `the store unreachable for everyone, then ${p}'s node crashed`,
        noPromotion: false,
        heal: () => {
          world.network.healAll();
          world.startAgent(p);
        },
      };
    },
  },
  {
    name: 'store-outage-pause-primary-agent',
    holdMs: (r) => r.int(3_000, 20_000),
    start: (world, random) => {
      storeOutage(world, random.chance(0.5));
      const paused = pausePrimaryAgent(world);
      return {
        describe: `the store unreachable for everyone and ${paused.describe}`,
        noPromotion: false,
        heal: () => {
          world.network.healAll();
          paused.heal();
        },
      };
    },
  },
  {
    name: 'store-outage-restart-agents',
    holdMs: (r) => r.int(5_000, 30_000),
    start: (world, random) => {
      storeOutage(world, random.chance(0.5));
      // Every agent restarted mid-outage: promises and bound votes come back from the vouch file.
      for (const host of world.hosts) {
        world.killAgent(host.name);
        setTimeout(() => world.startAgent(host.name), random.int(200, 1_500));
      }
      return {
        describe: 'the store unreachable for everyone, every agent restarted',
        // The restarted agents go on from their vouch and lease files: nobody is promoted.
        noPromotion: ridesOutages(world),
        heal: healNetwork(world),
      };
    },
  },
];

/**
 * With one member's agent dead and the primary crashed, the rest of the members can fail over when fencing
 * proves the stop, or when they are a majority of the members by themselves (three standbys and a witness).
 */
function failoverPromised(world: World): boolean {
  // With peer leases a watchdog proves nothing (the primary may hold vouches past its store lease).
  const proven =
    world.options.fencing === 'ec2-stop' || (world.options.fencing === 'watchdog' && !world.options.peerLeases);
  return proven || standbys(world).length >= 3;
}

export function faultNamed(name: string): Fault {
  const all = [...FAULTS, ...STORE_OUTAGE_FAULTS];
  const fault = all.find((candidate) => candidate.name === name);
  if (!fault) throw new Error(`no fault ${name}; the faults are: ${all.map((f) => f.name).join(', ')}`);
  return fault;
}
