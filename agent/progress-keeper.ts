// The steps done in the current term (core/agent-rules.ts), kept on disk by the progress store before
// anything else happens, so that a restarted agent neither repeats nor forgets one (pg_auto_failover's
// keeper state file).

import type { Logger } from '@aws-lambda-powertools/logger';
import { recordStep, withoutStep, type AgentProgress, type AgentStep } from '../core/agent-rules.ts';
import type { ProgressStore } from './ports/progress-store.ts';

export class ProgressKeeper {
  private current: AgentProgress;

  constructor(
    private readonly store: ProgressStore | undefined,
    private readonly logger: Pick<Logger, 'error'>,
  ) {
    this.current = store?.load() ?? { term: 0, done: [] };
  }

  get progress(): AgentProgress {
    return this.current;
  }

  /** `step` is done in `term`; recorded before its effects are relied on. */
  record(term: number, step: AgentStep): void {
    this.current = recordStep(this.current, term, step);
    this.save(step);
  }

  /** Takes back a step refused before it touched anything, so that the rules may ask for it again. */
  forget(step: AgentStep): void {
    this.current = withoutStep(this.current, step);
    this.save(step);
  }

  private save(step: AgentStep): void {
    try {
      this.store?.save(this.current);
    } catch (error) {
      this.logger.error("could not save the agent's progress; a restart may repeat this step", {
        step,
        error: String(error),
      });
    }
  }
}
