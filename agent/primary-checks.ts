// The recorded primary's database, checked from here (EFM's remote check): this node's vote on whether
// the primary answers, carried in every heartbeat. It owns the verdict and which primary it is about; a
// new primary starts from INITIAL_HEALTH, so a vote is never carried over from another node.

import type { Logger } from '@aws-lambda-powertools/logger';
import type { AgentConfig } from '../core/agent-config.ts';
import { INITIAL_HEALTH, nextLocalHealth, type LocalHealth } from '../core/local-health.ts';
import type { NodeOps } from './ports/node-ops.ts';
import { Wake } from './wake.ts';

/**
 * How often a peer checks the recorded primary's database (at most; localPeriodMs if shorter). A silent
 * primary gets a DOWN vote one check period + remoteTimeoutMs + localTimeoutFinalMs after it went quiet;
 * the failover needs every peer's vote, so twice a second brings the slowest vote in (about 2.5 s) before the
 * lease (2.8 s, plus its margin) runs out, and confirming adds nothing to a node-crash failover. Each check
 * is one connection.
 */
const REMOTE_CHECK_PERIOD_MS = 500;

export interface PrimaryChecksHost {
  /** The recorded primary when it is another node, and where its database is, or undefined. */
  primary(): { nodeId: string; address: string } | undefined;
  /** A new verdict: the heartbeat carries it now. */
  news(): void;
  pause(ms: number, wake?: Wake): Promise<void>;
  readonly stopping: AbortSignal;
}

export class PrimaryChecks {
  private checked: string | null = null;
  private current: LocalHealth = INITIAL_HEALTH;
  /** Cuts the wait short: the watched connection to the primary broke. */
  readonly wake = new Wake();

  constructor(
    private readonly config: AgentConfig,
    private readonly ops: Pick<NodeOps, 'checkPeer'>,
    private readonly logger: Pick<Logger, 'info'>,
    private readonly host: PrimaryChecksHost,
  ) {}

  /** The primary this node's verdict is about, or null when it checks none. */
  get primaryNodeId(): string | null {
    return this.checked;
  }

  get health(): LocalHealth {
    return this.current;
  }

  /** This node sees `nodeId`'s database answer. */
  answers(nodeId: string | null | undefined): boolean {
    return this.checked === nodeId && this.current.status === 'UP';
  }

  async loop(): Promise<void> {
    const { timeouts } = this.config;
    const periodMs = Math.min(timeouts.localPeriodMs, REMOTE_CHECK_PERIOD_MS);
    while (!this.host.stopping.aborted) {
      const primary = this.host.primary();
      if (!primary) {
        this.checked = null;
        this.current = INITIAL_HEALTH;
        await this.host.pause(periodMs);
        continue;
      }
      if (primary.nodeId !== this.checked) {
        this.checked = primary.nodeId;
        this.current = INITIAL_HEALTH;
      }
      const timeoutMs = this.current.finalCheckDue ? timeouts.localTimeoutFinalMs : timeouts.remoteTimeoutMs;
      const outcome = await this.ops.checkPeer(primary.address, timeoutMs);
      if (this.host.stopping.aborted) return;
      const previous = this.current;
      this.current = nextLocalHealth(previous, outcome);
      if (previous.status !== this.current.status) {
        this.logger.info(`primary ${primary.nodeId} database seen ${this.current.status} from here`, {
          reason: this.current.reason,
        });
        this.host.news();
      }
      if (!this.current.finalCheckDue) await this.host.pause(periodMs, this.wake);
    }
  }
}
