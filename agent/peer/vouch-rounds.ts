// The primary's side of peer leases (docs/peer-leases.md): while its renewals through the store fail, it asks
// every member for a vouch each VOUCH_ROUND_INTERVAL_MS, counts each grant from when its ask was sent, and
// extends its lease to where a majority of the voting members (itself included, unless its own down vote
// binds it) still vouch. The lease keeper does the rest as for a store renewal: the file, the watchdog, the
// fence at the end.

import { randomBytes } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { AgentConfig } from '../../core/agent-config.ts';
import type { Clock } from '../../core/clock.ts';
import { peerValidUntil, VOUCH_ROUND_INTERVAL_MS, vouchCountsUntil } from '../../core/peer-lease.ts';
import type { PeerChannel } from '../ports/peer-channel.ts';
import type { VouchAnswer } from './peer-messages.ts';
import type { PeerView } from './vouch-file.ts';

/** Rounds whose answers still count (answers to older ones are dropped; a later round asks again). */
const ROUNDS_KEPT = 16;

export interface VouchRoundsHost {
  /** The goal and membership as peer leases see them (agent/peer/voucher.ts view). */
  view(): PeerView | undefined;
  /** The store renewals fail and this node should hold the lease: ask. */
  wantsVouches(): boolean;
  /** The lease keeper's generation now (bumped whenever the lease is given up). */
  leaseGeneration(): number;
  /** Extends the lease to `endMonoMs`, unless it was given up since `generation`. */
  extendLease(endMonoMs: number, generation: number): Promise<void>;
  /** The primary's own down vote binds it: it does not count itself. */
  selfBound(): boolean;
  pause(ms: number): Promise<void>;
  readonly stopping: AbortSignal;
}

interface Round {
  term: number;
  sentMonoMs: number;
  generation: number;
}

export class VouchRounds {
  private readonly rounds = new Map<string, Round>();
  /** Per member, until when its latest vouch counts (this node's monotonic clock), in `countedTerm`. */
  private readonly counted = new Map<string, number>();
  private countedTerm = -1;
  private asking = false;

  constructor(
    private readonly deps: {
      config: AgentConfig;
      clock: Clock;
      logger: Pick<Logger, 'info' | 'warn'>;
      channel: PeerChannel;
    },
    private readonly host: VouchRoundsHost,
  ) {
    deps.channel.onMessage((message) => {
      if (message.kind === 'answer') this.take(message);
    });
  }

  async loop(): Promise<void> {
    while (!this.host.stopping.aborted) {
      const asking = this.host.wantsVouches();
      if (asking !== this.asking)
        this.deps.logger.info(
          asking
            ? 'the store does not renew the lease: asking the members to vouch for this primary'
            : 'no longer asking the members to vouch',
        );
      this.asking = asking;
      if (asking) this.round();
      await this.host.pause(VOUCH_ROUND_INTERVAL_MS);
    }
  }

  /** Sends one round of asks; the answers are taken as they come. */
  round(): void {
    const { config, clock, channel } = this.deps;
    const view = this.host.view();
    if (!view || view.primaryNodeId !== config.nodeId || !config.peerLeases) return;
    const nonce = randomBytes(16).toString('hex');
    this.rounds.set(nonce, {
      term: view.term,
      sentMonoMs: clock.monotonicMs(),
      generation: this.host.leaseGeneration(),
    });
    if (this.rounds.size > ROUNDS_KEPT) this.rounds.delete(this.rounds.keys().next().value as string);
    for (const nodeId of Object.keys(config.peerLeases.peers))
      channel.send(nodeId, {
        kind: 'ask',
        cluster: config.cluster,
        from: config.nodeId,
        to: nodeId,
        term: view.term,
        nonce,
        promiseMs: view.leaseDurationMs,
      });
  }

  private take(answer: VouchAnswer): void {
    const round = this.rounds.get(answer.nonce);
    if (!round || !answer.granted || answer.term !== round.term) return;
    const voters = this.host.view()?.voters;
    if (!voters?.includes(answer.from)) return;
    if (round.term !== this.countedTerm) {
      this.counted.clear();
      this.countedTerm = round.term;
    }
    const until = vouchCountsUntil(round.sentMonoMs, answer.promiseMs);
    this.counted.set(answer.from, Math.max(this.counted.get(answer.from) ?? until, until));
    const validUntil = peerValidUntil([...this.counted.values()], voters.length, !this.host.selfBound());
    if (validUntil !== null && validUntil > this.deps.clock.monotonicMs())
      void this.host.extendLease(validUntil, round.generation);
  }
}
