// The heartbeat loop: writes what this agent sees, follows the goal each write brings back, and paces itself
// by core/heartbeat-timing.ts. It is kept apart from the checks so that a check hanging for its timeout
// never delays the heartbeat that proves this node is alive.

import { nextHeartbeatDelay } from '../core/heartbeat-timing.ts';
import type { HeartbeatRecord } from '../core/records.ts';
import type { AgentDeps } from './deps.ts';
import type { Pause } from './pause.ts';
import type { Wake } from './wake.ts';

export interface HeartbeatLoopHost {
  /** Resolves once the local database has had its first verdict. */
  firstCheckDone: () => Promise<void>;
  write(agentStatus: HeartbeatRecord['agentStatus']): Promise<void>;
  /** Converges on the newest goal (fire and forget: the follower serialises its own steps). */
  follow(): void;
  /** PostgreSQL may start once this says it is safe (systemd Type=notify). */
  signalBootWhenSafe(): Promise<void>;
  /** A failure is suspected or a role change is under way. */
  busy(): boolean;
  pause: Pause;
  /** Ends the wait early: a verdict changed, an action was reported. */
  wake: Wake;
  stopping: AbortSignal;
}

export class HeartbeatLoop {
  /** One heartbeat attempt has been made since the agent started (the rule table waits for it). */
  firstBeatDone = false;
  private storeFailures = 0;

  constructor(
    private readonly deps: Pick<AgentDeps, 'config' | 'logger'>,
    private readonly host: HeartbeatLoopHost,
  ) {}

  async run(): Promise<void> {
    const { heartbeatIntervalMs, timeouts } = this.deps.config;
    const host = this.host;
    // The first heartbeat waits (boundedly) for the first verdict on the database, so that it says
    // something real rather than "starting".
    await Promise.race([host.firstCheckDone(), host.pause(timeouts.localTimeoutMs + timeouts.localTimeoutFinalMs)]);
    // A node already marked standby may let PostgreSQL start at once, even while the store is unreachable.
    await host.signalBootWhenSafe();
    while (!host.stopping.aborted) {
      await this.beat();
      this.firstBeatDone = true;
      host.follow();
      const { delayMs } = nextHeartbeatDelay({
        heartbeatIntervalMs,
        storeFailures: this.storeFailures,
        busy: host.busy(),
      });
      await host.pause(delayMs, host.wake);
    }
  }

  private async beat(): Promise<void> {
    const logger = this.deps.logger;
    try {
      await this.host.write('UP');
      if (this.storeFailures > 0) logger.info('state store reachable again', { failedAttempts: this.storeFailures });
      this.storeFailures = 0;
    } catch (error) {
      this.storeFailures++;
      // Log the first failure and then every tenth, so an outage does not flood the log.
      if (this.storeFailures === 1 || this.storeFailures % 10 === 0)
        logger.error('cannot write heartbeat to the state store; retrying with backoff', {
          failedAttempts: this.storeFailures,
          error: String(error),
        });
    }
  }
}
