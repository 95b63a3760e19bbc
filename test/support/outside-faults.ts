// What the lab tests of faults found from outside share: writers on both sides, the writable sampler, and
// the checks every case asserts (one writable primary again within the bound, no acknowledged row lost).

import { expect } from 'vitest';
import type { ClusterRecord, HeartbeatRecord } from '../../core/records.ts';
import { clusterWriter, type ClusterWriter } from '../../cli/local/cluster-writer.ts';
import { ConnectionStorm } from '../../cli/local/connection-storm.ts';
import { connectLocalStore, sqlTarget } from '../../cli/local/local-cluster.ts';
import { WritableSampler } from '../../cli/local/writable-sampler.ts';
import type { ClusterContext } from './local-cluster.ts';
import { pollUntil } from './poll.ts';

export const TABLE = 'outside_rows';
/**
 * Every case here must have one writable primary again within this long of its fault: what the nemesis and
 * the silent-fault tests allow under CI's load (two lab clusters at once on two cores).
 */
export const RECOVERY_BOUND_MS = 90_000;

export async function record(cluster: ClusterContext): Promise<ClusterRecord | undefined> {
  return connectLocalStore(cluster.state).getCluster(cluster.state.cluster);
}

export async function beatOf(cluster: ClusterContext, nodeId: string): Promise<HeartbeatRecord | undefined> {
  const snapshot = await connectLocalStore(cluster.state).readSnapshot(cluster.state.cluster);
  return snapshot.heartbeats.find((beat) => beat.nodeId === nodeId);
}

export async function events(cluster: ClusterContext): Promise<string[]> {
  const history = await connectLocalStore(cluster.state).readHistory(cluster.state.cluster, 500);
  return history.entries.map((entry) => entry.event);
}

/** Steady with one writable server, the recorded primary (not `not`), within the bound; returns it. */
export async function onePrimaryAgain(cluster: ClusterContext, sinceMs: number, not?: string): Promise<string> {
  let seen = 'nothing read yet';
  const primary = await pollUntil(
    'one writable primary again, the recorded one',
    async () => {
      const now = await record(cluster);
      const writable = await cluster.writableNodes();
      seen = `term ${now?.term ?? '?'} phase ${now?.phase ?? '?'} primary ${now?.primaryNodeId ?? 'none'}; writable: ${writable.join(', ') || 'none'}`;
      if (now?.phase !== 'steady' || !now.primaryNodeId || now.primaryNodeId === not) return undefined;
      return writable.length === 1 && writable[0] === now.primaryNodeId ? now.primaryNodeId : undefined;
    },
    Math.max(1000, RECOVERY_BOUND_MS - (Date.now() - sinceMs)),
    250,
  ).catch(async (error: unknown) => {
    // What a CI log needs to tell a stuck failover from a slow one: the state, and what the evaluator decided.
    const decided = (await connectLocalStore(cluster.state).readHistory(cluster.state.cluster, 500)).entries
      .filter((entry) => entry.kind === 'decision')
      .slice(-6)
      .map((entry) => `${entry.event}: ${entry.subject}`);
    throw new Error(`${String(error)}; last seen: ${seen}; last decisions: ${decided.join(' | ') || 'none'}`);
  });
  expect((await record(cluster))?.phase).not.toBe('halted');
  return primary;
}

export async function assertNoAcknowledgedRowLost(cluster: ClusterContext, primary: string, writers: ClusterWriter[]) {
  const present = new Set(
    (await cluster.sql<{ id: string }>(primary, `SELECT id FROM ${TABLE}`)).map((row) => Number(row.id)),
  );
  const acked = writers.flatMap((writer) => writer.acked.map((ack) => ack.id));
  // At least the writes before the fault: after a double fault the last standby has no synchronous standby
  // of its own, and rightly acknowledges nothing.
  expect(acked.length).toBeGreaterThan(5);
  expect(acked.filter((id) => !present.has(id))).toEqual([]);
}

/** Writers (through the address, and straight to db1 when asked) and the sampler, around `body`. */
export async function underLoad(
  cluster: ClusterContext,
  options: { direct: boolean },
  body: (writers: ClusterWriter[], sampler: WritableSampler) => Promise<void>,
): Promise<void> {
  await cluster.sql('db1', `CREATE TABLE ${TABLE} (id bigint PRIMARY KEY)`);
  const writers = [clusterWriter(cluster.state, cluster.dir, TABLE, cluster.password)];
  if (options.direct)
    writers.push(
      clusterWriter(cluster.state, cluster.dir, TABLE, cluster.password, {
        to: cluster.node('db1').address,
        firstId: 1_000_000,
      }),
    );
  const sampler = new WritableSampler(cluster.state.nodes, cluster.password, 100);
  sampler.start();
  try {
    for (const writer of writers) writer.start();
    await pollUntil(
      'writes before the fault',
      () => (writers.every((writer) => writer.acked.length > 5) ? true : undefined),
      20_000,
      50,
    );
    await body(writers, sampler);
  } finally {
    for (const writer of writers) await writer.stop();
    await sampler.stop();
  }
  expect(sampler.overlaps).toEqual([]);
  expect(sampler.samples).toBeGreaterThan(20);
}

/** Fills db1's connection slots and waits until its agent reports the database UNKNOWN. */
export async function stormOnDb1(cluster: ClusterContext): Promise<ConnectionStorm> {
  const storm = new ConnectionStorm(sqlTarget(cluster.node('db1')), cluster.password, 120_000);
  await storm.start();
  // A precondition, not a measurement: under CI's load the storm takes a while to fill the server, and the
  // agent sees it only once its held connection is replaced (every 10 s) and the new login is refused.
  let seen = 'no heartbeat read yet';
  await pollUntil(
    "db1's agent refused (SQLSTATE 53300), its database UNKNOWN",
    async () => {
      const beat = await beatOf(cluster, 'db1');
      seen = `storm ${storm.full ? 'has filled the server' : 'has not filled the server yet'}; db1 reports ${beat?.dbStatus ?? 'nothing'} (${beat?.dbInfo ?? ''})`;
      return storm.full && beat?.dbStatus === 'UNKNOWN' ? true : undefined;
    },
    60_000,
    100,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}; ${seen}`);
  });
  return storm;
}
