// The keeper's executor (pg_auto_failover's keeper): carries out the one step core/agent-rules.ts chose,
// records it in the progress file before its side effects where repeating it would be wrong (a promotion, a
// demotion), and reports how it went in the heartbeat. Every step is safe to ask for again: the rules stop
// asking once its effect is seen. It owns no state of its own; the agent holds it (StepHost).

import type { Logger } from '@aws-lambda-powertools/logger';
import type { AgentConfig } from '../core/agent-config.ts';
import type { AgentProgress, AgentStep } from '../core/agent-rules.ts';
import type { Clock } from '../core/clock.ts';
import { FENCE_LEAD_MS } from '../core/lease-timing.ts';
import { findAllowed } from '../core/membership.ts';
import { formatHostPort, parseNodeAddress } from '../core/node-address.ts';
import { promotionVeto, type PromotionView } from '../core/promotion-gates.ts';
import type { ClusterRecord, HeartbeatRecord, MembershipRecord } from '../core/records.ts';
import type { AddressKeeper } from './address-keeper.ts';
import { catchUpWithPeers } from './catch-up-peers.ts';
import type { DatabaseFacts } from './database-facts.ts';
import type { LeaseKeeper } from './lease-keeper.ts';
import type { HeartbeatStore } from './ports/heartbeat-store.ts';
import type { NodeOps } from './ports/node-ops.ts';
import { describeRejoin, SourceNotPrimaryError } from './rejoin.ts';
import type { SiteHooks } from './site-hooks.ts';
import type { Watchdog } from './watchdog/watchdog.ts';

type Action = NonNullable<HeartbeatRecord['action']>;

export interface StepDeps {
  config: AgentConfig;
  ops: NodeOps;
  store: Pick<HeartbeatStore, 'renewLease' | 'releaseLease'>;
  clock: Clock;
  logger: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  watchdog?: Watchdog | undefined;
  hooks: SiteHooks;
  lease: LeaseKeeper;
  address: AddressKeeper;
}

/** What the executor needs of the agent that holds the state. */
export interface StepHost {
  record(step: AgentStep): void;
  /** Takes back a step refused before it touched anything. */
  forget(step: AgentStep): void;
  report(step: Action['step'], detail: string, facts?: Pick<Action, 'stoppedAtLsn'>): void;
  /** Checks the database and sends a heartbeat at once. */
  refreshNow(): Promise<void>;
  /** A switchover's clean stop of this server in `term` is over. */
  stoppedForSwitchover(term: number): void;
  /** The data directory got the primary's history (a rejoin): the timeline last streamed on is void. */
  forgetTimeline(): void;
  progress(): AgentProgress;
  healthReason(): string;
  facts(): DatabaseFacts | undefined;
  membership(): MembershipRecord | undefined;
  pause(ms: number): Promise<void>;
  stopped(): boolean;
}

export class StepExecutor {
  private readonly hooks: SiteHooks;
  private readonly lease: LeaseKeeper;
  private readonly address: AddressKeeper;

  constructor(
    private readonly deps: StepDeps,
    private readonly host: StepHost,
  ) {
    this.hooks = deps.hooks;
    this.lease = deps.lease;
    this.address = deps.address;
  }

  async execute(
    step: Exclude<AgentStep, 'self-fence'>,
    goal: ClusterRecord,
    membership: MembershipRecord,
    reason: string,
  ): Promise<void> {
    const { config, ops } = this.deps;
    const me = config.nodeId;
    const term = goal.term;
    const primaryAddress = goal.primaryNodeId ? findAllowed(membership, goal.primaryNodeId)?.address : undefined;
    const conninfo = primaryAddress ? ops.conninfoFor(primaryAddress) : null;
    const env = {
      PGFAILOVER_CLUSTER: config.cluster,
      PGFAILOVER_TERM: String(term),
      PGFAILOVER_NODE: me,
      PGFAILOVER_NEW_PRIMARY: goal.primaryNodeId ?? '',
      PGFAILOVER_OLD_PRIMARY: goal.failover?.fromNodeId ?? '',
      PGFAILOVER_OLD_PRIMARY_ADDRESS: goal.failover?.fromNodeId
        ? (findAllowed(membership, goal.failover.fromNodeId)?.address ?? '')
        : '',
    };
    switch (step) {
      case 'demote': {
        // Recorded first: a demotion that fails is reported, not retried (the evaluator decides).
        this.host.record('demote');
        const targetAddress = goal.switchover ? findAllowed(membership, goal.switchover.toNodeId)?.address : undefined;
        if (!targetAddress)
          return this.host.report(
            'demote-failed',
            `${goal.switchover?.toNodeId ?? '?'} is not in the allowed node list`,
          );
        // A target that does not answer could not take over: keep serving rather than stop for nothing (the
        // evaluator abandons the switchover on this report, the primary untouched).
        const target = await ops.checkPeer(targetAddress, config.timeouts.remoteTimeoutMs);
        if (target.kind === 'failed')
          return this.host.report(
            'demote-failed',
            `the target ${goal.switchover?.toNodeId ?? '?'} does not answer (${target.reason}): not stopping`,
          );
        // The server stops with the address still up: the fast shutdown ends every session with an error and
        // a FIN its client receives at once, and turns new connections away. Taken off first, the address
        // left clients' connections hanging until a TCP retransmission (0.2, 0.6, 1.4 s after their last
        // send) reached the new holder and drew a reset: most of a switchover's write gap, measured. It goes
        // once the postmaster has exited, not during the shutdown: a handshake the removal cut in half would
        // leave a child waiting out authentication_timeout (60 s), which a fast shutdown waits for.
        // The stop is reported the moment the server has exited, before it restarts as a standby: its lease is
        // given up with the stop, and a primary whose database is DOWN with its lease over and no clean stop
        // reported is taken for one that stopped some other way (the switchover is abandoned). A restart that
        // is slow under load must not look like that.
        let stopped = false;
        try {
          await ops.demote(ops.conninfoFor(targetAddress), (stoppedAt) => {
            stopped = true;
            this.host.stoppedForSwitchover(term);
            this.host.report('demoted', `stopped cleanly at ${stoppedAt}`, { stoppedAtLsn: stoppedAt });
            return this.address.sync(goal);
          });
        } catch (error) {
          const detail = error instanceof Error ? error.message : String(error);
          if (!stopped) return this.host.report('demote-failed', detail);
          // Stopped cleanly and reported: the switchover goes on; the server, standby.signal written first or
          // not started at all, cannot come back as a primary, and the checks see what it does.
          this.deps.logger.error('stopped cleanly for the switchover, but restarting as a standby failed', {
            error: detail,
          });
        }
        // A standby now: nothing for the watchdog to stop, and no lease to renew.
        await this.lease.disarm('demoted to a standby');
        return this.host.refreshNow();
      }
      case 'promote':
        // Recorded first: after a restart this node does not promote again in this term; if it failed,
        // the evaluator chooses another candidate in a new term.
        this.host.record('promote');
        return this.promote(goal, env);
      case 'post-promotion-hook': {
        this.host.record('post-promotion-hook');
        const post = await this.hooks.run('postPromotion', env, this.hooks.failoverPlaceholders(goal));
        if (post && !post.ok) this.host.report('post-promotion-hook-failed', post.detail);
        return;
      }
      case 'fence-and-release':
        if (!this.host.progress().done.includes('fence') || this.host.progress().term !== term) {
          await ops.fence(null);
          this.lease.drop();
          this.host.record('fence');
          this.host.report('fenced', `the primary database failed: ${this.host.healthReason()}`);
        }
        await this.deps.store.releaseLease(config.cluster, me, term);
        this.host.record('fence-and-release');
        await this.lease.disarm('the database is fenced and the lease released');
        return;
      case 'fence':
        await ops.fence(conninfo);
        this.lease.drop();
        this.host.record('fence');
        this.host.report('fenced', reason);
        await this.lease.disarm('the database is stopped');
        return this.host.refreshNow();
      case 'mark-standby':
        await ops.fence(conninfo);
        this.lease.drop();
        this.host.record('mark-standby');
        return this.host.report('fenced', reason);
      case 'repoint':
        if (!conninfo) return;
        await ops.repoint(conninfo);
        this.host.record('repoint');
        this.deps.logger.info(
          `primary_conninfo now points at ${goal.primaryNodeId ?? '?'}; waiting for the WAL receiver to stream from it`,
        );
        return this.host.refreshNow();
      case 'rejoin': {
        this.host.record('rejoin');
        if (!primaryAddress) return;
        // pg_rewind or a fresh copy gives the data directory the primary's history: learn it anew.
        this.host.forgetTimeline();
        try {
          const how = await ops.rejoin(primaryAddress);
          this.host.report('rejoined', `a standby of ${goal.primaryNodeId ?? '?'} again, by ${describeRejoin(how)}`);
          // Done: a later stop in the same term (a term can last months) is rejoined again. Only a failed
          // rejoin stays recorded, and is left to a person.
          this.host.forget('rejoin');
        } catch (error) {
          if (error instanceof SourceNotPrimaryError) {
            // The primary is still being promoted (a switchover promoting its old primary back): try again.
            this.deps.logger.info(
              `rejoin waits: ${goal.primaryNodeId ?? '?'} ${error.message.replace(/^the source /, '')}`,
            );
            this.host.forget('rejoin');
            return this.host.refreshNow();
          }
          this.host.report(
            'rejoin-failed',
            `${error instanceof Error ? error.message : String(error)}; run pgfailover rejoin ${me} on this host`,
          );
        }
        return this.host.refreshNow();
      }
      case 'report-repointed':
        // Reported only once the WAL receiver really streams from the new primary.
        this.host.record('report-repointed');
        return this.host.report('repointed', reason);
    }
  }

  /** Fencing hook, address check, lease, watchdog, pg_promote(): in that order, each failure reported. */
  private async promote(goal: ClusterRecord, env: Record<string, string>): Promise<void> {
    const { config, ops, clock } = this.deps;
    const term = goal.term;
    // The gates (core/promotion-gates.ts) are asked again after each fact gathered, cheapest first.
    const view: PromotionView = {
      term,
      checked: this.host.facts() !== undefined,
      inRecovery: this.host.facts()?.inRecovery,
      watchdogRequired: goal.policy.fencing === 'watchdog',
      hasWatchdog: this.deps.watchdog !== undefined,
      fenceLeadMs: FENCE_LEAD_MS,
    };
    const vetoed = (): boolean => {
      const veto = promotionVeto(view);
      if (veto) this.host.report(veto.step, veto.detail);
      return veto !== undefined;
    };
    if (vetoed()) return;
    const fence = await this.hooks.run('fence', env, this.hooks.failoverPlaceholders(goal));
    view.fenceHook = fence ? { ok: fence.ok, detail: fence.detail } : null;
    if (vetoed()) return;
    view.address = null;
    if (config.checkAddressBeforePromotion && goal.address.mode !== 'none' && goal.address.value) {
      const address = formatHostPort(parseNodeAddress(goal.address.value, config.database?.port ?? 5432));
      const answer = await ops.checkPeer(address, config.timeouts.remoteTimeoutMs);
      view.address = { value: address, answers: answer.kind === 'ok' };
    }
    if (vetoed()) return;
    view.behind = goal.failover?.kind === 'failover' ? ((await this.catchUpWithPeers(goal)) ?? null) : null;
    if (vetoed()) return;
    try {
      // Take the lease first: a new primary without one would fence itself at once. The watchdog is
      // armed with the lease's end before pg_promote(), so a pause from here on cannot leave a writable
      // server behind once the evaluator may give up on this node.
      const sentAtMonoMs = clock.monotonicMs();
      const durationMs = goal.policy.leaseDurationMs;
      await this.deps.store.renewLease(config.cluster, config.nodeId, term, durationMs);
      await this.lease.holdUntil(sentAtMonoMs + durationMs);
      view.leaseLeftMs = sentAtMonoMs + durationMs - clock.monotonicMs();
      if (vetoed()) return;
      // The address comes up before pg_promote(): the network sends it here from the moment this term was
      // granted, and a client's connection attempt that lands here meanwhile is answered (a standby turns a
      // write away at once) instead of dropped, which costs a client its connect timeout (libpq's default
      // waits out TCP's 1 s SYN retransmission). Not before the check above that the address is free.
      this.address.promoting(term);
      await this.address.sync(goal);
      await ops.promote();
    } catch (error) {
      this.address.promoting(null);
      return this.host.report('promote-failed', error instanceof Error ? error.message : String(error));
    }
    this.host.report('promoted', '');
    // The old primary may be dead and unable to detach itself from the load balancer: do it from here.
    const placeholders = this.hooks.failoverPlaceholders(goal);
    if (placeholders.f)
      this.hooks.track(this.hooks.run('loadBalancerDetach', env, { ...placeholders, h: placeholders.f }));
    // Tell the evaluator now rather than at the next heartbeat: it moves the address on this news. The check
    // this makes sees the server writable, which holds the address from then on.
    await this.host.refreshNow();
    this.address.promoting(null);
    return this.address.sync(goal);
  }

  private catchUpWithPeers(goal: ClusterRecord): Promise<string | undefined> {
    const { config, ops, logger, clock } = this.deps;
    return catchUpWithPeers(
      {
        config,
        ops,
        logger,
        clock,
        membership: this.host.membership(),
        pause: (ms) => this.host.pause(ms),
        stopped: () => this.host.stopped(),
        note: (event, severity, subject, lines) => this.hooks.note(event, severity, subject, lines),
      },
      goal,
    );
  }
}
