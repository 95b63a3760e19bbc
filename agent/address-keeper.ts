// secondary-ip: keeps the cluster address on this host's interface exactly while core/agent-host-rules.ts
// (holdsAddress) says so, one change at a time (the heartbeat and a goal step may both ask, and each must
// see what the other did). It owns what it holds and the term it is promoting in.

import type { Logger } from '@aws-lambda-powertools/logger';
import { holdsAddress } from '../core/agent-host-rules.ts';
import type { ClusterRecord } from '../core/records.ts';
import type { NodeOps } from './ports/node-ops.ts';

export interface AddressKeeperHost {
  nodeId: string;
  term(): number;
  /** The last term in which a switchover stopped this primary's server, or null. */
  demoteStopped(): number | null;
  writable(): boolean;
}

export class AddressKeeper {
  private holding: string | null = null;
  /** The term this node is being promoted in, while pg_promote() runs. */
  private promotingTerm: number | null = null;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly ops: Pick<NodeOps, 'holdAddress'>,
    private readonly logger: Pick<Logger, 'info' | 'error'>,
    private readonly host: AddressKeeperHost,
  ) {}

  /** pg_promote() is about to run (or has run: null) for `term`: the address comes up before it. */
  promoting(term: number | null): void {
    this.promotingTerm = term;
  }

  /**
   * The address is on this host's interface while this node is the primary of the current term, from the
   * moment it is writable (or just before it promotes) until a newer term names another primary, its
   * switchover's server has stopped, or the failover is halted. Holding it where the network does not send
   * it is harmless (the network delivers it to the holder of record only), and saves a round trip once it
   * is moved.
   */
  sync(goal: ClusterRecord): Promise<void> {
    const next = this.queue.then(() => this.syncNow(goal));
    this.queue = next;
    return next;
  }

  private async syncNow(goal: ClusterRecord): Promise<void> {
    const ip = goal.address.mode === 'secondary-ip' ? goal.address.value : null;
    const shouldHold = holdsAddress({
      ip,
      primaryOfTerm: goal.primaryNodeId === this.host.nodeId && goal.term === this.host.term(),
      phase: goal.phase,
      demoteStopped: this.host.demoteStopped() === goal.term,
      writable: this.host.writable(),
      holding: this.holding,
      promotingNow: this.promotingTerm === goal.term,
    });
    try {
      if (ip !== null && shouldHold && this.holding !== ip) {
        await this.ops.holdAddress(ip, true);
        this.holding = ip;
        this.logger.info(`address ${ip} brought up on this host`);
      } else if (!shouldHold && this.holding !== null) {
        await this.ops.holdAddress(this.holding, false);
        this.logger.info(`address ${this.holding} taken off this host`);
        this.holding = null;
      }
    } catch (error) {
      this.logger.error("could not change the address on this host's interface; retrying next heartbeat", {
        error: String(error),
      });
    }
  }
}
