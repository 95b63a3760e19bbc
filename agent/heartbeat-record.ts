// The heartbeat this agent would send now: what its parts know, as one record. A database's figures count
// only while its verdict is UP; a witness reports no database at all.

import type { AgentConfig } from '../core/agent-config.ts';
import type { LocalHealth } from '../core/local-health.ts';
import { heartbeatKey, type HeartbeatRecord } from '../core/records.ts';
import { PGFAILOVER_VERSION } from '../core/version.ts';
import type { DatabaseFacts } from './database-facts.ts';

export interface HeartbeatInput {
  config: AgentConfig;
  host: HeartbeatRecord['host'];
  bootId: string;
  seq: number;
  sentAtMs: number;
  agentStatus: HeartbeatRecord['agentStatus'];
  agentType: HeartbeatRecord['agentType'];
  health: LocalHealth;
  facts: DatabaseFacts | undefined;
  term: number;
  /** This node's vote on the recorded primary, when it checks one. */
  primaryCheck: { nodeId: string; health: LocalHealth } | null;
  action: HeartbeatRecord['action'];
  watchdogArmed: boolean;
  hookFailures: HeartbeatRecord['hookFailures'];
}

export function heartbeatRecord(input: HeartbeatInput): HeartbeatRecord {
  const { config } = input;
  const witness = config.role === 'witness';
  const facts = input.health.status === 'UP' ? input.facts : undefined;
  return {
    cluster: config.cluster,
    sk: heartbeatKey(config.nodeId),
    nodeId: config.nodeId,
    bootId: input.bootId,
    seq: input.seq,
    sentAtMs: input.sentAtMs,
    agentType: input.agentType,
    agentStatus: input.agentStatus,
    dbStatus: witness ? 'N/A' : input.health.status,
    dbInfo: witness ? '' : input.health.reason,
    timeline: facts?.timeline ?? null,
    currentLsn: facts?.currentLsn ?? null,
    receivedLsn: facts?.receivedLsn ?? null,
    replayedLsn: facts?.replayedLsn ?? null,
    replayLagMs: facts?.replayLagMs ?? null,
    replication: facts?.replication ?? [],
    syncCommits: facts?.syncCommits ? { ...facts.syncCommits } : null,
    host: input.host,
    timeouts: config.timeouts,
    agentVersion: PGFAILOVER_VERSION,
    term: input.term,
    primaryCheck: input.primaryCheck
      ? {
          primaryNodeId: input.primaryCheck.nodeId,
          status: input.primaryCheck.health.status,
          reason: input.primaryCheck.health.reason,
        }
      : null,
    action: input.action,
    upstream: facts?.upstream ?? null,
    watchdogArmed: input.watchdogArmed,
    hookFailures: input.hookFailures,
  };
}
