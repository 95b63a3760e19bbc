// The agent's site hooks (EFM's scripts, agent/hooks.ts) and its notes in the cluster's history: which hook
// runs when, with which placeholders, and what becomes of its outcome (the log, the history, and, while its
// last run failed, the heartbeat, which the evaluator alerts on).

import type { AgentConfig } from '../core/agent-config.ts';
import type { Clock } from '../core/clock.ts';
import { historyEntry } from '../core/history.ts';
import type { LocalHealth } from '../core/local-health.ts';
import { findAllowed } from '../core/membership.ts';
import { parseNodeAddress } from '../core/node-address.ts';
import type { ClusterRecord, HeartbeatRecord, MembershipRecord, Severity } from '../core/records.ts';
import type { AgentLogger } from './deps.ts';
import type { HookName, HookResult, HookRun } from './hooks.ts';
import type { HeartbeatStore } from './ports/heartbeat-store.ts';
import type { NodeOps } from './ports/node-ops.ts';

export interface SiteHooksDeps {
  config: AgentConfig;
  ops: Pick<NodeOps, 'runHook'>;
  store: Pick<HeartbeatStore, 'appendHistory'>;
  logger: AgentLogger;
  clock: Clock;
  /** The term this agent has seen, for the environment and the history. */
  term(): number;
  membership(): MembershipRecord | undefined;
}

export class SiteHooks {
  /** Hooks whose last run failed, reported with every heartbeat until a run succeeds. */
  private readonly failures = new Map<HookName, HeartbeatRecord['hookFailures'][number]>();
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly deps: SiteHooksDeps) {}

  /** What the heartbeat says of failed hooks. */
  failed(): HeartbeatRecord['hookFailures'] {
    return [...this.failures.values()];
  }

  /** Every hook still running beside the agent's loops, settled. */
  settled(): Promise<unknown> {
    return Promise.allSettled([...this.running]);
  }

  baseEnv(): Record<string, string> {
    const { config } = this.deps;
    return {
      PGFAILOVER_CLUSTER: config.cluster,
      PGFAILOVER_TERM: String(this.deps.term()),
      PGFAILOVER_NODE: config.nodeId,
    };
  }

  ownHost(): string {
    return parseNodeAddress(this.deps.config.address).host;
  }

  /** %f the failed (old) primary's host, %p the new primary's, %h this node's. */
  failoverPlaceholders(goal: ClusterRecord): HookRun['placeholders'] {
    const hostOf = (nodeId: string | null | undefined) => {
      const address =
        nodeId && this.deps.membership()
          ? findAllowed(this.deps.membership() as MembershipRecord, nodeId)?.address
          : undefined;
      return address ? parseNodeAddress(address).host : '';
    };
    return { h: this.ownHost(), f: hostOf(goal.failover?.fromNodeId), p: hostOf(goal.primaryNodeId) };
  }

  /** EFM: script.db.failure and load-balancer detach when the database fails; attach when it returns. */
  onHealthChange(from: LocalHealth['status'], to: LocalHealth['status'], reason: string): void {
    if (from === to || this.deps.config.role === 'witness') return;
    const self = { h: this.ownHost(), f: '', p: '' };
    const env = { ...this.baseEnv(), PGFAILOVER_DB_STATUS: to, PGFAILOVER_DB_INFO: reason };
    if (to === 'DOWN') {
      this.track(this.run('dbFailure', env, self));
      this.track(this.run('loadBalancerDetach', env, self));
    } else if (to === 'UP' && from === 'DOWN') {
      this.track(this.run('loadBalancerAttach', env, self));
    }
  }

  /** Keeps a hook that runs beside the agent's loops, so that stop() waits for it. */
  track(run: Promise<unknown>): void {
    const settled = run.catch(() => undefined).finally(() => this.running.delete(settled));
    this.running.add(settled);
  }

  /**
   * Runs a configured hook (nothing when it is not configured); its outcome goes to the log, the cluster's
   * history (exit code and output), and, while its last run failed, the heartbeat, which the evaluator
   * alerts on.
   */
  async run(
    name: HookName,
    env: Record<string, string>,
    placeholders: HookRun['placeholders'],
  ): Promise<HookResult | undefined> {
    const { config, ops, logger, clock } = this.deps;
    const command = config.hooks[name];
    if (!command) return undefined;
    const result = await ops.runHook({
      command,
      env,
      placeholders,
      timeoutMs: config.hooks.timeoutMs,
      user: config.hooks.user,
    });
    if (result.ok) this.failures.delete(name);
    else
      this.failures.set(name, {
        hook: name,
        exitCode: result.exitCode,
        detail: result.detail,
        atMs: clock.nowMs(),
      });
    (result.ok ? logger.info.bind(logger) : logger.error.bind(logger))(`hook ${name}: ${result.detail}`);
    await this.note(
      `hook-${name}`,
      result.ok ? 'INFO' : 'WARNING',
      `${name} hook on ${config.nodeId} ${result.exitCode === null ? 'did not finish' : `exited with ${result.exitCode}`}`,
      [
        `Command: ${command}`,
        `Exit code: ${result.exitCode ?? 'none'}`,
        `Took: ${result.durationMs} ms`,
        `Output: ${result.output || '(none)'}`,
      ],
    );
    return result;
  }

  /** An entry in the cluster's history from this agent; a store that cannot take it is logged, not fatal. */
  async note(event: string, severity: Severity, subject: string, lines: string[]): Promise<void> {
    const { config, clock, store, logger } = this.deps;
    const entry = historyEntry(
      {
        cluster: config.cluster,
        term: this.deps.term(),
        kind: 'notice',
        event,
        severity,
        subject,
        body: lines.join('\n'),
        nodeId: config.nodeId,
        actor: `agent:${config.nodeId}`,
      },
      clock.nowMs(),
    );
    await store
      .appendHistory(entry)
      .catch((error: unknown) => logger.warn('could not record in the history', { event, error: String(error) }));
  }
}
