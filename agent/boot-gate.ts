// systemd Type=notify: PostgreSQL's unit waits for the agent, which says "ready" only once starting the
// server cannot make a second writable primary (core/agent-host-rules.ts, bootSafety), and says it once.

import type { Logger } from '@aws-lambda-powertools/logger';
import type { AgentConfig } from '../core/agent-config.ts';
import { bootSafety } from '../core/agent-host-rules.ts';
import type { ClusterRecord } from '../core/records.ts';
import type { NodeOps } from './ports/node-ops.ts';
import type { Readiness } from './readiness.ts';

export class BootGate {
  private sent = false;

  constructor(
    private readonly deps: {
      config: AgentConfig;
      ops: Pick<NodeOps, 'markedStandby'>;
      logger: Pick<Logger, 'info' | 'warn'>;
      readiness?: Readiness | undefined;
    },
    private readonly host: { goal(): ClusterRecord | undefined; term(): number },
  ) {}

  /**
   * Why starting PostgreSQL now cannot make a second writable primary, or undefined while it might: this node
   * is the primary of the term it has read, or its data directory holds standby.signal (it can only start
   * as a standby), which the rule table writes on any other database node that is down, or the cluster is
   * new and has never had a primary recorded.
   */
  why(): string | undefined {
    const { config, ops } = this.deps;
    const goal = this.host.goal();
    return bootSafety({
      witness: config.role === 'witness',
      nodeId: config.nodeId,
      goal: goal
        ? { term: goal.term, primaryNodeId: goal.primaryNodeId, failoverRecorded: goal.failover !== null }
        : null,
      seenTerm: this.host.term(),
      // Read only when a row asks (a witness has no data directory).
      get markedStandby() {
        return ops.markedStandby();
      },
    });
  }

  /** Tells systemd once it is safe; a failed notification is tried again at the next call. */
  async signalWhenSafe(): Promise<void> {
    const readiness = this.deps.readiness;
    if (this.sent || !readiness) return;
    const why = this.why();
    if (!why) return;
    this.sent = true;
    this.deps.logger.info(`ready: PostgreSQL may start (${why})`);
    await readiness.ready(why).catch((error: unknown) => {
      this.sent = false;
      this.deps.logger.warn('could not tell systemd the agent is ready; retrying', { error: String(error) });
    });
  }
}
