// Before a failover's pg_promote(), the candidate makes sure it holds as much WAL as any other standby that
// answers it, and streams what it lacks from the one that has more (as pg_auto_failover's fast_forward does).
// docs/failover.md, "The candidate catches up first".

import type { AgentConfig } from '../core/agent-config.ts';
import { catchUpSource, type PeerPosition } from '../core/catch-up.ts';
import type { Clock } from '../core/clock.ts';
import { compareLsn, standbyPosition } from '../core/lsn.ts';
import { findAllowed } from '../core/membership.ts';
import { formatHostPort, parseNodeAddress } from '../core/node-address.ts';
import type { ClusterRecord, MembershipRecord, Severity } from '../core/records.ts';
import type { AgentLogger } from './deps.ts';
import type { ProbeResult } from './database-probe.ts';
import { streamingTimeline } from './heartbeat-content.ts';
import type { NodeOps } from './ports/node-ops.ts';

/**
 * A failover's candidate may stream WAL it lacks from a standby that has more for this many remote
 * timeouts (5 s by default: the lag limit's 16 MiB streams in well under a second on a LAN).
 */
const CATCH_UP_REMOTE_TIMEOUTS = 5;
const CATCH_UP_POLL_MS = 10;
/** How often a peer still streaming from the old primary is read again, for its final WAL position. */
const FINAL_POSITION_POLL_MS = 20;
/**
 * A receiver that has heard nothing from the old primary for this long has nothing more in flight from it:
 * on a network where a message takes milliseconds, the last bytes a dead server sent have arrived by then.
 */
const IN_FLIGHT_QUIET_MS = 200;

export interface CatchUpDeps {
  config: AgentConfig;
  ops: NodeOps;
  logger: AgentLogger;
  clock: Clock;
  membership: MembershipRecord | undefined;
  pause(ms: number): Promise<void>;
  /** The agent is stopping: give up waiting. */
  stopped(): boolean;
  /** A notice in the cluster's history from this agent. */
  note(event: string, severity: Severity, subject: string, lines: string[]): Promise<void>;
}

/**
 * Before a failover's pg_promote(): reads every other database standby's final WAL position (the old primary
 * has stopped by the time this term exists; a peer whose receiver still streams from it is read again until
 * it lets go) and, if one holds more WAL than this node, streams the rest from it (core/catch-up.ts). Returns
 * why not to promote, or undefined to go on. A peer that does not answer is left out and named in the log:
 * it is cut off from this node, and from the new primary too.
 */
export async function catchUpWithPeers(deps: CatchUpDeps, goal: ClusterRecord): Promise<string | undefined> {
  const { config, ops, logger, clock } = deps;
  const probe = ops.probe;
  if (!probe || !deps.membership) return undefined;
  const peers = deps.membership.allowed.filter(
    (node) => node.role === 'database' && node.nodeId !== config.nodeId && node.nodeId !== goal.failover?.fromNodeId,
  );
  const own = (): Promise<{ timeline: number | null; position: string | null }> =>
    probe(config.timeouts.localTimeoutMs).then((result) => ({
      timeline: streamingTimeline(result.facts),
      position: result.facts ? standbyPosition(result.facts.receivedLsn, result.facts.replayedLsn) : null,
    }));
  // A peer still streaming from the old primary may have WAL in flight from it (the old server was killed a
  // moment ago and its last bytes are still being written): its position is final once its receiver has let
  // go, or has heard nothing for a while (a silent crash: the receiver holds on until wal_receiver_timeout,
  // but the lease has run out since, and nothing is in flight). Read again until then, within a remote timeout.
  const fromAddress = goal.failover?.fromNodeId
    ? findAllowed(deps.membership, goal.failover.fromNodeId)?.address
    : undefined;
  const oldUpstream = fromAddress ? formatHostPort(parseNodeAddress(fromAddress)) : undefined;
  const settledByMonoMs = clock.monotonicMs() + config.timeouts.remoteTimeoutMs;
  const readPeer = async (address: string): Promise<ProbeResult> => {
    for (;;) {
      const answer = await ops
        .probePeer(address, config.timeouts.remoteTimeoutMs)
        .catch((error: unknown): ProbeResult => ({ kind: 'failed', reason: String(error) }));
      const facts = answer.facts;
      const stillHearing =
        oldUpstream !== undefined &&
        facts?.upstream === oldUpstream &&
        (facts.receiverQuietMs ?? 0) < IN_FLIGHT_QUIET_MS;
      if (!stillHearing || clock.monotonicMs() >= settledByMonoMs || deps.stopped()) return answer;
      await deps.pause(FINAL_POSITION_POLL_MS);
    }
  };
  const [mine, ...answers] = await Promise.all([own(), ...peers.map((peer) => readPeer(peer.address))]);
  if (mine.position === null) return 'the local database could not be checked before promoting';
  const positions: PeerPosition[] = [];
  const unanswered: string[] = [];
  answers.forEach((answer, index) => {
    const peer = peers[index];
    const facts = answer.facts;
    const position = facts?.inRecovery ? standbyPosition(facts.receivedLsn, facts.replayedLsn) : null;
    if (!peer) return;
    if (facts && position) positions.push({ ...peer, timeline: streamingTimeline(facts), position });
    else if (!facts) unanswered.push(`${peer.nodeId} (${answer.kind === 'ok' ? 'no facts' : answer.reason})`);
  });
  const ownPosition = { timeline: mine.timeline, position: mine.position };
  const source = catchUpSource(ownPosition, positions);
  const compared = positions.map((peer) => `${peer.nodeId} ${peer.position}`).join(', ') || 'no other standby';
  const left = unanswered.length > 0 ? `; not answering: ${unanswered.join(', ')}` : '';
  if (!source) {
    logger.info(`has the most WAL before promoting: ${mine.position} (${compared}${left})`);
    return undefined;
  }
  logger.warn(
    `${source.nodeId} has more WAL (${source.position}) than this node (${mine.position}): streaming the rest from it before promoting${left}`,
  );
  await deps.note('catch-up', 'WARNING', `${config.nodeId} fetches WAL from ${source.nodeId} before promoting`, [
    `${source.nodeId} has more WAL (${source.position}) than ${config.nodeId} (${mine.position}), the candidate`,
    `Compared: ${compared}${left}`,
  ]);
  await ops.repoint(ops.conninfoFor(source.address));
  const waitMs = CATCH_UP_REMOTE_TIMEOUTS * config.timeouts.remoteTimeoutMs;
  const deadline = clock.monotonicMs() + waitMs;
  let reached: string | null = mine.position;
  while (clock.monotonicMs() < deadline && !deps.stopped()) {
    reached = (await own()).position;
    if (reached !== null && compareLsn(reached, source.position) >= 0) {
      logger.info(`caught up with ${source.nodeId} at ${reached}; promoting`);
      return undefined;
    }
    await deps.pause(CATCH_UP_POLL_MS);
  }
  return `${source.nodeId} has more WAL (${source.position}) than this node, which reached ${reached ?? 'an unknown position'} streaming from it within ${waitMs} ms: not promoting, so that the evaluator chooses again`;
}
