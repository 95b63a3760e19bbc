// Replication trouble (core/replication-health.ts), row by row, and as the evaluator alerts on it and
// cluster-status reports it.

import { describe, expect, it } from 'vitest';
import { buildClusterStatus } from '../../core/cluster-status.ts';
import { decide } from '../../core/decide.ts';
import type { HeartbeatRecord, ReplicationPeer } from '../../core/records.ts';
import {
  replicationTrouble,
  ROLE_CHANGE_GRACE_MS,
  SYNC_MISSING_SEVERE_MS,
  type ReplicationView,
} from '../../core/replication-health.ts';
import { freshObservations, healthySnapshot, NOW_MS, primaryHeartbeat, withHeartbeat } from '../support/fixtures.ts';

const peer = (name: string, change: Partial<ReplicationPeer> = {}): ReplicationPeer => ({
  applicationName: name,
  clientAddr: '10.0.1.11',
  state: 'streaming',
  syncState: 'async',
  sentLsn: '0/5000000',
  flushLsn: '0/5000000',
  replayLsn: '0/5000000',
  replyAgeMs: 1000,
  ...change,
});
const sync = (waiting: number, longestWaitMs: number | null) => ({ required: true, waiting, longestWaitMs });

function view(beat: ReplicationView['beat'], change: Partial<ReplicationView> = {}): ReplicationView {
  return {
    primaryId: 'db1',
    beat,
    standbyIds: ['db2', 'db3'],
    standingSinceMs: () => undefined,
    nowMs: NOW_MS,
    roleChangedAtMs: null,
    ...change,
  };
}

describe('replication trouble', () => {
  it.each<[string, ReplicationView, string[]]>([
    ['async, both standbys streaming: none', view({ replication: [peer('db2'), peer('db3')] }), []],
    ['async, one standby streaming: none', view({ replication: [peer('db2')] }), []],
    ['async, nobody streaming: a warning', view({ replication: [] }), ['no-standby-streaming:db1/WARNING']],
    [
      'async, a standby "streaming" but silent past its replies (a silent cut): counted as not streaming',
      view({ replication: [peer('db2', { replyAgeMs: 40_000 })] }),
      ['no-standby-streaming:db1/WARNING'],
    ],
    [
      'sync, the synchronous standby streaming, no commit waiting: none',
      view({ replication: [peer('db2', { syncState: 'sync' })], syncCommits: sync(0, null) }),
      [],
    ],
    [
      'sync, only an async standby streams: commits cannot be acknowledged',
      view({ replication: [peer('db3')], syncCommits: sync(0, null) }),
      ['sync-standby-missing:db1/WARNING'],
    ],
    [
      'sync, commits waiting 3 s on a standby still listed as streaming: a warning within seconds',
      view({ replication: [peer('db2', { syncState: 'sync' })], syncCommits: sync(4, 3000) }),
      ['sync-commits-waiting:db1/WARNING'],
    ],
    [
      'sync, commits waiting 31 s: a SEVERE as well',
      view({ replication: [peer('db2', { syncState: 'sync' })], syncCommits: sync(4, 31_000) }),
      ['sync-commits-waiting:db1/WARNING', 'sync-commits-blocked:db1/SEVERE'],
    ],
    [
      'sync, missing for longer than the SEVERE bound: paged even with no commit waiting',
      view(
        { replication: [], syncCommits: sync(0, null) },
        {
          standingSinceMs: (key) => (key === 'sync-standby-missing:db1' ? NOW_MS - SYNC_MISSING_SEVERE_MS : undefined),
        },
      ),
      ['sync-standby-missing:db1/WARNING', 'sync-standby-missing-long:db1/SEVERE'],
    ],
    ['no standby expected: none', view({ replication: [] }, { standbyIds: [] }), []],
    [
      'just after a role change: none yet (the standbys are repointing)',
      view({ replication: [] }, { roleChangedAtMs: NOW_MS - ROLE_CHANGE_GRACE_MS + 1000 }),
      [],
    ],
  ])('%s', (_name, input, expected) => {
    expect(replicationTrouble(input).map((t) => `${t.key}/${t.severity}`)).toEqual(expected);
  });
});

describe('replication trouble, end to end through the pure cores', () => {
  const blocked: Partial<HeartbeatRecord> = { syncCommits: sync(12, 5000) };
  const snapshot = () =>
    withHeartbeat(healthySnapshot(), primaryHeartbeat('db1', '0/5000000', ['db2', 'db3'], blocked));

  it('the evaluator raises it once, with the standbys as the primary sees them', () => {
    const base = snapshot();
    const decision = decide({ ...base, observations: freshObservations(base) }, { wallMs: NOW_MS, monoMs: NOW_MS });
    const notice = decision.notices.find((n) => n.event === 'sync-commits-waiting');
    expect(notice?.severity).toBe('WARNING');
    expect(notice?.subject).toMatch(/12 commit\(s\) on db1 have waited up to 5 s for a synchronous standby/);
    expect(decision.next?.alerts.map((a) => a.key)).toContain('sync-commits-waiting:db1');
  });

  it("cluster-status reports it as a problem (exit 1), with each standby's replication state", () => {
    const report = buildClusterStatus(snapshot(), NOW_MS);
    expect(report.healthy).toBe(false);
    expect(report.problems.join('\n')).toMatch(
      /12 commit\(s\) on db1 have waited up to 5 s .*db2 \(10\.0\.1\.99\): streaming, async/,
    );
    expect(report.promoteStatus.standbys.find((s) => s.nodeId === 'db2')?.replication).toMatch(/streaming, async/);
  });
});
