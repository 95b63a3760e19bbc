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
