// set-policy's plan (core/policy-change.ts): what a change of the fencing policy means, in words.

import { describe, expect, it } from 'vitest';
import { planPolicyChange } from '../../core/policy-change.ts';
import { DEFAULT_CLUSTER_POLICY } from '../../core/records.ts';
import { clusterRecord, healthySnapshot } from '../support/fixtures.ts';

describe('set-policy --fencing', () => {
  it('is watchdog for a new cluster unless agent is named', () => {
    expect(DEFAULT_CLUSTER_POLICY.fencing).toBe('watchdog');
  });

  it.each([
    ['agent', 'watchdog', /fencing "watchdog": .*every database agent needs one/],
    ['agent', 'ec2-stop', /fencing "ec2-stop": the evaluator stops a failed primary's instance/],
    ['watchdog', 'agent', /fencing "agent": .*leaves a server nobody can stop/],
  ] as const)('from %s to %s says what it means', (from, to, effect) => {
    // Prepare
    const snapshot = {
      ...healthySnapshot(),
      cluster: clusterRecord({ policy: { ...DEFAULT_CLUSTER_POLICY, fencing: from } }),
    };
    // Act
    const plan = planPolicyChange(snapshot, { fencing: to });
    // Assess
    expect(plan.changes).toEqual([`fencing ${from} -> ${to}`]);
    expect(plan.effects.join('\n')).toMatch(effect);
  });
});

describe('set-policy --peer-leases', () => {
  const stampedBy = (schema: number | undefined) => {
    const snapshot = healthySnapshot();
    return {
      ...snapshot,
      heartbeats: snapshot.heartbeats.map((beat) =>
        schema === undefined ? beat : { ...beat, schema, writtenBy: schema === 1 ? '0.0.9' : '0.1.0' },
      ),
    };
  };

  it('turns them on once every member runs a release that knows them, and says what changes', () => {
    const plan = planPolicyChange(stampedBy(2), { peerLeases: true });
    expect(plan.policy.peerLeases).toBe(true);
    expect(plan.changes).toEqual(['peerLeases false -> true']);
    expect(plan.effects.join('\n')).toMatch(/a watchdog no longer proves a silent primary stopped/);
  });

  it('refuses while a member runs an older release, naming it and what to do', () => {
    const older = stampedBy(2);
    older.heartbeats = older.heartbeats.map((beat) =>
      beat.nodeId === 'db2' ? { ...beat, schema: 1, writtenBy: '0.0.9' } : beat,
    );
    expect(() => planPolicyChange(older, { peerLeases: true })).toThrow(
      /not yet: db2 \(pgfailover 0\.0\.9\)\. Upgrade those agents first .*Nothing was changed/,
    );
    expect(() => planPolicyChange(stampedBy(undefined), { peerLeases: true })).toThrow(
      /a release from before schema stamps/,
    );
  });

  it('turns them off whatever the members run', () => {
    const snapshot = stampedBy(1);
    snapshot.cluster = { ...snapshot.cluster, policy: { ...snapshot.cluster.policy, peerLeases: true } };
    expect(planPolicyChange(snapshot, { peerLeases: false }).policy.peerLeases).toBe(false);
  });
});
