// One seed: a cluster drawn from it (fencing, replication, size), faults drawn from it one after another,
// each held, healed and followed by a wait for the cluster to be whole again, all on virtual time (the global
// timers replaced by VirtualTime; Math.random by the seeded generator), so that the seed replays the
// run exactly. The invariants are checked at the events that could break them, not sampled.

import { FAULTS, faultNamed, STORE_OUTAGE_FAULTS, type Fault } from './faults.ts';
import { mutantNamed } from './mutants.ts';
import { Random } from './random.ts';
import { VirtualTime } from './virtual-time.ts';
import { CLIENTS, World, type Fencing } from './world.ts';

export interface RunOptions {
  seed: number;
  /** Fault names to draw from (default: all). */
  faults?: string[];
  mutant?: string;
  /** Simulated time to run faults for (ms). */
  durationMs?: number;
  /** Peer leases on or off for every seed (default: drawn per seed, on in about a third). */
  peerLeases?: boolean;
}

export interface RunResult {
  seed: number;
  setup: string;
  violations: string[];
  timeline: string[];
  promotions: number;
  faults: number;
  acknowledged: number;
  simulatedMs: number;
}

/** Every fault must be followed by one primary, every standby streaming from it, within this long. */
export const WHOLE_BOUND_MS = 60_000;
const START_MS = 1_800_000_000_000;
/** How long the cluster must stay whole to count as whole again: longer than the lease and its margin. */
const STABLE_MS = 3_000;
/**
 * How far a process's clock rate may differ from simulated time: 1 %, ten thousand times a real quartz
 * clock's drift and a fifth of what the lease margins absorb (docs/failover.md, "Why it is safe").
 */
export const MAX_CLOCK_DRIFT = 0.01;

/** Each process's clock rate, drawn from a generator of its own so that the seed's other draws stay put. */
function clockRates(seed: number, names: string[]): Record<string, number> {
  const drift = new Random(Math.imul(seed, 0x9e3779b1) ^ 0x5bd1e995);
  return Object.fromEntries(names.map((name) => [name, 1 + (drift.next() * 2 - 1) * MAX_CLOCK_DRIFT]));
}

/** Whether a seed runs with peer leases: drawn apart from the seed's other draws, so that theirs stay put. */
function drawsPeerLeases(seed: number): boolean {
  return new Random(Math.imul(seed, 0x85ebca6b) ^ 0xc2b2ae35).next() < 1 / 3;
}

export async function runSeed(options: RunOptions): Promise<RunResult> {
  const random = new Random(options.seed);
  const clock = VirtualTime.install(START_MS);
  const realRandom = Math.random;
  Math.random = () => random.next();
  let mend = () => undefined as void;
  try {
    const fencing = random.pick<Fencing>(['agent', 'watchdog', 'ec2-stop']);
    const synchronous = random.chance(0.7);
    const standbys = random.int(2, 3);
    const names = [...Array.from({ length: standbys + 1 }, (_, i) => `db${i + 1}`), 'witness', 'evaluator'];
    const peerLeases = options.peerLeases ?? drawsPeerLeases(options.seed);
    const world = new World(random, {
      standbys,
      fencing,
      synchronous,
      startMs: START_MS,
      clockRates: clockRates(options.seed, names),
      peerLeases,
    });
    const setup = `${standbys} standbys, fencing ${fencing}, ${synchronous ? 'synchronous' : 'asynchronous'}${peerLeases ? ', peer leases' : ''}`;
    if (options.mutant) mend = mutantNamed(options.mutant).apply(world);
    const checks = new Invariants(world);
    world.onChange = (what) => checks.onChange(what);
    // Store outages come with peer leases: without them an outage stops the primary by design.
    const faults: Fault[] = options.faults?.length
      ? options.faults.map(faultNamed)
      : peerLeases
        ? [...FAULTS, ...STORE_OUTAGE_FAULTS]
        : FAULTS;
    const durationMs = options.durationMs ?? 180_000;

    world.note(`seed ${options.seed}: ${setup}`);
    world.startEvaluator();
    for (const host of world.hosts) world.startAgent(host.name);
    setInterval(() => world.postgres.replicate(), 50);
    const writes = new Writers(world, checks);
    setInterval(() => writes.throughAddress(), 100);
    setInterval(() => writes.direct(), 200);

    const advance = (ms: number) => clock.advance(ms);
    // Whole at two looks a lease apart: a primary whose lease lapsed during the fault (a paused agent) is
    // still writable for an instant after the heal, and its fence and the failover belong to this fault.
    const whole = async (): Promise<boolean> => {
      let since: number | undefined;
      for (let waited = 0; waited < WHOLE_BOUND_MS; waited += 250) {
        await advance(250);
        if (checks.violations.length > 0) return true;
        for (const host of world.hosts) if (!host.agent) world.startAgent(host.name);
        if (!checks.whole()) since = undefined;
        else if (since === undefined) since = Date.now();
        else if (Date.now() - since >= STABLE_MS) return true;
      }
      return false;
    };
    if (!(await whole())) checks.violation(`the new cluster was not whole within ${WHOLE_BOUND_MS} ms`);
    let count = 0;
    while (Date.now() - START_MS < durationMs && checks.violations.length === 0) {
      const fault = random.pick(faults);
      const termBefore = world.table.cluster.term;
      const holdMs = fault.holdMs(random);
      const started = fault.start(world, random);
      count++;
      world.note(`FAULT ${fault.name}: ${started.describe}, held ${holdMs} ms`);
      await advance(holdMs);
      const broken = started.broken?.();
      if (broken) checks.violation(`${fault.name}: ${broken}`);
      started.heal();
      world.note(`healed ${fault.name}`);
      if (!(await whole()))
        checks.violation(
          `after ${fault.name} was healed, the cluster was not whole within ${WHOLE_BOUND_MS} ms: ${checks.describe()}`,
        );
      if (started.noPromotion && world.table.cluster.term !== termBefore)
        checks.violation(`${fault.name} (${started.describe}) led to a new term: promotion on a blip`);
      await advance(random.int(200, 3_000));
    }
    checks.final();
    world.stopAll();
    // What was in flight ends on this seed's timeline, not on the next one's.
    await advance(10_000);
    return {
      seed: options.seed,
      setup,
      violations: checks.violations,
      timeline: world.timeline,
      promotions: checks.promotions,
      faults: count,
      acknowledged: writes.acknowledged.size,
      simulatedMs: Date.now() - START_MS,
    };
  } finally {
    mend();
    Math.random = realRandom;
    clock.uninstall();
  }
}

/** The clients: one through the cluster address, one straight to each node, as in the lab. */
class Writers {
  readonly acknowledged = new Map<number, string>();
  private nextId = 1;

  constructor(
    private readonly world: World,
    private readonly checks: Invariants,
  ) {}

  throughAddress(): void {
    if (this.world.addressHolder) this.write(this.world.addressHolder);
  }

  direct(): void {
    for (const name of this.world.databases) this.write(name);
  }

  private write(name: string): void {
    const { network, postgres } = this.world;
    if (!network.up(CLIENTS, name) || !network.up(name, CLIENTS)) return;
    const id = this.nextId++;
    void postgres.commit(postgres.server(name), id).then((ok) => {
      if (ok && network.up(name, CLIENTS)) {
        this.acknowledged.set(id, name);
        this.checks.acknowledged.set(id, name);
      }
    });
  }
}

class Invariants {
  readonly violations: string[] = [];
  readonly acknowledged = new Map<number, string>();
  promotions = 0;

  constructor(private readonly world: World) {}

  violation(what: string): void {
    if (this.violations.length === 0) this.world.note(`VIOLATION: ${what}`);
    this.violations.push(what);
  }

  /** Every change of a server's role or state passes here. */
  onChange(what: string): void {
    if (!what.includes(' promoted')) return;
    this.promotions++;
    const writable = this.world.postgres.writable().map((server) => server.name);
    if (writable.length > 1) this.violation(`two writable servers at once: ${writable.join(', ')} (${what})`);
    this.lostOn(writable[writable.length - 1]);
  }

  /** With a synchronous standby, every acknowledged commit is in the WAL of whoever is promoted. */
  private lostOn(name: string | undefined): void {
    if (!name || !this.world.options.synchronous) return;
    const wal = new Set(this.world.server(name).wal);
    // The documented exception (docs/failover.md): a commit held only by standbys that are down when the
    // candidate is chosen (a double fault) cannot be caught up; it is lost and the candidate's log says so.
    const heldByDown = (id: number) =>
      this.world.postgres.servers.some((s) => !s.running && s.name !== this.acknowledged.get(id) && s.wal.includes(id));
    const lost = [...this.acknowledged.keys()].filter((id) => !wal.has(id) && !heldByDown(id));
    if (lost.length > 0)
      this.violation(
        `${lost.length} acknowledged commits missing on ${name} (first: ${lost[0]}, acknowledged by ${this.acknowledged.get(lost[0] as number)})`,
      );
  }

  whole(): boolean {
    const { table, postgres, addressHolder } = this.world;
    const primary = table.cluster.primaryNodeId;
    if (table.cluster.phase !== 'steady' || !primary || addressHolder !== primary) return false;
    const writable = postgres.writable();
    if (writable.length !== 1 || writable[0]?.name !== primary) return false;
    return postgres.servers.every(
      (s) => s.name === primary || (s.running && s.inRecovery && s.streaming && s.upstream === primary),
    );
  }

  describe(): string {
    const { table, postgres, addressHolder } = this.world;
    const servers = postgres.servers.map(
      (s) =>
        `${s.name} ${!s.running ? 'stopped' : s.inRecovery ? `standby of ${s.upstream ?? '?'}${s.streaming ? '' : ' (NOT streaming)'}` : 'WRITABLE'}`,
    );
    return `term ${table.cluster.term} phase ${table.cluster.phase} primary ${table.cluster.primaryNodeId ?? 'none'} address on ${addressHolder ?? 'none'}; ${servers.join(', ')}`;
  }

  final(): void {
    const writable = this.world.postgres.writable();
    if (writable.length === 1) this.lostOn(writable[0]?.name);
  }
}
