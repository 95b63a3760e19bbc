// What the evaluator does once its decision's write has won, and only then: the decision into the history,
// its notices to the history and the topic, then its actions (stop an instance, move the address and record
// where it went). A failed action is retried by later rounds and alerted once per cluster, term and kind.

import { StoreConflictError } from '../../core/errors.ts';
import { findAllowed } from '../../core/membership.ts';
import { makeNotice, type Notice } from '../../core/notices.ts';
import { historyEntry } from '../../core/history.ts';
import type { AddressTarget } from '../../core/ports.ts';
import type { Decision } from '../../core/decide.ts';
import type { ClusterRecord, HistoryRecord } from '../../core/records.ts';
import type { ClusterSnapshot } from '../../core/state-store.ts';
import type { EvaluatorDeps } from './evaluator.ts';

export class DecisionEffects {
  private readonly failureAlerted = new Map<string, string>();

  constructor(
    private readonly deps: Pick<
      EvaluatorDeps,
      'store' | 'moverFor' | 'fencerFor' | 'notifier' | 'logger' | 'clock' | 'actor'
    >,
  ) {}

  /** Carries out `decision`, whose write of `next` has won. */
  async carryOut(snapshot: ClusterSnapshot, decision: Decision, next: ClusterRecord): Promise<void> {
    await this.record(
      next,
      'decision',
      decision.rule,
      next.phase === 'halted' ? 'SEVERE' : 'INFO',
      decision.reason,
      decision.reason,
      null,
    );
    for (const notice of decision.notices) await this.tell(next, notice);
    // Side effects only now that the write has won: an evaluator that lost does nothing.
    let written = next;
    for (const action of decision.actions) {
      if (action.kind === 'fence-node') {
        await this.fenceNode(snapshot, written, action.nodeId);
        continue;
      }
      if (!(await this.moveAddress(snapshot, written, action.toNodeId, decision))) break;
      written = await this.recordAddressMoved(written, action.toNodeId);
    }
  }

  /** fencing "ec2-stop": asks for the node's instance to stop, and records it once it has. */
  private async fenceNode(snapshot: ClusterSnapshot, written: ClusterRecord, nodeId: string): Promise<void> {
    try {
      const fencer = this.deps.fencerFor?.(written);
      if (!fencer) throw new Error('fencing "ec2-stop" is set but this evaluator has no fencer');
      if ((await fencer.stop(targetOf(snapshot, written, nodeId))) !== 'stopped') return;
      await this.deps.store.recordNodeStopped(written, this.deps.clock.nowMs());
      this.deps.logger.warn(`${written.cluster}: ${nodeId} is stopped (fenced from outside)`);
    } catch (error) {
      if (error instanceof StoreConflictError) return;
      const detail = error instanceof Error ? error.message : String(error);
      this.deps.logger.error(`${written.cluster}: stopping ${nodeId} failed; will retry`, { error: detail });
      if (!this.firstFailure(written, `fence:${nodeId}`)) return;
      await this.tell(
        written,
        makeNotice(
          written,
          'fence-failed',
          'SEVERE',
          `could not stop the instance of ${nodeId}: nobody is promoted until it is stopped`,
          { nodeId, lines: [detail] },
        ),
      );
    }
  }

  /** The address is recorded on its new holder only after the move; a lost write is redone by a later round. */
  private async recordAddressMoved(written: ClusterRecord, toNodeId: string): Promise<ClusterRecord> {
    const nowMs = this.deps.clock.nowMs();
    try {
      await this.deps.store.recordAddressHolder(written, toNodeId, nowMs);
      return {
        ...written,
        version: written.version + 1,
        updatedAtMs: nowMs,
        address: { ...written.address, holderNodeId: toNodeId },
        failover: written.failover && {
          ...written.failover,
          addressMovedAtMs: written.failover.addressMovedAtMs ?? nowMs,
        },
      };
    } catch (error) {
      if (!(error instanceof StoreConflictError)) throw error;
      this.deps.logger.info(
        `${written.cluster}: address moved to ${toNodeId}; the record changed meanwhile, a later round records it`,
      );
      return written;
    }
  }

  private async moveAddress(
    snapshot: ClusterSnapshot,
    cluster: ClusterRecord,
    nodeId: string,
    decision: Decision,
  ): Promise<boolean> {
    try {
      await this.deps.moverFor(cluster).moveTo(targetOf(snapshot, cluster, nodeId));
      return true;
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      this.deps.logger.error(`${cluster.cluster}: moving the address to ${nodeId} failed; will retry`, {
        error: detail,
        rule: decision.rule,
      });
      if (!this.firstFailure(cluster, `move:${nodeId}`)) return false;
      await this.tell(
        cluster,
        makeNotice(
          cluster,
          'address-move-failed',
          'SEVERE',
          `could not move address ${cluster.address.value ?? ''} to ${nodeId}`,
          { nodeId, lines: [detail] },
        ),
      );
      return false;
    }
  }

  /**
   * Address moves and fences are retried every round: a failure is alerted once per cluster, term and
   * kind of action, not every round. True the first time.
   */
  private firstFailure(cluster: ClusterRecord, what: string): boolean {
    const key = `${cluster.term}:${what}`;
    if (this.failureAlerted.get(cluster.cluster) === key) return false;
    this.failureAlerted.set(cluster.cluster, key);
    return true;
  }

  private async tell(cluster: ClusterRecord, notice: Notice): Promise<void> {
    this.deps.logger.info(notice.subject, {
      cluster: cluster.cluster,
      notice: notice.event,
      severity: notice.severity,
    });
    await this.record(cluster, 'notice', notice.event, notice.severity, notice.subject, notice.body, notice.nodeId);
    try {
      await this.deps.notifier.notify(cluster.cluster, notice);
    } catch (error) {
      this.deps.logger.error('notification failed', {
        cluster: cluster.cluster,
        event: notice.event,
        error: String(error),
      });
    }
  }

  private async record(
    cluster: ClusterRecord,
    kind: HistoryRecord['kind'],
    event: string,
    severity: HistoryRecord['severity'],
    subject: string,
    body: string,
    nodeId: string | null,
  ): Promise<void> {
    const entry = historyEntry(
      {
        cluster: cluster.cluster,
        term: cluster.term,
        kind,
        event,
        severity,
        subject,
        body,
        nodeId,
        actor: this.deps.actor,
      },
      this.deps.clock.nowMs(),
    );
    await this.deps.store
      .appendHistory(entry)
      .catch((error: unknown) => this.deps.logger.error('could not append to the history', { error: String(error) }));
  }
}

/** Where an action on `nodeId` goes: its allowed address and the host facts of its last heartbeat. */
function targetOf(snapshot: ClusterSnapshot, cluster: ClusterRecord, nodeId: string): AddressTarget {
  return {
    cluster: cluster.cluster,
    nodeId,
    address: findAllowed(snapshot.membership, nodeId)?.address ?? '',
    host: snapshot.heartbeats.find((beat) => beat.nodeId === nodeId)?.host ?? null,
  };
}
