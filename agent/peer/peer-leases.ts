// Peer leases in one agent (docs/peer-leases.md): this member's vouches (voucher.ts) and, as the primary, its
// asks (vouch-rounds.ts), wired to the agent through one host. The agent asks it for the vote to report and
// tells it every heartbeat; everything else happens on the peer channel and the lease keeper.

import type { Logger } from '@aws-lambda-powertools/logger';
import type { AgentConfig } from '../../core/agent-config.ts';
import type { Clock } from '../../core/clock.ts';
import type { LocalHealth } from '../../core/local-health.ts';
import type { ClusterRecord, HeartbeatRecord, MembershipRecord } from '../../core/records.ts';
import type { HeartbeatStore } from '../ports/heartbeat-store.ts';
import type { PeerChannel } from '../ports/peer-channel.ts';
import type { VouchMemory } from './vouch-file.ts';
import { Voucher } from './voucher.ts';
import { VouchRounds } from './vouch-rounds.ts';
import type { AgentDeps } from '../deps.ts';
import type { GoalState } from '../goal-state.ts';
import type { HeartbeatWriter } from '../heartbeat-writer.ts';
import type { LeaseKeeper } from '../lease-keeper.ts';
import type { LocalChecks } from '../local-checks.ts';
import type { PrimaryChecks } from '../primary-checks.ts';

export interface PeerLeasesDeps {
  config: AgentConfig;
  clock: Clock;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  store: Pick<HeartbeatStore, 'withdrawVote'>;
  channel: PeerChannel;
  memory: VouchMemory;
}

export interface PeerLeasesHost {
  goal(): ClusterRecord | undefined;
  membership(): MembershipRecord | undefined;
  /** Calls `listener` after each goal or membership learned. */
  onLearned(listener: () => void): void;
  /** This member's own check of `primaryNodeId`'s database says DOWN now. */
  seesDown(primaryNodeId: string): boolean;
  /** Writes a heartbeat now, whatever it repeats, and resolves once the store has it. */
  writeHeartbeat(): Promise<void>;
  /** With a goal: this node renews the lease by the rule table, and its store renewals fail. */
  renewalsFailing(goal: ClusterRecord): boolean;
  lease: {
    held(): boolean;
    generation(): number;
    extend(endMonoMs: number, generation: number): Promise<void>;
  };
  /** The local server is known writable. */
  writable(): boolean;
  pause(ms: number): Promise<void>;
  readonly stopping: AbortSignal;
}

export class PeerLeases {
  private readonly voucher: Voucher;
  private readonly rounds: VouchRounds;

  constructor(
    private readonly deps: PeerLeasesDeps,
    private readonly host: PeerLeasesHost,
  ) {
    const { config, clock, logger, store, channel, memory } = deps;
    const voucher = (this.voucher = new Voucher(
      { config, clock, logger, store, channel, memory },
      { seesDown: (nodeId) => host.seesDown(nodeId), writeHeartbeat: () => host.writeHeartbeat() },
    ));
    host.onLearned(() => voucher.learn(host.goal(), host.membership()));
    this.rounds = new VouchRounds(
      { config, clock, logger, channel },
      {
        view: () => voucher.view(),
        wantsVouches: () => this.wantsVouches(),
        leaseGeneration: () => host.lease.generation(),
        extendLease: (endMonoMs, generation) => host.lease.extend(endMonoMs, generation),
        selfBound: () => voucher.boundOn(config.nodeId),
        pause: (ms) => host.pause(ms),
        stopping: host.stopping,
      },
    );
  }

  /** The primary's rounds of asks, while it wants vouches. */
  loop(): Promise<void> {
    return this.rounds.loop();
  }

  /** The vote this member reports on `primaryNodeId`: never "down" while its promise to it runs. */
  vote(primaryNodeId: string, health: LocalHealth): LocalHealth {
    return health.status === 'DOWN' && this.voucher.promising(primaryNodeId)
      ? { ...health, status: 'UP', reason: `vouched for (a peer lease runs); own check: ${health.reason}` }
      : health;
  }

  /** Every heartbeat, before it is written (a down vote binds first). */
  noteHeartbeat(beat: HeartbeatRecord, isPrimary: boolean): void {
    this.voucher.noteHeartbeat(beat, isPrimary);
  }

  close(): Promise<void> {
    return this.deps.channel.close();
  }

  /**
   * The primary asks while its store renewals fail; an agent restarted while the store is away has read no
   * goal, and asks on what it kept (the view and the lease file) while its server is writable.
   */
  private wantsVouches(): boolean {
    if (!this.host.lease.held()) return false;
    const goal = this.host.goal();
    if (goal) return goal.policy.peerLeases && this.host.renewalsFailing(goal);
    const kept = this.voucher.view();
    return kept?.peerLeases === true && kept.primaryNodeId === this.deps.config.nodeId && this.host.writable();
  }
}

/** The agent's parts peer leases work with. */
export interface PeerLeasesParts {
  known: GoalState;
  primaryChecks: Pick<PrimaryChecks, 'primaryNodeId' | 'health'>;
  beats: Pick<HeartbeatWriter, 'write'>;
  lease: Pick<LeaseKeeper, 'held' | 'generationNow' | 'extendByPeers' | 'renewalsFailing'>;
  local: Pick<LocalChecks, 'writable'>;
  /** This node renews the lease of `goal` by the rule table. */
  renews: (goal: ClusterRecord) => boolean;
  pause: (ms: number) => Promise<void>;
  stopping: AbortSignal;
}

/** Peer leases for an agent whose config and deps have them, or undefined. */
export function wirePeerLeases(deps: AgentDeps, parts: PeerLeasesParts): PeerLeases | undefined {
  const { config, clock, logger, store, peers } = deps;
  if (!config.peerLeases || !peers) return undefined;
  const { known, primaryChecks, beats, lease, local } = parts;
  return new PeerLeases(
    { config, clock, logger, store, ...peers },
    {
      goal: () => known.goal,
      membership: () => known.membership,
      onLearned: (listener) => void known.onChange(listener),
      seesDown: (nodeId) => primaryChecks.primaryNodeId === nodeId && primaryChecks.health.status === 'DOWN',
      writeHeartbeat: () => beats.write('UP', true),
      renewalsFailing: (goal) => lease.renewalsFailing() && parts.renews(goal),
      lease: {
        held: () => lease.held,
        generation: () => lease.generationNow,
        extend: (endMonoMs, generation) => lease.extendByPeers(endMonoMs, generation),
      },
      writable: () => local.writable(),
      pause: parts.pause,
      stopping: parts.stopping,
    },
  );
}
