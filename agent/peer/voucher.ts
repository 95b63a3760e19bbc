// A member's side of peer leases (docs/peer-leases.md): it answers the primary's asks by the rules in
// core/peer-lease.ts, keeps its promise (a vouch is a promise not to vote the primary down for a while) and
// its bound vote on disk before it says anything, and withdraws a down vote through the store before it
// vouches again. The primary has one too: its own "database DOWN" binds it the same way.

import type { Logger } from '@aws-lambda-powertools/logger';
import type { AgentConfig } from '../../core/agent-config.ts';
import type { Clock } from '../../core/clock.ts';
import { decideVouch } from '../../core/peer-lease.ts';
import type { ClusterRecord, HeartbeatRecord, MembershipRecord } from '../../core/records.ts';
import type { HeartbeatStore } from '../ports/heartbeat-store.ts';
import type { PeerChannel } from '../ports/peer-channel.ts';
import type { VouchAsk } from './peer-messages.ts';
import { sayOnce } from './say-once.ts';
import type { PeerView, VouchMemory, VouchState } from './vouch-file.ts';

export interface VoucherDeps {
  config: AgentConfig;
  clock: Clock;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  store: Pick<HeartbeatStore, 'withdrawVote'>;
  channel: PeerChannel;
  memory: VouchMemory;
}

export interface VoucherHost {
  /** This member's own check of `primaryNodeId`'s database says DOWN now. */
  seesDown(primaryNodeId: string): boolean;
  /** Writes a heartbeat now, whatever it repeats, and resolves once the store has it. */
  writeHeartbeat(): Promise<void>;
}

/** A binding this member withdraws of its own accord is tried again at most this often while it fails. */
const WITHDRAWAL_RETRY_MS = 5000;

export class Voucher {
  private state: VouchState;
  /** Bumped by every bind: a withdrawal clears only the binding it was made for. */
  private binds = 0;
  private withdrawing: Promise<boolean> | null = null;
  private lastWithdrawalMonoMs = Number.NEGATIVE_INFINITY;
  private readonly sayOnce: (line: string) => void;

  constructor(
    private readonly deps: VoucherDeps,
    private readonly host: VoucherHost,
  ) {
    this.sayOnce = sayOnce((line) => deps.logger.info(line));
    this.state = deps.memory.load(deps.clock.monotonicMs());
    if (this.state.promise)
      deps.logger.info(
        `a vouch for ${this.state.promise.primaryNodeId} is recorded: no down vote on it for ${Math.max(0, this.state.promise.endMonoMs - deps.clock.monotonicMs())} ms`,
      );
    deps.channel.onMessage((message) => {
      if (message.kind === 'ask') void this.answer(message);
    });
  }

  /** This member promised not to vote `primaryNodeId` down, and the promise still runs. */
  promising(primaryNodeId: string): boolean {
    const promise = this.state.promise;
    return promise?.primaryNodeId === primaryNodeId && promise.endMonoMs > this.deps.clock.monotonicMs();
  }

  /**
   * The goal and membership as peer leases see them: as read, or as kept from before a restart while the
   * store has not answered since.
   */
  view(): PeerView | undefined {
    return this.state.view ?? undefined;
  }

  /** A goal or membership was read: kept on disk when what peer leases need of it changed. */
  learn(goal: ClusterRecord | undefined, membership: MembershipRecord | undefined): void {
    if (!goal || !membership) return;
    const view: PeerView = {
      term: goal.term,
      primaryNodeId: goal.primaryNodeId,
      peerLeases: goal.policy.peerLeases,
      leaseDurationMs: goal.policy.leaseDurationMs,
      voters: membership.allowed.map((node) => node.nodeId),
    };
    if (JSON.stringify(view) !== JSON.stringify(this.state.view)) this.save({ ...this.state, view });
  }

  /**
   * A heartbeat of this member's may carry a down vote on `primaryNodeId` that a failover can count (the
   * evaluator counts a vote on the primary it names, whatever the term).
   */
  boundOn(primaryNodeId: string): boolean {
    const bound = this.state.bound;
    return bound !== null && (bound.primaryNodeId === '*' || bound.primaryNodeId === primaryNodeId);
  }

  /**
   * Called with every heartbeat before it is written: one that votes the primary down (or, from the primary,
   * says its own database is DOWN) binds this member first, on disk, so that no restart can forget it. One
   * that no longer does, while a binding on that primary stands, withdraws it at once (while the store is
   * there to take the withdrawal), so that the member is free to vouch before an outage asks it to.
   */
  noteHeartbeat(beat: HeartbeatRecord, isPrimary: boolean): void {
    const named = isPrimary ? this.deps.config.nodeId : (beat.primaryCheck?.primaryNodeId ?? null);
    if (named === null) return;
    const votesDown = isPrimary ? beat.dbStatus === 'DOWN' : beat.primaryCheck?.status === 'DOWN';
    if (votesDown) {
      this.binds++;
      const bound = this.state.bound;
      if (bound?.primaryNodeId === named && bound.term >= beat.term) return;
      this.save({ ...this.state, bound: { primaryNodeId: named, term: beat.term } });
      return;
    }
    const nowMonoMs = this.deps.clock.monotonicMs();
    if (
      this.boundOn(named) &&
      this.state.view?.peerLeases === true &&
      nowMonoMs - this.lastWithdrawalMonoMs >= WITHDRAWAL_RETRY_MS
    ) {
      this.lastWithdrawalMonoMs = nowMonoMs;
      void this.withdraw(this.state.view.term);
    }
  }

  private async answer(ask: VouchAsk): Promise<void> {
    const known = this.state.view;
    const decision = decideVouch({
      enabled: known?.peerLeases === true,
      term: known?.term ?? 0,
      primaryNodeId: known?.primaryNodeId ?? null,
      ask: { term: ask.term, from: ask.from },
      bound: this.boundOn(ask.from),
      seesPrimaryDown: this.host.seesDown(ask.from),
    });
    if (decision.verdict === 'refuse') return this.reply(ask, false, decision.reason);
    if (decision.verdict === 'withdraw-then-grant' && !(await this.withdraw(ask.term)))
      return this.reply(ask, false, `${decision.reason}; the withdrawal could not be written (the store is away)`);
    // The promise is on disk before the answer leaves: a restart after it cannot forget it.
    const promiseMs = Math.min(ask.promiseMs, known?.leaseDurationMs ?? ask.promiseMs);
    const endMonoMs = this.deps.clock.monotonicMs() + promiseMs;
    const kept = this.state.promise?.primaryNodeId === ask.from ? this.state.promise.endMonoMs : 0;
    this.save({
      ...this.state,
      promise: { primaryNodeId: ask.from, term: ask.term, promiseMs, endMonoMs: Math.max(kept, endMonoMs) },
    });
    this.reply(ask, true, decision.reason, promiseMs);
  }

  /**
   * Withdraws this member's down vote: first a heartbeat that no longer votes down, then the write that
   * moves the cluster record's version (conditioned on the term). A failover that counted the vote then
   * fails its write, or won first and the withdrawal is refused. One at a time.
   */
  private async withdraw(term: number): Promise<boolean> {
    this.withdrawing ??= (async () => {
      const binds = this.binds;
      try {
        await this.host.writeHeartbeat();
        await this.deps.store.withdrawVote(
          this.deps.config.cluster,
          this.deps.config.nodeId,
          term,
          this.deps.clock.nowMs(),
        );
      } catch (error) {
        this.sayOnce(`cannot withdraw the down vote of term ${term}: ${String(error)}`);
        return false;
      }
      // A down vote written meanwhile stands: the member stays bound.
      if (binds !== this.binds) return false;
      this.save({ ...this.state, bound: null });
      this.deps.logger.info(`down vote of term ${term} withdrawn: this member may vouch again`);
      return true;
    })().finally(() => (this.withdrawing = null));
    return this.withdrawing;
  }

  private reply(ask: VouchAsk, granted: boolean, reason: string, promiseMs = ask.promiseMs): void {
    this.sayOnce(
      granted
        ? `vouching for ${ask.from} in term ${ask.term}`
        : `no vouch for ${ask.from} in term ${ask.term}: ${reason}`,
    );
    const { config } = this.deps;
    this.deps.channel.send(ask.from, {
      kind: 'answer',
      cluster: config.cluster,
      from: config.nodeId,
      to: ask.from,
      term: ask.term,
      nonce: ask.nonce,
      promiseMs,
      granted,
      reason,
    });
  }

  private save(state: VouchState): void {
    this.state = state;
    // Written synchronously: nothing this member says may get ahead of what it keeps.
    this.deps.memory.save(state);
  }
}
