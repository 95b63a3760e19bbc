// Builders for records and snapshots, so that each test states only what matters to it.

import { DEFAULT_TIMEOUTS } from '../../core/agent-config.ts';
import type { Timeouts } from '../../core/records.ts';

/**
 * The timeouts the fixtures' heartbeats carry: the defaults with a node timeout of 5 s, which the decision
 * tests' silences (a few seconds) are written against, whatever the default becomes.
 */
export const FIXTURE_TIMEOUTS: Timeouts = { ...DEFAULT_TIMEOUTS, nodeTimeoutMs: 5000 };
import {
  DEFAULT_CLUSTER_POLICY,
  heartbeatKey,
  newClusterRecord,
  SK,
  type ClusterRecord,
  type HeartbeatRecord,
  type MembershipRecord,
} from '../../core/records.ts';
import type { Observations } from '../../core/observations.ts';
import type { AddressTarget } from '../../core/ports.ts';
import type { ClusterSnapshot } from '../../core/state-store.ts';

export const NOW_MS = 1_800_000_000_000;

export function clusterRecord(overrides: Partial<ClusterRecord> = {}): ClusterRecord {
  return {
    ...newClusterRecord(
      // The rows of these tests were written for agent fencing; the default (watchdog) is set by name where tested.
      { cluster: 'prod', primaryNodeId: 'db1', policy: { ...DEFAULT_CLUSTER_POLICY, fencing: 'agent' } },
      NOW_MS - 60_000,
    ),
    ...overrides,
  };
}

export function membership(nodeIds: string[], priority: string[] = []): MembershipRecord {
  return {
    cluster: 'prod',
    sk: SK.membership,
    version: 1,
    allowed: nodeIds.map((nodeId, index) => ({
      nodeId,
      address: `10.0.1.${10 + index}`,
      role: nodeId.startsWith('w') ? ('witness' as const) : ('database' as const),
    })),
    priority,
    updatedAtMs: NOW_MS - 60_000,
  };
}

export function heartbeat(nodeId: string, overrides: Partial<HeartbeatRecord> = {}): HeartbeatRecord {
  return {
    cluster: 'prod',
    sk: heartbeatKey(nodeId),
    nodeId,
    bootId: `boot-${nodeId}`,
    seq: 10,
    sentAtMs: NOW_MS - 500,
    agentType: 'standby',
    agentStatus: 'UP',
    dbStatus: 'UP',
    dbInfo: '',
    timeline: 1,
    currentLsn: null,
    receivedLsn: '0/5000000',
    replayedLsn: '0/5000000',
    replayLagMs: 0,
    replication: [],
    host: { hostname: nodeId, address: '10.0.1.10', dbPort: 5432, privateIp: null, instanceId: null, eniId: null },
    timeouts: FIXTURE_TIMEOUTS,
    agentVersion: '0.1.0',
    term: 1,
    primaryCheck: nodeId === 'db1' ? null : { primaryNodeId: 'db1', status: 'UP', reason: '' },
    action: null,
    upstream: nodeId === 'db1' ? null : '10.0.1.10:5432',
    watchdogArmed: false,
    hookFailures: [],
    ...overrides,
  };
}

export function primaryHeartbeat(
  nodeId: string,
  currentLsn: string,
  streamingTo: string[] = [],
  overrides: Partial<HeartbeatRecord> = {},
): HeartbeatRecord {
  return heartbeat(nodeId, {
    agentType: 'primary',
    currentLsn,
    receivedLsn: null,
    replayedLsn: null,
    replayLagMs: null,
    replication: streamingTo.map((name) => ({
      applicationName: name,
      clientAddr: '10.0.1.99',
      state: 'streaming',
      syncState: 'async',
      sentLsn: currentLsn,
      flushLsn: currentLsn,
      replayLsn: currentLsn,
    })),
    ...overrides,
  });
}

/** A healthy three-node cluster: db1 primary, db2 and db3 level with it and streaming. */
export function healthySnapshot(): ClusterSnapshot {
  return {
    cluster: clusterRecord(),
    membership: membership(['db1', 'db2', 'db3'], ['db2', 'db3']),
    heartbeats: [primaryHeartbeat('db1', '0/5000000', ['db2', 'db3']), heartbeat('db2'), heartbeat('db3')],
    rejected: [],
    invalid: [],
  };
}

export function withHeartbeat(snapshot: ClusterSnapshot, replacement: HeartbeatRecord): ClusterSnapshot {
  return {
    ...snapshot,
    heartbeats: [...snapshot.heartbeats.filter((beat) => beat.nodeId !== replacement.nodeId), replacement],
  };
}

/** Observations as an evaluator that has watched for a while would have them: every node seen just now. */
export function freshObservations(snapshot: ClusterSnapshot, leaseChangedAtMs = NOW_MS - 500): Observations {
  return {
    nodes: Object.fromEntries(
      snapshot.heartbeats.map((beat) => [
        beat.nodeId,
        { bootId: beat.bootId, seq: beat.seq, changedAtMonoMs: NOW_MS - 500 },
      ]),
    ),
    lease: { term: snapshot.cluster.term, renewals: snapshot.cluster.leaseRenewals, changedAtMonoMs: leaseChangedAtMs },
    phase: { term: snapshot.cluster.term, phase: snapshot.cluster.phase, sinceMonoMs: NOW_MS - 500 },
  };
}

/** Where the evaluator acts for node db2 of cluster prod on EC2: its address and the ids its heartbeat names. */
export function ec2Target(ids: {
  eniId?: string | null;
  instanceId?: string | null;
  privateIp?: string | null;
}): AddressTarget {
  return {
    cluster: 'prod',
    nodeId: 'db2',
    address: '10.0.1.11',
    host: {
      hostname: 'db2',
      address: '10.0.1.11',
      dbPort: 5432,
      privateIp: ids.privateIp ?? null,
      instanceId: ids.instanceId ?? null,
      eniId: ids.eniId ?? null,
    },
  };
}
