// One heartbeat round trip: read what is due (the membership now and then, the goal unless the lease
// renewals bring it), refuse to write for a node the membership does not allow, hand what was read to the
// agent (its single door for a goal), then write the heartbeat if it says anything new. It owns the
// sequence, what the last heartbeat said, and the rejection and membership-read bookkeeping.

import type { Logger } from '@aws-lambda-powertools/logger';
import type { AgentConfig } from '../core/agent-config.ts';
import type { Clock } from '../core/clock.ts';
import { StoreConflictError } from '../core/errors.ts';
import { renewIntervalMs } from '../core/lease-timing.ts';
import { findAllowed, heartbeatRejection } from '../core/membership.ts';
import type { ClusterRecord, HeartbeatRecord, MembershipRecord } from '../core/records.ts';
import { heartbeatContent, heartbeatGist } from './heartbeat-content.ts';
import type { HeartbeatStore } from './ports/heartbeat-store.ts';

/** A busy agent whose only news is its WAL positions writes them this often at most. */
const POSITION_BEAT_MS = 100;
/**
 * How long the membership read with a heartbeat serves before it is read again. It changes only by an
 * administrator's command; a goal naming a node this agent does not know, and a rejected heartbeat, read it
 * at once. Saves one store request per heartbeat.
 */
const MEMBERSHIP_REFRESH_MS = 30_000;

type AgentStatus = HeartbeatRecord['agentStatus'];

export interface HeartbeatWriterHost {
  goal(): ClusterRecord | undefined;
  membership(): MembershipRecord | undefined;
  /** When a lease renewal last brought the cluster record back (monotonic), or null. */
  goalRenewedMonoMs(): number | null;
  /** What was read, for an allowed node: the membership and the goal (GoalState.learnMembership). */
  learned(membership: MembershipRecord | undefined, cluster: ClusterRecord | undefined): void;
  /** Just before the heartbeat is written (the first renewal of a term goes out first). */
  beforeWrite(cluster: ClusterRecord | undefined, agentStatus: AgentStatus): Promise<void>;
  /** The heartbeat the agent would send now. */
  heartbeat(agentStatus: AgentStatus, seq: number): HeartbeatRecord;
}

export class HeartbeatWriter {
  private seq = 0;
  /** What the last heartbeat written said (less its sequence and times), and when it went out. */
  private lastBeat: { content: string; gist: string; atMonoMs: number } | null = null;
  /** When the membership was last read (monotonic). */
  private membershipReadMonoMs: number | null = null;
  private rejectedReason: string | undefined;

  constructor(
    private readonly deps: {
      config: AgentConfig;
      store: HeartbeatStore;
      clock: Clock;
      logger: Pick<Logger, 'debug' | 'info' | 'error'>;
    },
    private readonly host: HeartbeatWriterHost,
  ) {}

  get sequence(): number {
    return this.seq;
  }

  /** Reads what is due and writes the heartbeat if it is news, or whatever it says when `force` is set. */
  async write(agentStatus: AgentStatus, force = false): Promise<void> {
    const { config, store, clock, logger } = this.deps;
    const nowMonoMs = clock.monotonicMs();
    const known = (nodeId: string | null | undefined) => {
      const membership = this.host.membership();
      return !nodeId || (membership !== undefined && findAllowed(membership, nodeId) !== undefined);
    };
    const goal = this.host.goal();
    const readMembership =
      agentStatus !== 'UP' ||
      this.rejectedReason !== undefined ||
      this.membershipReadMonoMs === null ||
      nowMonoMs - this.membershipReadMonoMs >= MEMBERSHIP_REFRESH_MS ||
      !known(goal?.primaryNodeId) ||
      !known(goal?.failover?.toNodeId);
    // A primary whose renewals succeed learns the goal from each of them (every LEASE_RENEW_INTERVAL_MS).
    const renewedMonoMs = this.host.goalRenewedMonoMs();
    const readGoal =
      agentStatus !== 'UP' ||
      goal === undefined ||
      renewedMonoMs === null ||
      nowMonoMs - renewedMonoMs > renewIntervalMs(config.heartbeatIntervalMs) * 1.5;
    const [membership, cluster] = await Promise.all([
      readMembership ? store.getMembership(config.cluster) : Promise.resolve(this.host.membership()),
      readGoal ? store.getCluster(config.cluster) : Promise.resolve(goal),
    ]);
    if (readMembership && membership) this.membershipReadMonoMs = nowMonoMs;
    const rejection = heartbeatRejection(membership, config);
    if (rejection) {
      if (rejection !== this.rejectedReason) logger.error(`heartbeat rejected: ${rejection}`);
      this.rejectedReason = rejection;
      if (agentStatus === 'UP')
        await store.recordRejected(config.cluster, config.nodeId, config.address, rejection, clock.nowMs());
      return;
    }
    if (this.rejectedReason) {
      logger.info('heartbeat accepted: this node is now allowed in the cluster');
      // A rejection written in flight while the node was being allowed must not linger.
      await store.deleteRejected(config.cluster, config.nodeId);
    }
    this.rejectedReason = undefined;
    this.host.learned(membership, cluster);
    await this.host.beforeWrite(cluster, agentStatus);
    // A busy agent comes here every BUSY_HEARTBEAT_MS to read the goal, but writes only what is new (a verdict, a
    // step, a position) or once the steady interval has passed: a blip that makes every peer busy then costs
    // the table a few writes, not ten a second per node, so that a tightly provisioned table never throttles
    // the primary's lease renewals (a throttled renewal for the blip tolerance would stop a healthy primary).
    // Positions alone are written at most every POSITION_BEAT_MS: the goal is read twice as often as that, and
    // a switchover under load moves every node's positions all the time.
    const beat = this.host.heartbeat(agentStatus, this.seq);
    const content = heartbeatContent(beat);
    const gist = heartbeatGist(beat);
    const sinceMs = this.lastBeat ? nowMonoMs - this.lastBeat.atMonoMs : Number.POSITIVE_INFINITY;
    if (
      !force &&
      agentStatus === 'UP' &&
      sinceMs < config.heartbeatIntervalMs &&
      (this.lastBeat?.content === content || (this.lastBeat?.gist === gist && sinceMs < POSITION_BEAT_MS))
    )
      return;
    this.seq++;
    try {
      await store.putHeartbeat({ ...beat, seq: this.seq });
      this.lastBeat = { content, gist, atMonoMs: nowMonoMs };
    } catch (error) {
      if (!(error instanceof StoreConflictError)) throw error;
      // A newer heartbeat of this very run is stored: a slow retry lost, which is harmless.
      logger.debug('an older heartbeat lost to a newer one', { seq: this.seq });
    }
  }
}
