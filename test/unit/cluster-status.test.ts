import { describe, expect, it } from 'vitest';
import { buildClusterStatus, formatClusterStatus } from '../../core/cluster-status.ts';
import { readerFacts } from '../../core/reader-facts.ts';
import type { ClusterSnapshot } from '../../core/state-store.ts';
import {
  clusterRecord,
  healthySnapshot,
  heartbeat,
  membership,
  NOW_MS,
  primaryHeartbeat,
  withHeartbeat,
} from '../support/fixtures.ts';

describe('cluster-status verdict and exit code', () => {
  it('reports a healthy cluster as healthy, in sync and safe to promote', () => {
    // Act
    const report = buildClusterStatus(healthySnapshot(), NOW_MS);
    // Assess
    expect(report.problems).toEqual([]);
    expect(report.healthy).toBe(true);
    expect(report.promoteStatus.safeToPromote).toBe(true);
    expect(report.promoteStatus.verdict).toMatch(/^Standby database\(s\) in sync with primary. It is safe to promote./);
    // The candidate is decide()'s own choice, with its reason.
    expect(report.promoteStatus.candidate).toEqual({
      nodeId: 'db2',
      reason: expect.stringMatching(/^db2 has the most WAL/),
    });
    expect(report.standbyPriority).toEqual(['db2', 'db3']);
    expect(report.nodes.map((node) => [node.nodeId, node.agentType, node.agentStatus, node.dbStatus])).toEqual([
      ['db1', 'primary', 'UP', 'UP'],
      ['db2', 'standby', 'UP', 'UP'],
      ['db3', 'standby', 'UP', 'UP'],
    ]);
  });

  // Each row: a change to the healthy cluster, and the problem that must make the exit code non-zero.
  it.each<[string, (s: ClusterSnapshot) => ClusterSnapshot, RegExp]>([
    [
      'a standby database confirmed down',
      (s) =>
        withHeartbeat(
          s,
          heartbeat('db3', {
            agentType: 'idle',
            dbStatus: 'DOWN',
            dbInfo: 'database down: connection refused',
            receivedLsn: null,
            replayedLsn: null,
          }),
        ),
      /database on db3 \(10\.0\.1\.12\) is DOWN: database down: connection refused/,
    ],
    [
      'a database whose state is unknown (wrong password)',
      (s) =>
        withHeartbeat(
          s,
          heartbeat('db2', { agentType: 'idle', dbStatus: 'UNKNOWN', dbInfo: 'the password was rejected' }),
        ),
      /database on db2 .* is UNKNOWN: the password was rejected/,
    ],
    [
      'an agent silent past its node timeout',
      (s) => withHeartbeat(s, heartbeat('db2', { sentAtMs: NOW_MS - 12_000 })),
      /agent on db2 .* is DOWN: no heartbeat for 12s \(node timeout 5\.0s\)/,
    ],
    [
      'an agent that exited',
      (s) => withHeartbeat(s, heartbeat('db3', { agentStatus: 'EXITED' })),
      /agent on db3 .* is EXITED/,
    ],
    [
      'an allowed node that never reported',
      (s) => ({ ...s, heartbeats: s.heartbeats.filter((beat) => beat.nodeId !== 'db3') }),
      /agent on db3 .* is UNKNOWN: no heartbeat has ever been received/,
    ],
    [
      'no primary',
      (s) => withHeartbeat(s, heartbeat('db1', { agentType: 'idle', dbStatus: 'DOWN', dbInfo: 'database down' })),
      /no primary/,
    ],
    [
      'two primaries',
      (s) => withHeartbeat(s, primaryHeartbeat('db2', '0/5000000')),
      /more than one writable primary: db1, db2/,
    ],
    [
      'no standby',
      (s) => ({
        ...s,
        membership: membership(['db1', 'w1']),
        heartbeats: [primaryHeartbeat('db1', '0/5000000'), heartbeat('w1', { agentType: 'witness', dbStatus: 'N/A' })],
      }),
      /no standby/,
    ],
    [
      'a standby past the lag limit',
      (s) => withHeartbeat(s, heartbeat('db3', { receivedLsn: '0/3000000', replayedLsn: '0/3000000' })),
      /standby db3 is not in sync.*33554432 bytes behind the primary, past the 16777216-byte limit/,
    ],
    [
      'a standby on another timeline',
      (s) => withHeartbeat(s, heartbeat('db2', { timeline: 2 })),
      /standby db2 is not in sync with the primary: on timeline 2 while the primary is on timeline 1/,
    ],
    [
      'a primary other than the recorded one',
      (s) => ({ ...s, cluster: clusterRecord({ primaryNodeId: 'db2' }) }),
      /names db2 as primary \(term 1\) but db1 is the writable one/,
    ],
    [
      'a secondary IP with database nodes in different subnets',
      (s) => ({
        ...withHeartbeat(s, heartbeat('db3', { host: { ...heartbeat('db3').host, subnetId: 'subnet-b' } })),
        cluster: clusterRecord({ address: { mode: 'secondary-ip', value: '10.0.1.100', holderNodeId: 'db1' } }),
        heartbeats: withHeartbeat(
          s,
          heartbeat('db3', { host: { ...heartbeat('db3').host, subnetId: 'subnet-b' } }),
        ).heartbeats.map((beat) =>
          beat.nodeId === 'db3' ? beat : { ...beat, host: { ...beat.host, subnetId: 'subnet-a' } },
        ),
      }),
      /secondary IP cannot move between subnets, but the database nodes are in subnet-a, subnet-b/,
    ],
    [
      'a halted cluster, with what to do',
      (s) => ({
        ...s,
        cluster: clusterRecord({
          phase: 'halted',
          alerts: [
            {
              key: 'halted:2',
              severity: 'SEVERE',
              subject: 'failover halted in term 2: the cluster needs an administrator',
              sinceMs: NOW_MS,
            },
          ],
        }),
      }),
      /the cluster is halted \(failover halted in term 2.*\): no failover will happen until a person acts; read why with pgfailover history/,
    ],
    [
      'a SEVERE alert the evaluator raised, while every node looks fine',
      (s) => ({
        ...s,
        cluster: clusterRecord({
          alerts: [
            {
              key: 'manual-failover-required:db1',
              severity: 'SEVERE',
              subject: 'primary db1 failed: manual failover required (automatic failover is off)',
              sinceMs: NOW_MS - 5000,
            },
          ],
        }),
      }),
      /the evaluator reports since .*: primary db1 failed: manual failover required/,
    ],
    [
      'a primary whose agent is gone while its database still answers the peers',
      (s) => ({
        ...withHeartbeat(s, primaryHeartbeat('db1', '0/5000000', [], { sentAtMs: NOW_MS - 12_000 })),
        heartbeats: withHeartbeat(s, primaryHeartbeat('db1', '0/5000000', [], { sentAtMs: NOW_MS - 12_000 }))
          .heartbeats,
      }),
      /primary db1: its agent is not reporting, but its database answers db2, db3: it is probably still serving/,
    ],
    [
      'a standby ahead of the primary and not streaming from it (a diverged old primary)',
      (s) =>
        withHeartbeat(
          withHeartbeat(s, primaryHeartbeat('db1', '0/5000000', ['db2'])),
          heartbeat('db3', { receivedLsn: '0/6000000', replayedLsn: '0/6000000' }),
        ),
      /standby db3 is not in sync with the primary: \d+ bytes ahead of the primary and not streaming from it: its history diverged/,
    ],
    [
      'an item that does not match its schema',
      (s) => ({ ...s, invalid: [{ sk: 'HB#db9', problems: ['seq: expected number'] }] }),
      /item HB#db9 .* not valid and was ignored: seq: expected number/,
    ],
  ])('exits non-zero for %s', (_name, change, problem) => {
    // Act
    const report = buildClusterStatus(change(healthySnapshot()), NOW_MS);
    // Assess
    expect(report.healthy).toBe(false);
    expect(report.problems.join('\n')).toMatch(problem);
  });

  it('stays healthy for a standby behind by less than the lag limit, and says so', () => {
    // Prepare: 4 KiB behind, well inside the 16 MiB default.
    const snapshot = withHeartbeat(
      healthySnapshot(),
      heartbeat('db3', { receivedLsn: '0/4FFF000', replayedLsn: '0/4FFF000' }),
    );
    // Act
    const report = buildClusterStatus(snapshot, NOW_MS);
    // Assess
    expect(report.healthy).toBe(true);
    expect(report.promoteStatus.standbys.find((standby) => standby.nodeId === 'db3')).toMatchObject({
      lagBytes: 4096,
      inSync: true,
      info: '4096 bytes behind',
    });
    expect(report.promoteStatus.verdict).toMatch(/within the 16777216-byte lag limit/);
  });

  it('shows as received what a standby holds: a restarted receiver reports its segment start, behind its replay', () => {
    // Prepare: rewound and restarted, the receiver streams from the segment start; replay is further on.
    const snapshot = withHeartbeat(
      healthySnapshot(),
      heartbeat('db3', { receivedLsn: '0/4000000', replayedLsn: '0/4029D68' }),
    );
    // Act
    const report = buildClusterStatus(snapshot, NOW_MS);
    // Assess: the table says what the candidate choice counts, never received < replayed.
    expect(report.promoteStatus.standbys.find((standby) => standby.nodeId === 'db3')).toMatchObject({
      receivedLsn: '0/4029D68',
      replayedLsn: '0/4029D68',
    });
    expect(formatClusterStatus(report)).not.toMatch(/db3 +0\/4000000/);
  });

  it('never counts a node that is not allowed, and warns about its rejected heartbeats', () => {
    // Prepare
    const snapshot: ClusterSnapshot = {
      ...healthySnapshot(),
      heartbeats: [...healthySnapshot().heartbeats, primaryHeartbeat('rogue', '0/9000000')],
      rejected: [
        {
          cluster: 'prod',
          sk: 'REJECTED#rogue',
          nodeId: 'rogue',
          address: '10.9.9.9',
          reason: 'not in the allowed node list',
          firstAtMs: NOW_MS - 5000,
          lastAtMs: NOW_MS,
          attempts: 5,
        },
      ],
    };
    // Act
    const report = buildClusterStatus(snapshot, NOW_MS);
    // Assess
    expect(report.nodes.map((node) => node.nodeId)).not.toContain('rogue');
    expect(report.healthy).toBe(true);
    expect(report.rejectedNodes).toEqual([expect.objectContaining({ nodeId: 'rogue', attempts: 5 })]);
    expect(report.warnings.join('\n')).toMatch(/heartbeats from rogue \(10\.9\.9\.9\) are rejected/);
  });

  it("right after a node-crash failover, counts the old primary's last report (an older term) as no primary now", () => {
    // Prepare: term 2 made db2 primary; db1's last heartbeat, 3.5 s old, was sent in term 1 as primary.
    const snapshot: ClusterSnapshot = {
      ...healthySnapshot(),
      cluster: clusterRecord({ term: 2, primaryNodeId: 'db2' }),
      heartbeats: [
        primaryHeartbeat('db1', '0/5000000', ['db2', 'db3'], { sentAtMs: NOW_MS - 3500, term: 1 }),
        primaryHeartbeat('db2', '0/5000100', ['db3'], { term: 2 }),
        heartbeat('db3', { receivedLsn: '0/5000100', replayedLsn: '0/5000100', term: 2 }),
      ],
    };
    // Act
    const report = buildClusterStatus(snapshot, NOW_MS);
    // Assess: no split brain, db2 compared as the primary, db1 a problem of its own and no candidate.
    const problems = report.problems.join('\n');
    expect(problems).not.toMatch(/more than one writable primary/);
    expect(problems).toMatch(
      /agent on db1 .* is UNKNOWN: no report since term 2 replaced it \(the last, 3\.5s ago in term 1/,
    );
    expect(report.promoteStatus.primary?.nodeId).toBe('db2');
    expect(report.promoteStatus.standbys).toEqual([expect.objectContaining({ nodeId: 'db3', inSync: true })]);
    expect(report.standbyPriority).toEqual(['db3']);
  });

  it('still reports a split brain when a replaced primary has seen the new term and stays writable', () => {
    // Prepare
    const snapshot: ClusterSnapshot = {
      ...healthySnapshot(),
      cluster: clusterRecord({ term: 2, primaryNodeId: 'db2' }),
      heartbeats: [
        primaryHeartbeat('db1', '0/5000000', [], { term: 2 }),
        primaryHeartbeat('db2', '0/5000100', ['db3'], { term: 2 }),
        heartbeat('db3', { receivedLsn: '0/5000100', replayedLsn: '0/5000100', term: 2 }),
      ],
    };
    // Act
    const report = buildClusterStatus(snapshot, NOW_MS);
    // Assess
    expect(report.problems.join('\n')).toMatch(/more than one writable primary: db1, db2/);
  });

  it('leaves a node whose agent is not reporting out of the standby priority list', () => {
    const report = buildClusterStatus(
      withHeartbeat(healthySnapshot(), heartbeat('db2', { sentAtMs: NOW_MS - 60_000 })),
      NOW_MS,
    );
    expect(report.standbyPriority).toEqual(['db3']);
  });

  it('warns that protection is reduced with fewer than three members', () => {
    const snapshot: ClusterSnapshot = {
      ...healthySnapshot(),
      membership: membership(['db1', 'db2']),
      heartbeats: healthySnapshot().heartbeats.slice(0, 2),
    };
    const report = buildClusterStatus(snapshot, NOW_MS);
    expect(report.warnings.join('\n')).toMatch(/only 2 member\(s\).*failover protection is reduced/);
  });

  it.each<[string, (s: ClusterSnapshot) => ClusterSnapshot, string | null]>([
    ['the most WAL wins', (s) => withHeartbeat(s, heartbeat('db3', { receivedLsn: '0/5000100' })), 'db3'],
    ['a silent standby is not chosen', (s) => withHeartbeat(s, heartbeat('db2', { sentAtMs: NOW_MS - 60_000 })), 'db3'],
    ['a standby on another timeline is not chosen', (s) => withHeartbeat(s, heartbeat('db2', { timeline: 2 })), 'db3'],
    [
      'every standby past the lag limit: none',
      (s) =>
        withHeartbeat(
          withHeartbeat(s, heartbeat('db2', { receivedLsn: '0/1000', replayedLsn: '0/1000' })),
          heartbeat('db3', { receivedLsn: '0/1000', replayedLsn: '0/1000' }),
        ),
      null,
    ],
  ])("names the evaluator's own candidate: %s", (_name, change, expected) => {
    // Prepare
    const snapshot = change(healthySnapshot());
    // Act
    const report = buildClusterStatus(snapshot, NOW_MS);
    const decided = readerFacts(snapshot, NOW_MS).candidate?.nodeId ?? null;
    // Assess
    expect(report.promoteStatus.candidate?.nodeId ?? null).toBe(expected);
    expect(decided).toBe(expected);
    expect(report.promoteStatus.safeToPromote).toBe(expected !== null);
    if (expected === null) expect(report.promoteStatus.notChosen.map((v) => v.nodeId)).toEqual(['db2', 'db3']);
  });

  it('shows a pause and a pending manual failover as warnings, and in the header', () => {
    // Prepare
    const snapshot: ClusterSnapshot = {
      ...healthySnapshot(),
      cluster: clusterRecord({
        pause: { sinceMs: NOW_MS - 60_000, by: 'dba@host', reason: 'minor upgrade' },
        promotion: { toNodeId: 'db3', term: 1, requestedAtMs: NOW_MS - 1000, requestedBy: 'dba@host', force: false },
      }),
    };
    // Act
    const report = buildClusterStatus(snapshot, NOW_MS);
    // Assess
    expect(report.pause).toMatchObject({ by: 'dba@host', reason: 'minor upgrade' });
    expect(report.promotion).toMatchObject({ toNodeId: 'db3', requestedBy: 'dba@host' });
    expect(report.warnings.join('\n')).toMatch(/paused since .* by dba@host \(minor upgrade\).*pgfailover resume/);
    expect(report.warnings.join('\n')).toMatch(/manual failover to db3 asked for by dba@host/);
    expect(formatClusterStatus(report)).toMatch(/^Cluster Status: prod +\(term 1, PAUSED, automatic failover on/);
  });

  it('warns for as long as the cluster is fenced by its agents alone, and not otherwise', () => {
    // Prepare
    const agentFenced = healthySnapshot();
    const watchdogFenced: ClusterSnapshot = {
      ...healthySnapshot(),
      cluster: clusterRecord({ policy: { ...clusterRecord().policy, fencing: 'watchdog' } }),
    };
    // Act
    const agentReport = buildClusterStatus({ ...agentFenced, cluster: clusterRecord() }, NOW_MS);
    const watchdogReport = buildClusterStatus(watchdogFenced, NOW_MS);
    // Assess
    expect(agentReport.warnings.join('\n')).toMatch(
      /fencing "agent": .*frozen, hung, killed, or restarted.*set-policy --fencing watchdog/,
    );
    expect(watchdogReport.warnings.join('\n')).not.toMatch(/fencing "agent"/);
  });

  it("notes a standby missing from the primary's pg_stat_replication", () => {
    const snapshot = withHeartbeat(healthySnapshot(), primaryHeartbeat('db1', '0/5000000', ['db2']));
    const report = buildClusterStatus(snapshot, NOW_MS);
    expect(report.promoteStatus.standbys.find((standby) => standby.nodeId === 'db3')?.info).toMatch(
      /not listed as streaming/,
    );
  });
});

describe('cluster-status text report', () => {
  it('has the sections a DBA who runs EFM looks for', () => {
    // Act
    const text = formatClusterStatus(buildClusterStatus(healthySnapshot(), NOW_MS));
    // Assess
    expect(text).toMatch(/^Cluster Status: prod {3}\(term 1, automatic failover on, fencing agent\)/);
    expect(text).toMatch(/Agent Type +Node +Address +Agent +DB +Info/);
    expect(text).toMatch(/Primary +db1 +10\.0\.1\.10 +UP +UP/);
    expect(text).toContain('Allowed node host list:\n  db1 (10.0.1.10) db2 (10.0.1.11) db3 (10.0.1.12)');
    expect(text).toContain('Standby priority host list:\n  db2 db3');
    expect(text).toMatch(/DB Type +Node +WAL Received LSN +WAL Replayed LSN/);
    expect(text).toMatch(/Standby +db2 +0\/5000000 +0\/5000000/);
    expect(text).toContain('Standby database(s) in sync with primary. It is safe to promote.');
    expect(text).not.toContain('Problems:');
  });

  it('lists problems and marks the address holder when an address is managed', () => {
    // Prepare
    const snapshot: ClusterSnapshot = {
      ...withHeartbeat(
        healthySnapshot(),
        heartbeat('db3', { agentType: 'idle', dbStatus: 'DOWN', dbInfo: 'database down: connection refused' }),
      ),
      cluster: clusterRecord({ address: { mode: 'eip', value: '203.0.113.7', holderNodeId: 'db1' } }),
    };
    // Act
    const text = formatClusterStatus(buildClusterStatus(snapshot, NOW_MS));
    // Assess
    expect(text).toMatch(/Primary +db1 +10\.0\.1\.10 +UP +UP +203\.0\.113\.7\*/);
    expect(text).toMatch(/Standby +db2 +10\.0\.1\.11 +UP +UP +203\.0\.113\.7(?!\*)/);
    expect(text).toMatch(/Problems:\n {2}- database on db3 \(10\.0\.1\.12\) is DOWN/);
  });
});
