import { describe, expect, it } from 'vitest';
import {
  BUSY_RULE_IDS,
  decide,
  DEMOTING_RULES,
  FAILOVER_RULE_IDS,
  HALTED_RULES,
  PROMOTED_RULES,
  PROMOTING_RULES,
  RULE_IDS,
  STEADY_RULES,
  type Decision,
} from '../../core/decide.ts';
import type { Observations } from '../../core/observations.ts';
import type { HeartbeatRecord } from '../../core/records.ts';
import type { ClusterSnapshot } from '../../core/state-store.ts';
import {
  clusterRecord,
  freshObservations,
  healthySnapshot,
  heartbeat,
  membership,
  NOW_MS,
} from '../support/fixtures.ts';

interface World {
  snapshot: ClusterSnapshot;
  observations: Observations;
}
type Change = (world: World) => void;

function replaceBeat(world: World, nodeId: string, change: Partial<HeartbeatRecord>): void {
  world.snapshot.heartbeats = world.snapshot.heartbeats.map((beat) =>
    beat.nodeId === nodeId ? { ...beat, ...change } : beat,
  );
}
const primaryDbDown: Change = (w) =>
  replaceBeat(w, 'db1', {
    agentType: 'idle',
    dbStatus: 'DOWN',
    dbInfo: 'database down: connection refused',
    currentLsn: null,
  });
const peersSee =
  (status: 'UP' | 'DOWN', ...nodes: string[]): Change =>
  (w) => {
    for (const node of nodes)
      replaceBeat(w, node, {
        primaryCheck: { primaryNodeId: 'db1', status, reason: status === 'DOWN' ? 'connection refused' : '' },
      });
  };
const silentFor =
  (nodeId: string, ms: number): Change =>
  (w) => {
    const seen = w.observations.nodes[nodeId];
    if (seen) seen.changedAtMonoMs = NOW_MS - ms;
  };
const leaseAge =
  (ms: number): Change =>
  (w) => {
    w.observations.lease = {
      term: w.snapshot.cluster.term,
      renewals: w.snapshot.cluster.leaseRenewals,
      changedAtMonoMs: NOW_MS - ms,
    };
  };
/** The evaluator has watched the cluster in its current term and phase for `ms`. */
const phaseAge =
  (ms: number): Change =>
  (w) => {
    w.observations.phase = { term: w.snapshot.cluster.term, phase: w.snapshot.cluster.phase, sinceMonoMs: NOW_MS - ms };
  };
const fencing =
  (mode: 'agent' | 'watchdog' | 'ec2-stop'): Change =>
  (w) => {
    w.snapshot.cluster = { ...w.snapshot.cluster, policy: { ...w.snapshot.cluster.policy, fencing: mode } };
  };
const leaseReleased: Change = (w) => {
  w.snapshot.cluster = { ...w.snapshot.cluster, leaseReleased: true };
};
const cluster =
  (change: Partial<ClusterSnapshot['cluster']>): Change =>
  (w) => {
    w.snapshot.cluster = { ...w.snapshot.cluster, ...change };
  };
const standbyAt =
  (nodeId: string, lsn: string): Change =>
  (w) =>
    replaceBeat(w, nodeId, { receivedLsn: lsn, replayedLsn: lsn });

const promotion =
  (change: Partial<NonNullable<ClusterSnapshot['cluster']['promotion']>>): Change =>
  (w) => {
    w.snapshot.cluster = {
      ...w.snapshot.cluster,
      promotion: {
        toNodeId: 'db3',
        term: 1,
        requestedAtMs: NOW_MS - 100,
        requestedBy: 'dba@host',
        force: false,
        ...change,
      },
    };
  };
const paused =
  (forMs: number): Change =>
  (w) => {
    w.snapshot.cluster = {
      ...w.snapshot.cluster,
      pause: { sinceMs: NOW_MS - forMs, by: 'dba@host', reason: 'minor upgrade' },
    };
  };

function evaluate(...changes: Change[]): Decision {
  const snapshot = healthySnapshot();
  snapshot.membership = membership(['db1', 'db2', 'db3'], ['db2', 'db3']);
  const world: World = { snapshot, observations: freshObservations(snapshot) };
  for (const change of changes) change(world);
  return decide({ ...world.snapshot, observations: world.observations }, { wallMs: NOW_MS, monoMs: NOW_MS });
}

// The scenario table of the design brief, and EFM's section 8, row by row.
describe('decide(): steady phase', () => {
  it.each<[string, Change[], string, string | null, string[]]>([
    ['a healthy cluster', [], 'primary-healthy', null, []],
    [
      'primary database down, agent alive, peers confirm, lease released by the fenced primary',
      [primaryDbDown, peersSee('DOWN', 'db2', 'db3'), leaseReleased],
      'failover',
      'db2',
      ['failover-started'],
    ],
    [
      'primary database down, agent alive, peers confirm, lease not released yet',
      [primaryDbDown, peersSee('DOWN', 'db2', 'db3'), leaseAge(2000)],
      'lease-valid',
      null,
      ['primary-suspect'],
    ],
    [
      'primary database down but the peers still reach it',
      [primaryDbDown, leaseReleased],
      'failure-unconfirmed',
      null,
      ['primary-suspect'],
    ],
    [
      'primary node down: silent past its node timeout, peers confirm, lease expired',
      [silentFor('db1', 6000), peersSee('DOWN', 'db2', 'db3'), leaseAge(6000)],
      'failover',
      'db2',
      ['failover-started'],
    ],
    [
      'primary node silent, peers confirm, but the lease may still be valid',
      [silentFor('db1', 6000), peersSee('DOWN', 'db2', 'db3'), leaseAge(2700)],
      'lease-valid',
      null,
      ['primary-suspect'],
    ],
    [
      'primary agent gone, database still answers the peers',
      [silentFor('db1', 6000), leaseAge(6000)],
      'primary-agent-left',
      null,
      ['primary-agent-left'],
    ],
    [
      'primary agent exited cleanly, database still answers',
      [(w) => replaceBeat(w, 'db1', { agentStatus: 'EXITED' }), leaseAge(6000)],
      'primary-agent-left',
      null,
      ['primary-agent-left'],
    ],
    [
      'primary database UNKNOWN (a refused login): never fail over on unknown',
      [
        (w) => replaceBeat(w, 'db1', { dbStatus: 'UNKNOWN', agentType: 'idle' }),
        peersSee('DOWN', 'db2', 'db3'),
        leaseAge(9000),
      ],
      'primary-db-unknown',
      null,
      ['primary-suspect'],
    ],
    [
      'primary node silent, only one of three confirms, the other cannot tell',
      [
        silentFor('db1', 6000),
        peersSee('DOWN', 'db2'),
        (w) => replaceBeat(w, 'db3', { primaryCheck: null }),
        leaseAge(6000),
      ],
      'failure-unconfirmed',
      null,
      ['primary-suspect'],
    ],
    [
      'primary node silent, one peer cannot reach it but another can',
      [silentFor('db1', 6000), peersSee('DOWN', 'db2'), leaseAge(6000)],
      'primary-agent-left',
      null,
      ['primary-agent-left'],
    ],
    [
      'a partition: the primary reports UP and renews its lease, but no peer reaches it',
      [peersSee('DOWN', 'db2', 'db3'), leaseAge(500)],
      'lease-valid',
      null,
      ['primary-suspect'],
    ],
    [
      'a partition: no peer reaches the primary and it stopped renewing its lease',
      [peersSee('DOWN', 'db2', 'db3'), leaseAge(4000)],
      'failover',
      'db2',
      ['failover-started'],
    ],
    ['a stall shorter than the node timeout', [silentFor('db1', 3000), leaseAge(3000)], 'primary-healthy', null, []],
    [
      'automatic failover off',
      [
        primaryDbDown,
        peersSee('DOWN', 'db2', 'db3'),
        leaseReleased,
        cluster({ policy: { ...clusterRecord().policy, autoFailover: false } }),
      ],
      'auto-failover-off',
      null,
      ['manual-failover-required'],
    ],
    [
      'every standby lagging past the limit',
      [
        primaryDbDown,
        peersSee('DOWN', 'db2', 'db3'),
        leaseReleased,
        (w) => replaceBeat(w, 'db1', { currentLsn: '1/0' }),
      ],
      'no-candidate',
      null,
      ['no-candidate'],
    ],
    [
      'watchdog fencing: a silent primary whose watchdog was armed is failed over',
      [
        silentFor('db1', 6000),
        peersSee('DOWN', 'db2', 'db3'),
        leaseAge(6000),
        fencing('watchdog'),
        (w) => replaceBeat(w, 'db1', { watchdogArmed: true }),
      ],
      'failover',
      'db2',
      ['failover-started'],
    ],
    [
      'watchdog fencing: a primary whose agent stood its watchdog down is not failed over automatically',
      [
        silentFor('db1', 6000),
        peersSee('DOWN', 'db2', 'db3'),
        leaseAge(6000),
        fencing('watchdog'),
        (w) => replaceBeat(w, 'db1', { agentStatus: 'EXITED', watchdogArmed: false }),
      ],
      'old-primary-unfenced',
      null,
      ['manual-failover-required'],
    ],
    [
      'watchdog fencing: a primary whose live agent reports its database DOWN needs no watchdog',
      [primaryDbDown, peersSee('DOWN', 'db2', 'db3'), leaseAge(6000), fencing('watchdog')],
      'failover',
      'db2',
      ['failover-started'],
    ],
    [
      'ec2-stop fencing: a silent primary, confirmed, lease expired: its instance is stopped first',
      [silentFor('db1', 6000), peersSee('DOWN', 'db2', 'db3'), leaseAge(6000), fencing('ec2-stop')],
      'fence-old-primary',
      null,
      ['fence-requested'],
    ],
    [
      'ec2-stop fencing: once its instance is stopped, the failover goes on',
      [
        silentFor('db1', 6000),
        peersSee('DOWN', 'db2', 'db3'),
        leaseAge(6000),
        fencing('ec2-stop'),
        cluster({ fence: { nodeId: 'db1', term: 1, requestedAtMs: NOW_MS - 2000, stoppedAtMs: NOW_MS - 100 } }),
      ],
      'failover',
      'db2',
      ['failover-started'],
    ],
    [
      'ec2-stop fencing: a primary whose own agent fenced its failed database is not stopped from outside',
      [primaryDbDown, peersSee('DOWN', 'db2', 'db3'), leaseReleased, fencing('ec2-stop')],
      'failover',
      'db2',
      ['failover-started'],
    ],
    [
      'manual failover asked for, automatic failover off: carried out',
      [
        primaryDbDown,
        peersSee('DOWN', 'db2', 'db3'),
        leaseReleased,
        cluster({ policy: { ...clusterRecord().policy, autoFailover: false } }),
        promotion({ toNodeId: null }),
      ],
      'failover',
      'db2',
      ['failover-started'],
    ],
    [
      'manual failover to a named standby that is not the best: carried out to it',
      [primaryDbDown, peersSee('DOWN', 'db2', 'db3'), leaseReleased, standbyAt('db3', '0/4FFF000'), promotion({})],
      'failover',
      'db3',
      ['failover-started'],
    ],
    [
      'manual failover while the primary is healthy: refused (that would be two primaries)',
      [promotion({})],
      'promotion-refused',
      null,
      ['promotion-refused'],
    ],
    [
      'manual failover while the failure is not confirmed: waits, like an automatic one',
      [primaryDbDown, leaseReleased, promotion({})],
      'failure-unconfirmed',
      null,
      ['primary-suspect'],
    ],
    [
      "manual failover while the old primary's lease may be valid: waits for it",
      [silentFor('db1', 6000), peersSee('DOWN', 'db2', 'db3'), leaseAge(2000), promotion({})],
      'lease-valid',
      null,
      ['primary-suspect'],
    ],
    [
      'manual failover to a standby past the lag limit: refused without --force',
      [primaryDbDown, peersSee('DOWN', 'db2', 'db3'), leaseReleased, standbyAt('db3', '0/1000'), promotion({})],
      'promotion-refused',
      null,
      ['promotion-refused'],
    ],
    [
      '... carried out with --force (EFM prompts here)',
      [
        primaryDbDown,
        peersSee('DOWN', 'db2', 'db3'),
        leaseReleased,
        standbyAt('db3', '0/1000'),
        promotion({ force: true }),
      ],
      'failover',
      'db3',
      ['failover-started'],
    ],
    [
      'manual failover to the witness or an unknown node: refused',
      [primaryDbDown, peersSee('DOWN', 'db2', 'db3'), leaseReleased, promotion({ toNodeId: 'db9' })],
      'promotion-refused',
      null,
      ['promotion-refused'],
    ],
    [
      'manual failover asked for in an older term: dropped',
      [primaryDbDown, peersSee('DOWN', 'db2', 'db3'), leaseReleased, promotion({ term: 0 })],
      'promotion-refused',
      null,
      ['promotion-refused'],
    ],
    [
      'watchdog fencing, primary unfenced: a forced manual failover goes on (the person vouches it is stopped)',
      [
        silentFor('db1', 6000),
        peersSee('DOWN', 'db2', 'db3'),
        leaseAge(6000),
        fencing('watchdog'),
        (w) => replaceBeat(w, 'db1', { agentStatus: 'EXITED', watchdogArmed: false }),
        promotion({ toNodeId: null, force: true }),
      ],
      'failover',
      'db2',
      ['failover-started'],
    ],
    [
      'paused: a confirmed failure with an expired lease is reported, nobody promoted',
      [primaryDbDown, peersSee('DOWN', 'db2', 'db3'), leaseReleased, paused(0)],
      'paused',
      null,
      ['paused-primary-down', 'paused'],
    ],
    [
      "paused: the primary's database down, its agent keeping the lease (a restart in place): reported, no failover",
      [primaryDbDown, peersSee('DOWN', 'db2', 'db3'), leaseAge(500), paused(0)],
      'paused',
      null,
      ['paused-primary-down', 'paused'],
    ],
    [
      'paused: a manual failover is still carried out',
      [primaryDbDown, peersSee('DOWN', 'db2', 'db3'), leaseReleased, paused(0), promotion({ toNodeId: null })],
      'failover',
      'db2',
      ['failover-started', 'paused'],
    ],
    ['paused, healthy: a warning that stays while paused', [paused(0)], 'primary-healthy', null, ['paused']],
    [
      'paused longer than the reminder: SEVERE',
      [paused(3_600_001)],
      'primary-healthy',
      null,
      ['paused', 'paused-too-long'],
    ],
    [
      'lease shortened by set-policy: judged by the longer lease the holder renewed under',
      [silentFor('db1', 6000), peersSee('DOWN', 'db2', 'db3'), leaseAge(4000), cluster({ leaseGrantedMs: 5000 })],
      'lease-valid',
      null,
      ['primary-suspect'],
    ],
    [
      'a hook that failed on a node: a warning with its exit code',
      [
        (w) =>
          replaceBeat(w, 'db2', {
            hookFailures: [
              { hook: 'dbFailure', exitCode: 3, detail: '"notify.sh" exited with 3: no route', atMs: NOW_MS },
            ],
          }),
      ],
      'primary-healthy',
      null,
      ['hook-failed'],
    ],
    [
      'standby database down: no failover, a warning',
      [(w) => replaceBeat(w, 'db3', { dbStatus: 'DOWN', agentType: 'idle', dbInfo: 'database down' })],
      'primary-healthy',
      null,
      ['standby-db-down'],
    ],
    [
      'standby node down: no failover, a warning',
      [silentFor('db3', 9000)],
      'primary-healthy',
      null,
      ['standby-agent-down'],
    ],
  ])('%s', (_name, changes, rule, promoted, events) => {
    // Act
    const decision = evaluate(...changes);
    // Assess
    expect(decision.rule).toBe(rule);
    expect(decision.reason.length).toBeGreaterThan(10);
    expect(decision.next?.phase === 'promoting' ? decision.next.primaryNodeId : null).toBe(promoted);
    expect(decision.notices.map((notice) => notice.event).filter((event) => event !== 'resolved')).toEqual(events);
  });

  it('bumps the term, records why, and conditions the write on the lease it judged', () => {
    // Act
    const decision = evaluate(
      primaryDbDown,
      peersSee('DOWN', 'db2', 'db3'),
      leaseReleased,
      cluster({ leaseRenewals: 41 }),
    );
    // Assess
    expect(decision.next).toMatchObject({
      term: 2,
      primaryNodeId: 'db2',
      phase: 'promoting',
      leaseRenewals: 0,
      leaseReleased: false,
      version: 2,
    });
    expect(decision.next?.failover).toMatchObject({ fromNodeId: 'db1', toNodeId: 'db2', startedAtMs: NOW_MS });
    expect(decision.expectLeaseRenewals).toBe(41);
    expect(decision.reason).toMatch(
      /database of primary db1 is DOWN; confirmed by 3 of 3 members \(need 2: db1, db2, db3\).*promoting db2/,
    );
    expect(decision.notices[0]).toMatchObject({ severity: 'WARNING', nodeId: 'db2' });
    expect(decision.notices[0]?.body).toMatch(/Cluster: +prod/);
  });

  it.each<[string, Change[], string]>([
    [
      'the standby with the most WAL, whatever the priority',
      [standbyAt('db2', '0/4FFF000'), standbyAt('db3', '0/5000000')],
      'db3',
    ],
    [
      'on equal WAL, the first in the priority list',
      [(w) => (w.snapshot.membership = membership(['db1', 'db2', 'db3'], ['db3', 'db2']))],
      'db3',
    ],
    ['not a standby whose agent is silent', [silentFor('db2', 9000)], 'db3'],
    ['not a standby on another timeline', [(w) => replaceBeat(w, 'db2', { timeline: 2 })], 'db3'],
    [
      'not a standby in another subnet when the address is a secondary IP',
      [
        cluster({ address: { mode: 'secondary-ip', value: '10.0.1.100', holderNodeId: 'db1' } }),
        (w) => replaceBeat(w, 'db1', { host: { ...w.snapshot.heartbeats[0]!.host, subnetId: 'subnet-a' } }),
        (w) => replaceBeat(w, 'db2', { host: { ...w.snapshot.heartbeats[0]!.host, subnetId: 'subnet-b' } }),
        (w) => replaceBeat(w, 'db3', { host: { ...w.snapshot.heartbeats[0]!.host, subnetId: 'subnet-a' } }),
      ],
      'db3',
    ],
    [
      'not a standby lagging past the limit',
      [(w) => replaceBeat(w, 'db1', { currentLsn: '0/6000000' }), standbyAt('db2', '0/4000000')],
      'db3',
    ],
  ])('chooses %s', (_name, changes, chosen) => {
    const decision = evaluate(primaryDbDown, peersSee('DOWN', 'db2', 'db3'), leaseReleased, ...changes);
    expect(decision.next?.primaryNodeId).toBe(chosen);
  });

  it('does not fail over a two-node cluster on a silent primary: one survivor is not a majority', () => {
    // Prepare
    const decision = evaluate(
      (w) => {
        w.snapshot.membership = membership(['db1', 'db2']);
        w.snapshot.heartbeats = w.snapshot.heartbeats.filter((beat) => beat.nodeId !== 'db3');
      },
      silentFor('db1', 9000),
      peersSee('DOWN', 'db2'),
      leaseAge(9000),
    );
    // Assess
    expect(decision.rule).toBe('failure-unconfirmed');
    expect(decision.reason).toMatch(
      /failure not confirmed: 1 of 2 members \(need 2: db2\) say its database does not answer/,
    );
    expect(decision.notices.map((notice) => notice.event)).toContain('reduced-protection');
  });

  it("looks again the moment a suspected primary's lease runs out, and then fails over", () => {
    // Prepare: the default window is lease 2800 + margin 50 ms; 2700 ms of it have passed.
    const suspect = [silentFor('db1', 6000), peersSee('DOWN', 'db2', 'db3')];
    // Act
    const waiting = evaluate(...suspect, leaseAge(2700));
    const then = evaluate(...suspect, leaseAge(2700 + (waiting.recheckInMs ?? 0)));
    // Assess
    expect(waiting.rule).toBe('lease-valid');
    expect(waiting.recheckInMs).toBe(151);
    expect(then.rule).toBe('failover');
    expect(evaluate().recheckInMs).toBeNull();
  });

  it.each<[string, ClusterSnapshot['cluster']['address'], unknown[]]>([
    [
      'moves the address to the candidate with the grant, while it promotes',
      { mode: 'local', value: '127.0.0.1:6432', holderNodeId: 'db1' },
      [{ kind: 'move-address', toNodeId: 'db2', term: 2 }],
    ],
    ['has no address to move in address mode none', { mode: 'none', value: null, holderNodeId: null }, []],
    ['leaves an address already on the candidate', { mode: 'local', value: '127.0.0.1:6432', holderNodeId: 'db2' }, []],
  ])('a failover %s', (_name, address, actions) => {
    // Act
    const decision = evaluate(primaryDbDown, peersSee('DOWN', 'db2', 'db3'), leaseReleased, cluster({ address }));
    // Assess: the record claims no move; the round that moves it records the holder.
    expect(decision.rule).toBe('failover');
    expect(decision.actions).toEqual(actions);
    expect(decision.next?.address.holderNodeId).toBe(address.holderNodeId);
  });

  it('moves the address to the primary when it is elsewhere', () => {
    const decision = evaluate(cluster({ address: { mode: 'local', value: '127.0.0.1:6432', holderNodeId: null } }));
    expect(decision.rule).toBe('address-not-on-primary');
    expect(decision.actions).toEqual([{ kind: 'move-address', toNodeId: 'db1', term: 1 }]);
    // The write only claims the move; the holder is recorded after the move has happened.
    expect(decision.next?.address.holderNodeId).toBeNull();
    expect(decision.next?.version).toBe(2);
  });

  it('notifies a standing condition once, and its end once', () => {
    // Prepare
    const raised = evaluate(silentFor('db3', 9000));
    const alerts = raised.next?.alerts ?? [];
    // Act
    const again = evaluate(silentFor('db3', 9000), cluster({ alerts }));
    const cleared = evaluate(cluster({ alerts }));
    // Assess
    expect(raised.notices.map((n) => n.event)).toEqual(['standby-agent-down']);
    expect(again.next).toBeNull();
    expect(again.notices).toEqual([]);
    expect(cleared.notices).toEqual([expect.objectContaining({ event: 'resolved', severity: 'INFO' })]);
    expect(cleared.next?.alerts).toEqual([]);
  });

  it('pages nobody while a new cluster is set up: no suspicion of a primary that never reported, no reduced-protection warning', () => {
    const decision = evaluate((w) => {
      w.snapshot.membership = membership(['db1']);
      w.snapshot.heartbeats = [];
    });
    expect(decision.rule).toBe('failure-unconfirmed');
    expect(decision.notices).toEqual([]);
  });

  it('does not send "resolved" for the suspicion a failover starts from: failover-started says what became of it', () => {
    const suspected = evaluate(primaryDbDown, peersSee('DOWN', 'db2', 'db3'), leaseAge(2000));
    const alerts = suspected.next?.alerts ?? [];
    expect(alerts.map((alert) => alert.key)).toContain('primary-suspect:db1');
    const failover = evaluate(primaryDbDown, peersSee('DOWN', 'db2', 'db3'), leaseReleased, cluster({ alerts }));
    expect(failover.rule).toBe('failover');
    expect(failover.notices.map((notice) => notice.event)).toEqual(['failover-started']);
  });

  it('records the only writable node as primary when none is recorded', () => {
    const decision = evaluate(cluster({ primaryNodeId: null }));
    expect(decision).toMatchObject({ rule: 'no-primary-recorded', next: { primaryNodeId: 'db1', term: 2 } });
  });
});

describe('decide(): a failover in progress', () => {
  const promoting: Change = cluster({
    term: 2,
    primaryNodeId: 'db2',
    phase: 'promoting',
    address: { mode: 'local', value: '127.0.0.1:6432', holderNodeId: 'db1' },
    failover: {
      kind: 'failover',
      fromNodeId: 'db1',
      toNodeId: 'db2',
      startedAtMs: NOW_MS - 1000,
      reason: 'db1 down',
      promotedAtMs: null,
      addressMovedAtMs: null,
    },
  });
  const promoted: Change = (w) => {
    promoting(w);
    w.snapshot.cluster = {
      ...w.snapshot.cluster,
      phase: 'promoted',
      address: { mode: 'local', value: '127.0.0.1:6432', holderNodeId: 'db2' },
    };
  };
  const db2Primary: Change = (w) =>
    replaceBeat(w, 'db2', {
      agentType: 'primary',
      currentLsn: '0/5000100',
      term: 2,
      action: { term: 2, step: 'promoted', detail: '' },
    });

  it.each<[string, Change[], string, string | null, string[]]>([
    ['waits for the candidate to promote', [promoting, primaryDbDown], 'awaiting-promotion', null, []],
    [
      'aborts with SEVERE when the fencing hook fails',
      [
        promoting,
        primaryDbDown,
        (w) =>
          replaceBeat(w, 'db2', { action: { term: 2, step: 'fence-hook-failed', detail: 'fence.sh exited with 3' } }),
      ],
      'fence-hook-refused',
      'halted',
      ['failover-aborted', 'halted'],
    ],
    [
      'does not give up on a candidate silent for less than its node timeout',
      [promoting, primaryDbDown, silentFor('db2', 3000), phaseAge(3000), leaseAge(9000), fencing('watchdog')],
      'awaiting-promotion',
      null,
      [],
    ],
    [
      'waits out the lease a silent candidate may have taken',
      [promoting, primaryDbDown, silentFor('db2', 9000), phaseAge(9000), leaseAge(2000), fencing('watchdog')],
      'candidate-gone-lease-valid',
      null,
      [],
    ],
    [
      'replaces a silent candidate with the next standby once its lease ran out (watchdog)',
      [promoting, primaryDbDown, silentFor('db2', 9000), phaseAge(9000), leaseAge(6000), fencing('watchdog')],
      'failover-retry',
      'promoting',
      ['failover-retried'],
    ],
    [
      'halts on a silent candidate when nothing but its agent can fence it',
      [promoting, primaryDbDown, silentFor('db2', 9000), phaseAge(9000), leaseAge(6000), fencing('agent')],
      'candidate-lost-unfenceable',
      'halted',
      ['failover-aborted', 'halted'],
    ],
    [
      'replaces a live candidate whose promotion failed, even with agent fencing',
      [
        promoting,
        primaryDbDown,
        (w) =>
          replaceBeat(w, 'db2', {
            action: { term: 2, step: 'promote-failed', detail: 'the cluster address still answers' },
          }),
        leaseAge(6000),
        fencing('agent'),
      ],
      'failover-retry',
      'promoting',
      ['failover-retried'],
    ],
    [
      'replaces a candidate whose node came back without its server (agent live, database DOWN) once its lease ran out',
      [
        promoting,
        primaryDbDown,
        (w) => replaceBeat(w, 'db2', { dbStatus: 'DOWN', agentType: 'idle', dbInfo: 'connection refused' }),
        leaseAge(6000),
        fencing('watchdog'),
      ],
      'failover-retry',
      'promoting',
      ['failover-retried'],
    ],
    [
      'ec2-stop fencing: a silent candidate is stopped from outside before the next is promoted',
      [promoting, primaryDbDown, silentFor('db2', 9000), phaseAge(9000), leaseAge(6000), fencing('ec2-stop')],
      'fence-lost-candidate',
      'promoting',
      ['fence-requested'],
    ],
    [
      'ec2-stop fencing: ... and once it is stopped, the next standby is promoted',
      [
        promoting,
        primaryDbDown,
        silentFor('db2', 9000),
        phaseAge(9000),
        leaseAge(6000),
        fencing('ec2-stop'),
        cluster({ fence: { nodeId: 'db2', term: 2, requestedAtMs: NOW_MS - 1000, stoppedAtMs: NOW_MS - 10 } }),
      ],
      'failover-retry',
      'promoting',
      ['failover-retried'],
    ],
    [
      'waits when no other standby can take over',
      [
        promoting,
        primaryDbDown,
        silentFor('db2', 9000),
        silentFor('db3', 9000),
        phaseAge(9000),
        leaseAge(6000),
        fencing('watchdog'),
      ],
      'candidate-gone-no-other',
      'promoting',
      ['standby-agent-down'],
    ],
    [
      'ignores a failure report from an older term',
      [
        promoting,
        primaryDbDown,
        (w) => replaceBeat(w, 'db2', { action: { term: 1, step: 'fence-hook-failed', detail: 'old' } }),
      ],
      'awaiting-promotion',
      null,
      [],
    ],
    [
      'moves the address once the candidate is writable',
      [promoting, primaryDbDown, db2Primary],
      'candidate-promoted',
      'promoted',
      ['standby-promoted'],
    ],
    ['waits for the standbys to follow', [promoted, primaryDbDown, db2Primary], 'awaiting-repoint', null, []],
    [
      'does not wait for a standby whose database is down',
      [
        promoted,
        primaryDbDown,
        db2Primary,
        (w) => replaceBeat(w, 'db3', { agentType: 'idle', dbStatus: 'DOWN', dbInfo: 'database down' }),
      ],
      'failover-completed',
      'steady',
      ['failover-completed', 'standby-db-down', 'standby-db-down'],
    ],
    [
      'completes when every standby follows the new primary',
      [
        promoted,
        primaryDbDown,
        db2Primary,
        (w) => replaceBeat(w, 'db3', { term: 2, action: { term: 2, step: 'repointed', detail: '' } }),
      ],
      'failover-completed',
      'steady',
      ['failover-completed', 'standby-db-down'],
    ],
  ])('%s', (_name, changes, rule, phase, events) => {
    // Act
    const decision = evaluate(...changes);
    // Assess
    expect(decision.rule).toBe(rule);
    expect(decision.next?.phase ?? null).toBe(phase);
    expect(decision.notices.map((notice) => notice.event).filter((event) => event !== 'resolved')).toEqual(events);
  });

  it('moves the address to the new primary as an action taken after the write, which does not claim the move', () => {
    const decision = evaluate(promoting, primaryDbDown, db2Primary);
    expect(decision.actions).toEqual([{ kind: 'move-address', toNodeId: 'db2', term: 2 }]);
    expect(decision.next?.address.holderNodeId).toBe('db1');
    expect(decision.next?.failover?.promotedAtMs).toBe(NOW_MS);
  });

  it('does not move the address again once the candidate is promoted, when it went there with the grant', () => {
    const decision = evaluate(
      promoting,
      cluster({ address: { mode: 'local', value: '127.0.0.1:6432', holderNodeId: 'db2' } }),
      primaryDbDown,
      db2Primary,
    );
    expect(decision.rule).toBe('candidate-promoted');
    expect(decision.actions).toEqual([]);
    expect(decision.reason).not.toMatch(/moving address/);
  });

  it('asks for the stop as an action, claiming it with the write, and names the node', () => {
    const decision = evaluate(
      silentFor('db1', 6000),
      peersSee('DOWN', 'db2', 'db3'),
      leaseAge(6000),
      fencing('ec2-stop'),
    );
    expect(decision.actions).toEqual([{ kind: 'fence-node', nodeId: 'db1', term: 1 }]);
    expect(decision.next?.fence).toEqual({ nodeId: 'db1', term: 1, requestedAtMs: NOW_MS, stoppedAtMs: null });
    expect(decision.next?.term).toBe(1);
  });

  it('moves the address again, and does not complete, while the record says it is not on the new primary', () => {
    const decision = evaluate(
      promoted,
      primaryDbDown,
      db2Primary,
      cluster({ address: { mode: 'local', value: '127.0.0.1:6432', holderNodeId: 'db1' } }),
      (w) => replaceBeat(w, 'db3', { term: 2, action: { term: 2, step: 'repointed', detail: '' } }),
    );
    expect(decision.rule).toBe('address-not-on-primary');
    expect(decision.actions).toEqual([{ kind: 'move-address', toNodeId: 'db2', term: 2 }]);
    expect(decision.next?.phase).toBe('promoted');
  });

  it('retries in a new term with the next candidate, keeping the old primary and the start of the failover', () => {
    const decision = evaluate(
      promoting,
      primaryDbDown,
      silentFor('db2', 9000),
      phaseAge(9000),
      cluster({ leaseRenewals: 3 }),
      leaseAge(6000),
      fencing('watchdog'),
    );
    expect(decision.next).toMatchObject({
      term: 3,
      primaryNodeId: 'db3',
      phase: 'promoting',
      leaseRenewals: 0,
      failover: { fromNodeId: 'db1', toNodeId: 'db3', startedAtMs: NOW_MS - 1000 },
    });
    expect(decision.expectLeaseRenewals).toBe(3);
    expect(decision.reason).toMatch(/candidate db2 stopped reporting.*its lease has run out.*promoting db3 in term 3/);
  });

  it('names the new primary, the old one and the reason in the completion notice', () => {
    const decision = evaluate(promoted, primaryDbDown, db2Primary, (w) =>
      replaceBeat(w, 'db3', { term: 2, action: { term: 2, step: 'repointed', detail: '' } }),
    );
    const notice = decision.notices.find((n) => n.event === 'failover-completed');
    expect(notice?.subject).toBe('WARNING: failover completed: db2 is the primary of prod');
    expect(notice?.body).toMatch(/Old primary: db1 \(fenced/);
    expect(notice?.body).toMatch(/Why: db1 down/);
  });
});

describe('decide(): planned switchover', () => {
  const requested = (toNodeId: string): Change =>
    cluster({ switchover: { toNodeId, requestedAtMs: NOW_MS - 100, requestedBy: 'dba@host' } });
  const demoting: Change = (w) => {
    w.snapshot.cluster = {
      ...w.snapshot.cluster,
      phase: 'demoting',
      switchover: { toNodeId: 'db2', requestedAtMs: NOW_MS - 2000, requestedBy: 'dba@host' },
    };
  };
  const db1Demoted =
    (lsn: string): Change =>
    (w) =>
      replaceBeat(w, 'db1', {
        agentType: 'standby',
        currentLsn: null,
        receivedLsn: null,
        replayedLsn: lsn,
        action: { term: 1, step: 'demoted', detail: `stopped cleanly at ${lsn}`, stoppedAtLsn: lsn },
      });

  it.each<[string, Change[], string, Record<string, unknown> | null, string[]]>([
    [
      'starts by demoting the primary',
      [requested('db2')],
      'switchover-started',
      { phase: 'demoting', term: 1 },
      ['switchover-started'],
    ],
    [
      'refuses a lagging target and clears the request',
      [requested('db3'), (w) => replaceBeat(w, 'db1', { currentLsn: '1/0' })],
      'switchover-refused',
      { phase: 'steady', switchover: null },
      ['switchover-refused'],
    ],
    [
      'refuses a target whose agent is silent',
      [requested('db3'), silentFor('db3', 9000)],
      'switchover-refused',
      { switchover: null },
      ['switchover-refused', 'standby-agent-down'],
    ],
    ['waits for the clean stop', [demoting], 'awaiting-demotion', null, []],
    ['waits until the target has every byte', [demoting, db1Demoted('0/5000100')], 'awaiting-demotion', null, []],
    [
      'promotes the target once it has every byte, in a new term',
      [demoting, db1Demoted('0/5000000')],
      'switchover-caught-up',
      { phase: 'promoting', term: 2, primaryNodeId: 'db2', switchover: null },
      [],
    ],
    [
      'abandons it when the target stops reporting before the primary stopped: the primary keeps serving',
      [demoting, silentFor('db2', 9000)],
      'switchover-abandoned',
      { phase: 'steady', term: 1, primaryNodeId: 'db1', switchover: null },
      ['switchover-failed', 'standby-agent-down'],
    ],
    [
      'abandons it when the target dies after the primary stopped cleanly (it is promoted back next)',
      [demoting, db1Demoted('0/5000100'), silentFor('db2', 9000)],
      'switchover-abandoned',
      { phase: 'steady', term: 1, switchover: null },
      ['switchover-failed', 'standby-agent-down'],
    ],
    [
      "abandons it when the target's database is DOWN",
      [demoting, (w) => replaceBeat(w, 'db2', { dbStatus: 'DOWN', agentType: 'idle' })],
      'switchover-abandoned',
      { phase: 'steady', switchover: null },
      ['switchover-failed', 'standby-db-down'],
    ],
    [
      'abandons it when the primary goes silent mid-demotion: the failover rules take over in steady',
      [demoting, silentFor('db1', 9000)],
      'switchover-abandoned',
      { phase: 'steady', term: 1, switchover: null },
      ['switchover-failed'],
    ],
    [
      'abandons it when the primary stopped some other way (DOWN, lease released): the failover rules take over',
      [
        demoting,
        (w) => replaceBeat(w, 'db1', { dbStatus: 'DOWN', agentType: 'idle' }),
        cluster({ leaseReleased: true }),
      ],
      'switchover-abandoned',
      { phase: 'steady', term: 1, switchover: null },
      ['switchover-failed'],
    ],
    [
      'waits while the primary is DOWN during its clean stop but still holds its lease',
      [demoting, (w) => replaceBeat(w, 'db1', { dbStatus: 'DOWN', agentType: 'idle' })],
      'awaiting-demotion',
      null,
      [],
    ],
    [
      'abandons it after the deadline instead of halting the cluster',
      [demoting, phaseAge(61_000)],
      'switchover-abandoned',
      { phase: 'steady', switchover: null },
      ['switchover-failed'],
    ],
    [
      'in steady, a primary left a standby by an abandoned switchover is promoted back in a new term',
      [db1Demoted('0/5000100')],
      'primary-demoted',
      { phase: 'promoting', term: 2, primaryNodeId: 'db1', failover: { kind: 'switchover', toNodeId: 'db1' } },
      ['primary-restored'],
    ],
  ])('%s', (_name, changes, rule, next, events) => {
    const decision = evaluate(...changes);
    expect(decision.rule).toBe(rule);
    if (next) expect(decision.next).toMatchObject(next);
    else expect(decision.next).toBeNull();
    expect(decision.notices.map((notice) => notice.event).filter((event) => event !== 'resolved')).toEqual(events);
  });

  it("reads the stop position of an older agent from its report's text", () => {
    const decision = evaluate(demoting, db1Demoted('0/5000000'), (w) =>
      replaceBeat(w, 'db1', { action: { term: 1, step: 'demoted', detail: '0/5000000' } }),
    );
    expect(decision.rule).toBe('switchover-caught-up');
  });

  it('moves the address to the target with the new term, once the old primary has stopped cleanly', () => {
    const decision = evaluate(
      demoting,
      db1Demoted('0/5000000'),
      cluster({ address: { mode: 'local', value: '127.0.0.1:6432', holderNodeId: 'db1' } }),
    );
    expect(decision.rule).toBe('switchover-caught-up');
    expect(decision.actions).toEqual([{ kind: 'move-address', toNodeId: 'db2', term: 2 }]);
  });

  it('says why a lagging target is refused', () => {
    const decision = evaluate(requested('db3'), (w) => replaceBeat(w, 'db1', { currentLsn: '1/0' }));
    expect(decision.reason).toMatch(
      /switchover to db3 refused: db3 cannot be promoted: it is \d+ bytes behind, past the 16777216-byte limit/,
    );
  });
});

describe('decide(): a double fault (the primary, then the standby it would fail over to)', () => {
  // Four members (majority 3): db1 and db2 dead, db3 and the witness alive and seeing db1 down.
  const fourMembers: Change = (w) => {
    w.snapshot.membership = membership(['db1', 'db2', 'db3', 'w1'], ['db2', 'db3']);
    w.snapshot.heartbeats = [
      ...w.snapshot.heartbeats,
      heartbeat('w1', {
        agentType: 'witness',
        dbStatus: 'N/A',
        currentLsn: null,
        receivedLsn: null,
        replayedLsn: null,
      }),
    ];
    w.observations.nodes['w1'] = { bootId: 'boot-w1', seq: 1, changedAtMonoMs: NOW_MS - 100 };
  };
  const primaryWatchdogArmed: Change = (w) => replaceBeat(w, 'db1', { watchdogArmed: true });
  const doubleFault = [fourMembers, silentFor('db1', 9000), silentFor('db2', 9000), peersSee('DOWN', 'db3', 'w1')];

  it('with fencing "watchdog", once the lease is over: the two live members confirm it, the last standby is promoted', () => {
    const decision = evaluate(...doubleFault, fencing('watchdog'), primaryWatchdogArmed, leaseAge(9000));
    expect(decision.rule).toBe('failover');
    expect(decision.next).toMatchObject({ phase: 'promoting', term: 2, primaryNodeId: 'db3' });
    expect(decision.reason).toMatch(
      /2 of 4 members \(db3, w1, every live member; .*fencing proves the old primary stopped\)/,
    );
  });

  it('with fencing "watchdog", while the lease may still be valid: waits', () => {
    const decision = evaluate(...doubleFault, fencing('watchdog'), primaryWatchdogArmed, leaseAge(1000));
    expect(decision.rule).toBe('failure-unconfirmed');
  });

  it('with fencing "watchdog" whose last report said no watchdog was armed: nothing proves the stop, no failover', () => {
    const decision = evaluate(...doubleFault, fencing('watchdog'), leaseAge(9000));
    expect(decision.rule).toBe('failure-unconfirmed');
  });

  it('with a live member that still reaches the primary: no failover (confirmed failures only)', () => {
    const decision = evaluate(
      ...doubleFault,
      peersSee('UP', 'w1'),
      fencing('watchdog'),
      primaryWatchdogArmed,
      leaseAge(9000),
    );
    expect(decision.rule).not.toBe('failover');
  });

  it('with fencing "watchdog" and peer leases on: the watchdog proves nothing (the primary may hold vouches), no failover', () => {
    const peerLeases: Change = (w) => {
      w.snapshot.cluster = { ...w.snapshot.cluster, policy: { ...w.snapshot.cluster.policy, peerLeases: true } };
    };
    const decision = evaluate(...doubleFault, fencing('watchdog'), peerLeases, primaryWatchdogArmed, leaseAge(9000));
    expect(decision.rule).toBe('failure-unconfirmed');
    expect(decision.reason).toMatch(/peer leases are on: a watchdog proves nothing, so only a majority can confirm/);
  });

  it('with fencing "agent": no failover, and the reason says why', () => {
    const decision = evaluate(...doubleFault, fencing('agent'), leaseAge(9000));
    expect(decision.rule).toBe('failure-unconfirmed');
    expect(decision.reason).toMatch(
      /with fencing "agent" nothing proves a silent primary stopped, so only a majority can confirm/,
    );
  });

  it('with fencing "ec2-stop": stops the silent primary\'s instance, then fails over once it is stopped', () => {
    const asked = evaluate(...doubleFault, fencing('ec2-stop'), leaseAge(9000));
    expect(asked.rule).toBe('fence-silent-primary');
    expect(asked.actions).toEqual([{ kind: 'fence-node', nodeId: 'db1', term: 1 }]);
    const stopped = evaluate(
      ...doubleFault,
      fencing('ec2-stop'),
      leaseAge(9000),
      cluster({ fence: { nodeId: 'db1', term: 1, requestedAtMs: NOW_MS - 3000, stoppedAtMs: NOW_MS - 1000 } }),
    );
    expect(stopped.rule).toBe('failover');
    expect(stopped.next).toMatchObject({ primaryNodeId: 'db3' });
  });

  it('with fencing "ec2-stop": the crashed primary\'s last report, still live, does not hold up the stop', () => {
    // Prepare: db1 went quiet 3 s ago (its node timeout is 5 s), its lease is over, the live members say DOWN.
    const crashedJustNow = [fourMembers, silentFor('db1', 3000), silentFor('db2', 9000), peersSee('DOWN', 'db3', 'w1')];
    // Act
    const asked = evaluate(...crashedJustNow, fencing('ec2-stop'), leaseAge(3000));
    const leaseLeft = evaluate(...crashedJustNow, fencing('ec2-stop'), leaseAge(1000));
    // Assess
    expect(asked.rule).toBe('fence-silent-primary');
    expect(leaseLeft.rule).toBe('primary-healthy');
  });

  it("a dead member's last vote is not counted: its stale UP does not hold up a proven failover", () => {
    // Prepare: db2's agent died (silent 9 s, past its 5 s node timeout) after voting that db1 answers.
    const decision = evaluate(
      ...doubleFault,
      peersSee('UP', 'db2'),
      fencing('watchdog'),
      primaryWatchdogArmed,
      leaseAge(9000),
    );
    // Assess
    expect(decision.rule).toBe('failover');
    expect(decision.reason).not.toMatch(/db2/);
  });
});

describe('decide(): the rule ids', () => {
  it('every id names exactly one row, and the busy and failover sets are read from the rows', () => {
    const rows = [...STEADY_RULES, ...DEMOTING_RULES, ...PROMOTING_RULES, ...PROMOTED_RULES, ...HALTED_RULES];
    const steadyAddress = STEADY_RULES.filter((row) => row.id === 'address-not-on-primary').length;
    // address-not-on-primary is one fact with a row in two phases (steady and promoted).
    expect(rows.length).toBe(RULE_IDS.length + steadyAddress);
    expect(new Set(rows.map((row) => row.id))).toEqual(new Set(RULE_IDS));
    expect([...FAILOVER_RULE_IDS].sort()).toEqual(['failover', 'failover-retry']);
    expect(BUSY_RULE_IDS.has('lease-valid')).toBe(true);
    expect(BUSY_RULE_IDS.has('primary-healthy')).toBe(false);
  });
});
