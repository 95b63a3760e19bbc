// Peer leases in one agent (docs/peer-leases.md): this member's vouches (voucher.ts) and, as the primary, its
// asks (vouch-rounds.ts), working with the agent's own parts. The agent asks it for the vote to report and
// tells it every heartbeat; everything else happens on the peer channel and the lease keeper.

import type { LocalHealth } from '../../core/local-health.ts';
import type { ClusterRecord, HeartbeatRecord } from '../../core/records.ts';
import { Voucher, type VoucherDeps } from './voucher.ts';
import { VouchRounds } from './vouch-rounds.ts';
import type { AgentDeps } from '../deps.ts';
import type { GoalState } from '../goal-state.ts';
import type { HeartbeatWriter } from '../heartbeat-writer.ts';
import type { LeaseKeeper } from '../lease-keeper.ts';
import type { LocalChecks } from '../local-checks.ts';
import type { PrimaryChecks } from '../primary-checks.ts';

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

export class PeerLeases {
  private readonly voucher: Voucher;
  private readonly rounds: VouchRounds;

  constructor(
    private readonly deps: VoucherDeps,
    private readonly parts: PeerLeasesParts,
  ) {
    const { config, clock, logger, channel } = deps;
    const { known, primaryChecks, beats, lease } = parts;
    const voucher = (this.voucher = new Voucher(deps, {
      seesDown: (nodeId) => primaryChecks.primaryNodeId === nodeId && primaryChecks.health.status === 'DOWN',
      writeHeartbeat: () => beats.write('UP', true),
    }));
    known.onChange(() => voucher.learn(known.goal, known.membership));
    this.rounds = new VouchRounds(
      { config, clock, logger, channel },
      {
        view: () => voucher.view(),
        wantsVouches: () => this.wantsVouches(),
        leaseGeneration: () => lease.generationNow,
        extendLease: (endMonoMs, generation) => lease.extendByPeers(endMonoMs, generation),
        selfBound: () => voucher.boundOn(config.nodeId),
        pause: parts.pause,
        stopping: parts.stopping,
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
    const { known, lease, local, renews } = this.parts;
    if (!lease.held) return false;
    const goal = known.goal;
    if (goal) return goal.policy.peerLeases && lease.renewalsFailing() && renews(goal);
    const kept = this.voucher.view();
    return kept?.peerLeases === true && kept.primaryNodeId === this.deps.config.nodeId && local.writable();
  }
}

/** Peer leases for an agent whose config and deps have them, or undefined. */
export function wirePeerLeases(deps: AgentDeps, parts: PeerLeasesParts): PeerLeases | undefined {
  const { config, clock, logger, store, peers } = deps;
  return config.peerLeases && peers ? new PeerLeases({ config, clock, logger, store, ...peers }, parts) : undefined;
}
