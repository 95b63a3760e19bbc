// The agent's host rules (core/agent-host-rules.ts), row by row: when PostgreSQL may start, and when the
// secondary IP is on this host.

import { describe, expect, it } from 'vitest';
import {
  ADDRESS_RULES,
  BOOT_RULES,
  bootGate,
  bootSafety,
  holdsAddress,
  type AddressView,
  type BootView,
} from '../../core/agent-host-rules.ts';

const boot = (change: Partial<BootView> = {}): BootView => ({
  witness: false,
  nodeId: 'db1',
  goal: { term: 3, primaryNodeId: 'db2', failoverRecorded: true },
  seenTerm: 3,
  markedStandby: false,
  ...change,
});

describe('boot safety: may PostgreSQL start?', () => {
  it.each<[string, BootView, RegExp | undefined]>([
    ['an old primary after a failover, not yet marked: no (it might come back writable)', boot(), undefined],
    ['... once standby.signal is written: yes', boot({ markedStandby: true }), /can only start as a standby/],
    ['the primary of the term it has read: yes', boot({ nodeId: 'db2' }), /the primary of term 3/],
    ['named primary by a goal older than the term it has seen: no', boot({ nodeId: 'db2', seenTerm: 4 }), undefined],
    [
      'a new cluster with no primary recorded yet: yes',
      boot({ goal: { term: 1, primaryNodeId: null, failoverRecorded: false } }),
      /new cluster/,
    ],
    [
      'no primary recorded after a role change: no',
      boot({ goal: { term: 3, primaryNodeId: null, failoverRecorded: true } }),
      undefined,
    ],
    ['before any goal is read: no', boot({ goal: null }), undefined],
    ['a witness, once it has read the goal: yes', boot({ witness: true }), /a witness has no database/],
    ['a witness before it has: not yet', boot({ witness: true, goal: null }), undefined],
  ])('%s', (_name, view, expected) => {
    const why = bootSafety(view);
    if (expected) expect(why).toMatch(expected);
    else expect(why).toBeUndefined();
  });

  it('a witness never reads a data directory', () => {
    const view = boot({ witness: true });
    Object.defineProperty(view, 'markedStandby', {
      get: () => {
        throw new Error('read standby.signal on a witness');
      },
    });
    expect(bootSafety(view)).toMatch(/witness/);
  });

  it('has one row that always holds, last', () => {
    expect(BOOT_RULES.at(-1)?.when(boot())).toBe(true);
  });
});

const address = (change: Partial<AddressView> = {}): AddressView => ({
  ip: '10.0.1.50',
  primaryOfTerm: true,
  phase: 'steady',
  demoteStopped: false,
  writable: true,
  holding: null,
  promotingNow: false,
  ...change,
});

describe("the boot gate in PostgreSQL's unit", () => {
  const goal = { term: 4, primaryNodeId: 'db2', failoverRecorded: true };
  it.each<[string, Parameters<typeof bootGate>[0], string, RegExp]>([
    [
      'no record of the cluster: start',
      { nodeId: 'db1', goal: null, markedStandby: false },
      'no-cluster-record',
      /nobody can have been promoted/,
    ],
    ['a standby: start', { nodeId: 'db1', goal, markedStandby: true }, 'safe', /can only start as a standby/],
    ['the primary of the term: start', { nodeId: 'db2', goal, markedStandby: false }, 'safe', /the primary of term 4/],
    [
      'an old primary: marked a standby of the primary first',
      { nodeId: 'db1', goal, markedStandby: false },
      'mark-standby',
      /term 4 names db2, not db1/,
    ],
    [
      'a role change with no primary recorded: marked a standby of nobody',
      { nodeId: 'db1', goal: { ...goal, primaryNodeId: null }, markedStandby: false },
      'mark-standby',
      /names no primary/,
    ],
  ])('%s', (_name, view, rule, why) => {
    const decided = bootGate(view);
    expect(decided.rule).toBe(rule);
    expect(decided.answer.why).toMatch(why);
    expect(decided.answer.start).toBe(rule !== 'mark-standby');
  });
});

describe('the secondary IP on this host', () => {
  it.each<[string, AddressView, boolean]>([
    ['the writable primary of the term: holds it', address(), true],
    ['no secondary IP in this cluster: nothing', address({ ip: null }), false],
    ['not the primary of the term (a newer term names another): lets it go', address({ primaryOfTerm: false }), false],
    ['a halted cluster: lets it go', address({ phase: 'halted' }), false],
    ["a switchover's primary once its server exited: lets it go", address({ demoteStopped: true }), false],
    [
      'the primary whose server died, holding it: keeps it until another is named',
      address({ writable: false, holding: '10.0.1.50' }),
      true,
    ],
    ['the primary whose server died, not holding it: does not take it', address({ writable: false }), false],
    [
      'the candidate just before pg_promote(): takes it',
      address({ writable: false, phase: 'promoting', promotingNow: true }),
      true,
    ],
    ['the candidate of the term not (yet) promoting: not yet', address({ writable: false, phase: 'promoting' }), false],
  ])('%s', (_name, view, holds) => {
    expect(holdsAddress(view)).toBe(holds);
  });

  it('has one row that always holds, last', () => {
    expect(ADDRESS_RULES.at(-1)?.when(address())).toBe(true);
  });
});
