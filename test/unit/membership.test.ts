import { describe, expect, it } from 'vitest';
import { UsageError } from '../../core/errors.ts';
import {
  allowNode,
  effectivePriority,
  membershipChangeVeto,
  removeNode,
  setPriority,
  type Membership,
  type MembershipChange,
} from '../../core/membership.ts';

const three: Membership = {
  allowed: [
    { nodeId: 'db1', address: '10.0.1.10', role: 'database' },
    { nodeId: 'db2', address: '10.0.1.11', role: 'database' },
    { nodeId: 'db3', address: '10.0.1.12', role: 'database' },
  ],
  priority: ['db2', 'db3'],
};

describe('allowed nodes and standby priority (EFM allow-node, remove-node, priority)', () => {
  it.each<[string, (m: Membership) => Membership, string[], string[]]>([
    [
      'allow without priority goes last',
      (m) => allowNode(m, { nodeId: 'db4', address: '10.0.1.13' }),
      ['db1', 'db2', 'db3', 'db4'],
      ['db2', 'db3', 'db4'],
    ],
    [
      'allow with priority 1 goes first',
      (m) => allowNode(m, { nodeId: 'db4', address: '10.0.1.13' }, 1),
      ['db1', 'db2', 'db3', 'db4'],
      ['db4', 'db2', 'db3', 'db1'],
    ],
    [
      'allow with a priority past the end goes last',
      (m) => allowNode(m, { nodeId: 'db4', address: '10.0.1.13' }, 9),
      ['db1', 'db2', 'db3', 'db4'],
      ['db2', 'db3', 'db1', 'db4'],
    ],
    [
      're-allowing a node updates its address and keeps one entry',
      (m) => allowNode(m, { nodeId: 'db3', address: '10.0.2.12' }, 1),
      ['db1', 'db2', 'db3'],
      ['db3', 'db2', 'db1'],
    ],
    ['remove takes the node out of both lists', (m) => removeNode(m, 'db2'), ['db1', 'db3'], ['db3']],
    ['set-priority moves a standby', (m) => setPriority(m, 'db3', 1), ['db1', 'db2', 'db3'], ['db3', 'db2', 'db1']],
    [
      'set-priority counts positions among candidates: a primary listed first does not shift them',
      (m) => setPriority(setPriority({ ...m, priority: ['db1', 'db2', 'db3'] }, 'db3', 2, 'db1'), 'db2', 2, 'db1'),
      ['db1', 'db2', 'db3'],
      ['db1', 'db3', 'db2'],
    ],
    [
      'set-priority of an unlisted allowed node inserts it',
      (m) => setPriority(m, 'db1', 2),
      ['db1', 'db2', 'db3'],
      ['db2', 'db1', 'db3'],
    ],
  ])('%s', (_name, change, allowed, priority) => {
    // Act
    const next = change(three);
    // Assess
    expect(next.allowed.map((node) => node.nodeId)).toEqual(allowed);
    expect(next.priority).toEqual(priority);
  });

  it.each<[string, (m: Membership) => Membership, RegExp]>([
    [
      'an address already used by another node',
      (m) => allowNode(m, { nodeId: 'db9', address: '10.0.1.11' }),
      /already belongs to node db2/,
    ],
    ['removing a node that is not allowed', (m) => removeNode(m, 'db9'), /not in the allowed node list/],
    ['prioritising a node that is not allowed', (m) => setPriority(m, 'db9', 1), /allow it first/],
    ['a priority of zero', (m) => setPriority(m, 'db2', 0), /whole number from 1/],
  ])('refuses %s with a message that says what to do', (_name, change, message) => {
    expect(() => change(three)).toThrow(UsageError);
    expect(() => change(three)).toThrow(message);
  });

  it('never leaves an allowed node out of the promotion order', () => {
    // Prepare: db1 is allowed but not listed.
    // Act
    const order = effectivePriority(three);
    // Assess
    expect(order).toEqual(['db2', 'db3', 'db1']);
  });

  it('drops listed nodes that are no longer allowed from the promotion order', () => {
    expect(effectivePriority({ allowed: three.allowed.slice(0, 2), priority: ['db3', 'db2'] })).toEqual(['db2', 'db1']);
  });
});

describe('the membership guard: what would hurt a running cluster', () => {
  const withWitness: Membership = {
    allowed: [...three.allowed, { nodeId: 'w1', address: '10.0.1.20', role: 'witness' }],
    priority: ['db2', 'db3'],
  };
  const running = { primaryNodeId: 'db1', liveNodeIds: new Set(['db1', 'db2', 'db3', 'w1']) };

  it.each<[string, MembershipChange, RegExp | undefined]>([
    [
      'removing the primary',
      { kind: 'remove', nodeId: 'db1' },
      /db1 is the primary of the cluster: removing it leaves the cluster with no primary.*Switch over first/,
    ],
    ['removing a standby', { kind: 'remove', nodeId: 'db3' }, undefined],
    [
      're-addressing a running node',
      { kind: 'allow', nodeId: 'db2', address: '10.0.9.9', role: 'database' },
      /db2 is running with address 10\.0\.1\.11: changing it to 10\.0\.9\.9 makes its heartbeats be rejected/,
    ],
    [
      're-allowing a running node at the same address',
      { kind: 'allow', nodeId: 'db2', address: '10.0.1.11', role: 'database' },
      undefined,
    ],
    [
      'turning a running database node into a witness',
      { kind: 'allow', nodeId: 'db3', address: '10.0.1.12', role: 'witness' },
      /running as a database node; stop its agent/,
    ],
    [
      'a witness in the priority list',
      { kind: 'set-priority', nodeId: 'w1', priority: 1 },
      /w1 is a witness: it is never promoted/,
    ],
    [
      'the primary in the priority list',
      { kind: 'set-priority', nodeId: 'db1', priority: 1 },
      /db1 is the primary: it is not a promotion candidate/,
    ],
    [
      'a priority past the end (99)',
      { kind: 'set-priority', nodeId: 'db3', priority: 99 },
      /priority 99 is past the end of the list of 2 standby position\(s\); give 1 to 2/,
    ],
    ['a priority within the list', { kind: 'set-priority', nodeId: 'db3', priority: 1 }, undefined],
    [
      'a new node placed right after the last',
      { kind: 'allow', nodeId: 'db4', address: '10.0.1.13', role: 'database', priority: 3 },
      undefined,
    ],
  ])('%s', (_name, change, veto) => {
    const said = membershipChangeVeto(withWitness, change, running);
    if (veto) expect(said).toMatch(veto);
    else expect(said).toBeUndefined();
  });

  it('lets a stopped node be re-addressed', () => {
    expect(
      membershipChangeVeto(
        three,
        { kind: 'allow', nodeId: 'db2', address: '10.0.9.9', role: 'database' },
        { primaryNodeId: 'db1', liveNodeIds: new Set(['db1']) },
      ),
    ).toBeUndefined();
  });
});
