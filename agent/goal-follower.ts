// Converges on the goal the evaluator writes, one step at a time: asks the rule table for the next step,
// lets one step run at a time (a step that finishes may change the answer, so it is asked again under
// the lock), hands it to the executor, and reports how it went in the heartbeat. It owns the last report.

import type { Logger } from '@aws-lambda-powertools/logger';
import type { AgentConfig } from '../core/agent-config.ts';
import { nextStep, type AgentStep, type AgentView } from '../core/agent-rules.ts';
import { withDeadline } from '../core/deadline.ts';
import { LEASE_REQUEST_TIMEOUT_MS } from '../core/lease-timing.ts';
import type { ClusterRecord, HeartbeatRecord, MembershipRecord } from '../core/records.ts';
import type { HeartbeatStore } from './ports/heartbeat-store.ts';

type Action = NonNullable<HeartbeatRecord['action']>;

export interface GoalFollowerHost {
  term(): number;
  view(goal: ClusterRecord, membership: MembershipRecord): AgentView;
  /** The one door for a goal (a fresher record read here goes through it too). */
  learnGoal(goal: ClusterRecord): void;
  selfFence(reason: string): Promise<void>;
  execute(
    step: Exclude<AgentStep, 'self-fence'>,
    goal: ClusterRecord,
    membership: MembershipRecord,
    reason: string,
  ): Promise<void>;
  /** A new report: the heartbeat carries it now. */
  news(): void;
}

export class GoalFollower {
  private last: HeartbeatRecord['action'] = null;
  private acting = false;

  constructor(
    private readonly deps: {
      config: AgentConfig;
      store: Pick<HeartbeatStore, 'getCluster'>;
      logger: Pick<Logger, 'debug' | 'info' | 'error'>;
    },
    private readonly host: GoalFollowerHost,
  ) {}

  /** What the last step came to, for the heartbeat. */
  get action(): HeartbeatRecord['action'] {
    return this.last;
  }

  report(step: Action['step'], detail: string, facts: Pick<Action, 'stoppedAtLsn'> = {}): void {
    const previous = this.last;
    const term = this.host.term();
    this.last = { term, step, detail, ...facts };
    const log = step.endsWith('failed')
      ? this.deps.logger.error.bind(this.deps.logger)
      : this.deps.logger.info.bind(this.deps.logger);
    log(`${step} (term ${term})${detail ? `: ${detail}` : ''}`);
    // The evaluator's next step waits on a new report: send it now, not at the next heartbeat. Only a
    // change wakes the heartbeat; a step reported again each beat must not make it beat back to back.
    if (previous?.step !== step || previous.term !== term || previous.detail !== detail) this.host.news();
  }

  /** Converges on the cluster record: one step at a time, chosen by the rule table (core/agent-rules.ts). */
  async apply(goal: ClusterRecord, membership: MembershipRecord): Promise<void> {
    const first = nextStep(this.host.view(goal, membership));
    if (first.step === 'self-fence') return this.host.selfFence(first.reason);
    if (first.step === null) return;
    await this.oneAtATime(async () => {
      // Decided again under the lock: an action that just finished may have changed the answer.
      let { step, reason, rule } = nextStep(this.host.view(goal, membership));
      if (step === 'fence-and-release') {
        // The goal may be a renewal old (a pause written a moment before a planned restart): a fence
        // that no longer lets the primary keep its role is decided on the record as it is now. Should the
        // read fail or hang, the fence goes ahead, as the database is down either way.
        const fresh = await withDeadline(
          this.deps.store.getCluster(this.deps.config.cluster),
          LEASE_REQUEST_TIMEOUT_MS,
          'the cluster record was not read',
        ).catch(() => undefined);
        if (fresh && fresh.term === goal.term) {
          this.host.learnGoal(fresh);
          goal = fresh;
          ({ step, reason, rule } = nextStep(this.host.view(goal, membership)));
        }
      }
      if (step === null || step === 'self-fence') return;
      this.deps.logger.debug(`rule ${rule}: ${step}`, { reason });
      await this.host.execute(step, goal, membership, reason);
    });
  }

  private async oneAtATime(work: () => Promise<void>): Promise<void> {
    if (this.acting) return;
    this.acting = true;
    try {
      await work();
    } catch (error) {
      this.deps.logger.error('goal action failed', { error: String(error) });
    } finally {
      this.acting = false;
    }
  }
}
