// The whole cluster in one process on one simulated timeline: the real evaluator and the real agents, over
// the in-memory table, simulated servers, network and clocks. Everything waits on the global timers, which
// the run (sim/run.ts) replaces with virtual ones; the world itself only assembles and carries out faults.

import type { Logger } from '@aws-lambda-powertools/logger';
import { Agent } from '../agent/agent.ts';
import type { HeartbeatStore } from '../agent/ports/heartbeat-store.ts';
import type { Timers } from '../agent/ports/timers.ts';
import { parseAgentConfig } from '../core/agent-config.ts';
import type { Clock } from '../core/clock.ts';
import { LEASE_REQUEST_TIMEOUT_MS } from '../core/lease-timing.ts';
import {
  DEFAULT_CLUSTER_POLICY,
  newClusterRecord,
  SK,
  type ClusterRecord,
  type MembershipRecord,
} from '../core/records.ts';
import { Evaluator, EVALUATION_PERIOD_MS, type EvaluatorDeps } from '../lambdas/evaluator/evaluator.ts';
import { HostDisk, SimWatchdog, simNodeOps } from './host.ts';
import { MemoryTable } from './memory-store.ts';
import { Network } from './network.ts';
import { PeerHub } from './peer-hub.ts';
import { SimPostgres, type SimServer } from './postgres.ts';
import type { Random } from './random.ts';

export const CLUSTER = 'sim';
const STORE = 'store';
const EVALUATOR = 'evaluator';
export const CLIENTS = 'clients';
/** The agent's store client's request timeout (agent/main.ts: two heartbeat intervals, 1–4 s). */
const STORE_TIMEOUT_MS = 4000;

export type Fencing = ClusterRecord['policy']['fencing'];

export interface WorldOptions {
  standbys: number;
  fencing: Fencing;
  synchronous: boolean;
  startMs: number;
  /**
   * How fast each process's clock runs against simulated time (1 = exactly; the evaluator's under
   * 'evaluator'); those missing run at 1. Drift shows in the monotonic clock, the timers and the watchdog.
   */
  clockRates?: Record<string, number>;
  /** Peer leases on: in the policy and in every agent (docs/peer-leases.md). */
  peerLeases?: boolean;
}

interface Host {
  name: string;
  witness: boolean;
  disk: HostDisk;
  watchdog: SimWatchdog;
  generation: number;
  process: string;
  agent: Agent | undefined;
  /** Wall clock offset (a step) and the server's check refusals (a connection storm). */
  wallOffsetMs: number;
  refusesChecks: boolean;
}

const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

export class World {
  readonly network: Network;
  readonly peers: PeerHub;
  readonly table: MemoryTable;
  readonly postgres: SimPostgres;
  readonly hosts: Host[];
  readonly timeline: string[] = [];
  addressHolder: string | null = null;
  private evaluatorStop = new AbortController();
  onChange: (what: string) => void = () => undefined;

  constructor(
    readonly random: Random,
    readonly options: WorldOptions,
  ) {
    this.network = new Network(random);
    this.peers = new PeerHub(this.network);
    const databases = Array.from({ length: options.standbys + 1 }, (_, i) => `db${i + 1}`);
    const names = [...databases, 'witness'];
    this.postgres = new SimPostgres(databases, (name) => this.addressOf(name), this.network, options.synchronous);
    this.table = new MemoryTable(this.initialCluster(), this.initialMembership(names));
    this.hosts = names.map((name) => {
      const host: Host = {
        name,
        witness: name === 'witness',
        disk: new HostDisk(),
        watchdog: new SimWatchdog(() => this.watchdogFired(name), this.monotonicOf(name), this.timersOf(name)),
        generation: 0,
        process: `${name}#0`,
        agent: undefined,
        wallOffsetMs: 0,
        refusesChecks: false,
      };
      return host;
    });
  }

  addressOf(name: string): string {
    return name === 'witness' ? '10.0.0.100' : `10.0.0.${name.slice(2)}`;
  }

  get databases(): string[] {
    return this.postgres.servers.map((server) => server.name);
  }

  server(name: string): SimServer {
    return this.postgres.server(name);
  }

  host(name: string): Host {
    const found = this.hosts.find((host) => host.name === name);
    if (!found) throw new Error(`no host ${name}`);
    return found;
  }

  note(line: string): void {
    this.timeline.push(`${String(Date.now() - this.options.startMs).padStart(7)} ms  ${line}`);
  }

  changed(what: string): void {
    this.note(what);
    this.onChange(what);
  }

  private initialCluster(): ClusterRecord {
    return newClusterRecord(
      {
        cluster: CLUSTER,
        primaryNodeId: 'db1',
        address: { mode: 'local', value: '10.0.0.200:5432', holderNodeId: null },
        policy: {
          ...DEFAULT_CLUSTER_POLICY,
          fencing: this.options.fencing,
          autoRejoin: true,
          peerLeases: this.options.peerLeases === true,
        },
      },
      this.options.startMs,
    );
  }

  private initialMembership(names: string[]): MembershipRecord {
    return {
      cluster: CLUSTER,
      sk: SK.membership,
      version: 1,
      allowed: names.map((nodeId) => ({
        nodeId,
        address: this.addressOf(nodeId),
        role: nodeId === 'witness' ? ('witness' as const) : ('database' as const),
      })),
      priority: [],
      updatedAtMs: this.options.startMs,
    };
  }

  private rateOf(name: string): number {
    return this.options.clockRates?.[name] ?? 1;
  }

  /** A process's monotonic clock: simulated time at the process's rate. */
  private monotonicOf(name: string): () => number {
    const rate = this.rateOf(name);
    const startMs = this.options.startMs;
    return () => startMs + (Date.now() - startMs) * rate;
  }

  /** A process's clocks: the wall clock with its host's steps, the monotonic clock at its host's rate. */
  clockOf(name: string): Clock {
    const host = name === EVALUATOR ? undefined : this.host(name);
    return { nowMs: () => Date.now() + (host?.wallOffsetMs ?? 0), monotonicMs: this.monotonicOf(name) };
  }

  /** A process's timers, at its clock's rate: a wait of `ms` on a fast clock is over sooner. */
  timersOf(name: string): Timers {
    const rate = this.rateOf(name);
    return { start: (fire, ms) => setTimeout(fire, ms / rate), cancel: (handle) => clearTimeout(handle as number) };
  }

  // ---- the processes --------------------------------------------------------------------------

  startEvaluator(): void {
    const table = this.table;
    const call = <T>(work: () => T) => this.network.call(EVALUATOR, STORE, STORE_TIMEOUT_MS, work);
    const store: EvaluatorDeps['store'] = {
      readSnapshot: () => call(() => table.readSnapshot()),
      getCluster: () => call(() => table.readSnapshot().cluster),
      writeCluster: (next, expected) => call(() => table.writeCluster(next, expected)),
      recordAddressHolder: (read, holder, atMs) => call(() => table.recordAddressHolder(read, holder, atMs)),
      recordNodeStopped: (read, atMs) => call(() => table.recordNodeStopped(read, atMs)),
      appendHistory: (entry) => call(() => table.appendHistory(entry)),
      listClusters: () => call(() => [CLUSTER]),
      claimEvaluation: (owner, _nowMs, evaluating) => call(() => void (table.owner = { owner, evaluating })),
      evaluationOwner: () => call(() => table.owner),
    };
    const logger = {
      ...silent,
      // Each rule the evaluator moves to, with its reason (it logs a rule once, when it changes).
      info: (message: string) => {
        if (!/: recorded /.test(message)) this.note(`evaluator ${message.replace(`${CLUSTER}: `, '')}`);
      },
    } as unknown as Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
    const evaluator = new Evaluator({
      store,
      moverFor: () => ({
        moveTo: async (target) => {
          this.addressHolder = target.nodeId;
          this.changed(`address moved to ${target.nodeId}`);
        },
      }),
      fencerFor: () => ({
        stop: async (target) => {
          this.crashNode(target.nodeId, 'its instance stopped by the evaluator (ec2-stop)');
          return 'stopped';
        },
      }),
      notifier: { notify: async () => undefined },
      clock: this.clockOf(EVALUATOR),
      logger,
      actor: 'evaluator:sim',
    });
    void evaluator.runUntil(Number.MAX_SAFE_INTEGER, EVALUATION_PERIOD_MS, this.evaluatorStop.signal);
  }

  stopAll(): void {
    this.evaluatorStop.abort();
    for (const host of this.hosts) this.killAgent(host.name);
  }

  startAgent(name: string): void {
    const host = this.host(name);
    if (host.agent) return;
    host.generation++;
    host.process = `${name}#${host.generation}`;
    const process = host.process;
    const config = parseAgentConfig({
      cluster: CLUSTER,
      nodeId: name,
      address: this.addressOf(name),
      role: host.witness ? 'witness' : 'database',
      ...(host.witness ? {} : { database: { dataDirectory: `/sim/${name}` } }),
      ...(this.options.peerLeases
        ? {
            peerLeases: {
              keyFile: '/sim/peer.key',
              peers: Object.fromEntries(
                this.hosts
                  .filter((other) => other !== host)
                  .map((other) => [other.name, `${this.addressOf(other.name)}:7654`]),
              ),
            },
          }
        : {}),
    });
    const table = this.table;
    const storeCall =
      (timeoutMs: number) =>
      <T>(work: () => T) =>
        this.network.call(name, STORE, timeoutMs, work, process);
    const call = storeCall(STORE_TIMEOUT_MS);
    const renew = (nodeId: string, term: number, durationMs: number) =>
      table.leaseUpdate(nodeId, term, (r) => ({
        ...r,
        leaseRenewals: r.leaseRenewals + 1,
        leaseGrantedMs: durationMs,
      }));
    const store: HeartbeatStore = {
      getMembership: () => call(() => table.getMembership()),
      getCluster: () => call(() => table.getCluster()),
      putHeartbeat: (beat) => call(() => table.putHeartbeat(beat)),
      recordRejected: () => call(() => undefined),
      deleteRejected: () => call(() => undefined),
      renewLease: (_cluster, nodeId, term, durationMs) => call(() => renew(nodeId, term, durationMs)),
      releaseLease: (_cluster, nodeId, term) =>
        call(
          () =>
            void table.leaseUpdate(nodeId, term, (r) => ({
              ...r,
              leaseReleased: true,
              leaseRenewals: r.leaseRenewals + 1,
            })),
        ),
      withdrawVote: (_cluster, nodeId, term, nowMs) => call(() => table.withdrawVote(nodeId, term, nowMs)),
      appendHistory: (entry) => call(() => table.appendHistory(entry)),
    };
    const leaseCall = storeCall(LEASE_REQUEST_TIMEOUT_MS);
    const gate = () => this.network.gate(process);
    const watchdog = host.watchdog;
    const agent = new Agent({
      config,
      store,
      leaseStore: {
        renewLease: (_cluster, nodeId, term, durationMs) => leaseCall(() => renew(nodeId, term, durationMs)),
      },
      ops: simNodeOps(this.hostContext(name, process)),
      clock: this.clockOf(name),
      timers: this.timersOf(name),
      logger: {
        ...silent,
        // Peer leases: who vouches and who refuses, and why.
        info: (message: string) => {
          if (/vouch|withdraw/.test(message) && !this.network.isPaused(process)) this.note(`${name} agent: ${message}`);
        },
        error: (message: string) => {
          if (!this.network.isPaused(process)) this.note(`${name} agent: ${message}`);
        },
      } as unknown as Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>,
      host: {
        hostname: name,
        address: this.addressOf(name),
        dbPort: 5432,
        privateIp: null,
        instanceId: null,
        eniId: null,
      },
      bootId: `${process}`,
      ...(this.options.fencing === 'watchdog' && !host.witness
        ? {
            watchdog: {
              describe: watchdog.describe,
              arm: async (deadline: number) => gate().then(() => watchdog.arm(deadline)),
              disarm: async () => gate().then(() => watchdog.disarm()),
            },
          }
        : {}),
      progressStore: host.disk.progressStore(),
      leaseMemory: host.disk.leaseMemory(),
      ...(this.options.peerLeases
        ? { peers: { channel: this.peers.channelFor(name, process), memory: host.disk.vouchMemory() } }
        : {}),
    });
    host.agent = agent;
    agent.start();
  }

  private hostContext(name: string, process: string) {
    const host = this.host(name);
    return {
      name,
      process,
      server: host.witness ? null : this.server(name),
      postgres: this.postgres,
      network: this.network,
      refusesChecks: () => host.refusesChecks,
      changed: (what: string) => this.changed(what),
    };
  }

  /** SIGKILL: the process stops where it is; nothing it had in flight arrives any more. */
  killAgent(name: string): void {
    const host = this.host(name);
    if (!host.agent) return;
    this.network.pause(host.process);
    // Its loops end (no timer of a dead process stays behind); whatever it would still do on the way out
    // (a last heartbeat, disarming the watchdog) goes through ports that hold it for ever.
    void host.agent.stop();
    host.agent = undefined;
  }

  /** The node's instance is gone: server and agent stop at once; on reboot the lease file is of another boot. */
  crashNode(name: string, why: string): void {
    const server = this.postgres.servers.find((s) => s.name === name);
    if (server?.running) this.postgres.stop(server);
    this.killAgent(name);
    const host = this.host(name);
    void host.watchdog.disarm();
    host.disk.reboot();
    this.changed(`${name} crashed: ${why}`);
  }

  private watchdogFired(name: string): void {
    const server = this.server(name);
    if (!server.running) return;
    this.postgres.stop(server);
    this.changed(`${name} stopped by its watchdog`);
  }
}
