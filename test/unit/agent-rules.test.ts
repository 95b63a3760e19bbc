// The agent's rule table (core/agent-rules.ts), row by row: a view of the node in, the step out.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AGENT_RULES,
  nextStep,
  recordStep,
  renewsLease,
  type AgentStep,
  type AgentView,
} from '../../core/agent-rules.ts';
import { LeaseFile } from '../../agent/lease-file.ts';
import { ProgressFile } from '../../agent/progress-file.ts';

type Change = (view: AgentView) => AgentView;

function standbyView(): AgentView {
  return {
    witness: false,
    nodeId: 'db2',
    goal: {
      term: 1,
      phase: 'steady',
      primaryNodeId: 'db1',
      leaseReleased: false,
      switchoverTo: null,
      paused: false,
      promotionAsked: false,
      autoRejoin: false,
    },
    seenTerm: 1,
    db: { status: 'UP', writable: false, inRecovery: true, lastSeenInRecovery: true, upstream: '10.0.1.10:5432' },
    primaryAddress: '10.0.1.10:5432',
    markedStandby: true,
    rejoinUnderWay: false,
    demoteStopped: false,
    primaryAnswers: true,
    leaseRemainingMs: null,
    selfFenceEnabled: true,
    fenceLeadMs: 500,
    hasPostPromotionHook: false,
    progress: { term: 1, done: ['report-repointed'] },
  };
}

const goal =
  (change: Partial<NonNullable<AgentView['goal']>>): Change =>
  (v) => ({ ...v, goal: { ...(v.goal as NonNullable<AgentView['goal']>), ...change } });
const db =
  (change: Partial<AgentView['db']>): Change =>
  (v) => ({ ...v, db: { ...v.db, ...change } });
const done =
  (term: number, ...steps: AgentStep[]): Change =>
  (v) => ({ ...v, progress: { term, done: steps } });
const set =
  (change: Partial<AgentView>): Change =>
  (v) => ({ ...v, ...change });
const asPrimary: Change = (v) => ({
  ...v,
  nodeId: 'db1',
  db: { status: 'UP', writable: true, inRecovery: false, lastSeenInRecovery: false, upstream: null },
  leaseRemainingMs: 2500,
  progress: { term: 1, done: [] },
});
const promoting: Change = (v) => goal({ term: 2, phase: 'promoting', primaryNodeId: 'db2' })({ ...v, seenTerm: 2 });
const newPrimaryDb3: Change = (v) =>
  goal({ term: 2, phase: 'promoted', primaryNodeId: 'db3' })({ ...v, seenTerm: 2, primaryAddress: '10.0.1.12:5432' });

describe('the agent rule table', () => {
  it.each<[string, Change[], string, AgentStep | null]>([
    ['a standby following the primary: nothing', [], 'standby-nothing-to-do', null],
    ['a witness: nothing, ever', [set({ witness: true })], 'witness', null],
    ['before the first goal: nothing', [set({ goal: null })], 'no-goal', null],
    ['a goal older than a term already seen: ignored', [set({ seenTerm: 3 })], 'stale-goal', null],
    ['the primary renewing its lease: nothing', [asPrimary], 'primary-nothing-to-do', null],
    [
      'the primary whose lease is about to run out: stops its database',
      [asPrimary, set({ leaseRemainingMs: 400 })],
      'lease-expiring',
      'self-fence',
    ],
    [
      'the primary that never got a lease: stops its database',
      [asPrimary, set({ leaseRemainingMs: -5 })],
      'lease-expiring',
      'self-fence',
    ],
    [
      'the primary that holds no lease at all: stops its database',
      [asPrimary, set({ leaseRemainingMs: null })],
      'lease-expiring',
      'self-fence',
    ],
    [
      'a primary whose server refuses the check (full: SQLSTATE 53300) and whose lease is ending: stops it all the same',
      [asPrimary, db({ status: 'UNKNOWN', writable: false }), set({ leaseRemainingMs: 100 })],
      'lease-expiring',
      'self-fence',
    ],
    [
      'a primary whose check hangs (DOWN) at the end of its lease: stops it (a stopped server is stopped again harmlessly)',
      [asPrimary, db({ status: 'DOWN', writable: false }), set({ leaseRemainingMs: -20 })],
      'lease-expiring',
      'self-fence',
    ],
    [
      'an agent restarted beside its server, before its first check, the recorded lease ending: stops it',
      [asPrimary, db({ status: 'UNKNOWN', writable: false, lastSeenInRecovery: null }), set({ leaseRemainingMs: 50 })],
      'lease-expiring',
      'self-fence',
    ],
    [
      'an agent restarted beside its server, the recorded lease still running: waits (and renews)',
      [
        asPrimary,
        db({ status: 'UNKNOWN', writable: false, lastSeenInRecovery: null }),
        set({ leaseRemainingMs: 2000 }),
      ],
      'primary-nothing-to-do',
      null,
    ],
    [
      'a standby whose checks cannot tell its role: never stopped for it (it holds no lease)',
      [db({ status: 'UNKNOWN', inRecovery: false })],
      'standby-nothing-to-do',
      null,
    ],
    [
      'a server this agent stopped holds no lease: not stopped again (a failed primary then releases)',
      [asPrimary, db({ status: 'DOWN', writable: false }), set({ leaseRemainingMs: null }), done(1, 'fence')],
      'own-database-down',
      'fence-and-release',
    ],
    [
      'a primary cut off during its switchover clean stop, lease ending: stops it at once',
      [
        asPrimary,
        goal({ phase: 'demoting', switchoverTo: 'db2' }),
        done(1, 'demote'),
        db({ status: 'DOWN', writable: false }),
        set({ leaseRemainingMs: 100 }),
      ],
      'lease-expiring',
      'self-fence',
    ],
    [
      'self-fencing off: a server whose role is unknown keeps serving too',
      [asPrimary, db({ status: 'UNKNOWN', writable: false }), set({ leaseRemainingMs: 0, selfFenceEnabled: false })],
      'primary-nothing-to-do',
      null,
    ],
    [
      'self-fencing off (stop.isolated.primary false): keeps serving',
      [asPrimary, set({ leaseRemainingMs: 0, selfFenceEnabled: false })],
      'primary-nothing-to-do',
      null,
    ],
    [
      'the primary asked to demote for a switchover',
      [asPrimary, goal({ phase: 'demoting', switchoverTo: 'db2' })],
      'demote-for-switchover',
      'demote',
    ],
    [
      'a demotion already done in this term is not repeated',
      [asPrimary, goal({ phase: 'demoting', switchoverTo: 'db2' }), done(1, 'demote')],
      'primary-nothing-to-do',
      null,
    ],
    ['the chosen candidate: promotes', [promoting], 'promote', 'promote'],
    [
      'the candidate after a restart, promotion already started in this term: does not promote again',
      [promoting, done(2, 'promote')],
      'primary-nothing-to-do',
      null,
    ],
    [
      'the candidate with its database down: waits',
      [promoting, db({ status: 'DOWN', inRecovery: false })],
      'primary-nothing-to-do',
      null,
    ],
    [
      'the new primary with a post-promotion hook, once promoted: runs it',
      [
        promoting,
        goal({ phase: 'promoted' }),
        done(2, 'promote'),
        set({ hasPostPromotionHook: true }),
        db({ writable: true, inRecovery: false }),
        set({ leaseRemainingMs: 2500 }),
      ],
      'post-promotion-hook',
      'post-promotion-hook',
    ],
    [
      'the hook is not run twice in a term',
      [
        promoting,
        goal({ phase: 'steady' }),
        done(2, 'promote', 'post-promotion-hook'),
        set({ hasPostPromotionHook: true }),
        db({ writable: true, inRecovery: false }),
        set({ leaseRemainingMs: 2500 }),
      ],
      'primary-nothing-to-do',
      null,
    ],
    [
      'the primary whose database failed: fences and releases the lease',
      [asPrimary, db({ status: 'DOWN', writable: false })],
      'own-database-down',
      'fence-and-release',
    ],
    [
      'paused: the primary whose database the DBA stopped is left alone',
      [asPrimary, db({ status: 'DOWN', writable: false }), goal({ paused: true })],
      'paused-database-down',
      null,
    ],
    [
      'paused, but a manual failover was asked for: fences and releases as usual',
      [asPrimary, db({ status: 'DOWN', writable: false }), goal({ paused: true, promotionAsked: true })],
      'own-database-down',
      'fence-and-release',
    ],
    [
      'paused: a primary that cannot renew its lease still stops itself',
      [asPrimary, goal({ paused: true }), set({ leaseRemainingMs: 100 })],
      'lease-expiring',
      'self-fence',
    ],
    [
      'paused: a writable node that is not the primary is still fenced',
      [
        newPrimaryDb3,
        goal({ paused: true }),
        db({ writable: true, inRecovery: false }),
        set({ leaseRemainingMs: 2500 }),
      ],
      'second-primary',
      'fence',
    ],
    [
      '... not once the lease is released',
      [asPrimary, db({ status: 'DOWN', writable: false }), goal({ leaseReleased: true })],
      'primary-nothing-to-do',
      null,
    ],
    [
      'a writable node that is not the primary of the term: fences itself',
      [newPrimaryDb3, db({ writable: true, inRecovery: false }), set({ leaseRemainingMs: 2500 })],
      'second-primary',
      'fence',
    ],
    [
      'a down node whose standby.signal a running rejoin took away (for pg_rewind): left to the rejoin',
      [newPrimaryDb3, db({ status: 'DOWN', inRecovery: false }), set({ markedStandby: false, rejoinUnderWay: true })],
      'rejoin-under-way',
      null,
    ],
    [
      'a writable node is fenced even if a rejoin lock is held (a rejoin never leaves a writable server)',
      [newPrimaryDb3, db({ writable: true, inRecovery: false }), set({ leaseRemainingMs: 2500, rejoinUnderWay: true })],
      'second-primary',
      'fence',
    ],
    [
      'a down node without standby.signal: marks itself a standby',
      [newPrimaryDb3, db({ status: 'DOWN', inRecovery: false }), set({ markedStandby: false })],
      'down-not-marked',
      'mark-standby',
    ],
    [
      'automatic rejoin on: a stopped, fenced old primary rejoins once the new primary answers',
      [
        newPrimaryDb3,
        goal({ phase: 'steady', autoRejoin: true }),
        db({ status: 'DOWN', inRecovery: false }),
        done(2, 'fence'),
      ],
      'auto-rejoin',
      'rejoin',
    ],
    [
      '... not when the new primary does not answer it',
      [
        newPrimaryDb3,
        goal({ phase: 'steady', autoRejoin: true }),
        db({ status: 'DOWN', inRecovery: false }),
        set({ primaryAnswers: false }),
      ],
      'standby-nothing-to-do',
      null,
    ],
    [
      '... not twice in a term (a failed rejoin is left to a person)',
      [
        newPrimaryDb3,
        goal({ phase: 'steady', autoRejoin: true }),
        db({ status: 'DOWN', inRecovery: false }),
        done(2, 'fence', 'rejoin'),
      ],
      'standby-nothing-to-do',
      null,
    ],
    [
      '... not while paused (the DBA stopped it)',
      [
        newPrimaryDb3,
        goal({ phase: 'steady', autoRejoin: true, paused: true }),
        db({ status: 'DOWN', inRecovery: false }),
      ],
      'standby-nothing-to-do',
      null,
    ],
    [
      'automatic rejoin off: a stopped standby stays stopped',
      [newPrimaryDb3, goal({ phase: 'steady' }), db({ status: 'DOWN', inRecovery: false })],
      'standby-nothing-to-do',
      null,
    ],
    ['a standby of the old primary: repoints to the new one', [newPrimaryDb3], 'repoint', 'repoint'],
    [
      '... once: it waits for its WAL receiver to follow',
      [newPrimaryDb3, done(2, 'repoint')],
      'standby-nothing-to-do',
      null,
    ],
    [
      'a standby now streaming from the new primary: reports it',
      [newPrimaryDb3, db({ upstream: '10.0.1.12:5432' }), done(2, 'repoint')],
      'streams-from-new-primary',
      'report-repointed',
    ],
    [
      'while the new primary is still promoting, standbys wait',
      [
        goal({ term: 2, phase: 'promoting', primaryNodeId: 'db3' }),
        set({ seenTerm: 2, primaryAddress: '10.0.1.12:5432' }),
      ],
      'standby-nothing-to-do',
      null,
    ],
    [
      'a primary whose address is unknown: nothing',
      [newPrimaryDb3, set({ primaryAddress: null })],
      'primary-unknown',
      null,
    ],
  ])('%s', (_name, changes, rule, step) => {
    // Prepare
    const view = changes.reduce((current, change) => change(current), standbyView());
    // Act
    const decision = nextStep(view);
    // Assess
    expect(decision.rule).toBe(rule);
    expect(decision.step).toBe(step);
    expect(decision.reason.length).toBeGreaterThan(5);
  });

  it.each<[string, Change[], boolean]>([
    ['a writable primary renews', [asPrimary], true],
    ['a standby never does', [], false],
    ['a primary whose database is down does not', [asPrimary, db({ status: 'DOWN', writable: false })], false],
    [
      'a primary whose server refuses the check (full, a locked-out role): does (never fail over on unknown)',
      [asPrimary, db({ status: 'UNKNOWN', writable: false })],
      true,
    ],
    [
      'a restarted agent beside the primary of its term, before its first check: does',
      [asPrimary, db({ status: 'UNKNOWN', writable: false, lastSeenInRecovery: null })],
      true,
    ],
    [
      'a candidate last seen in recovery whose checks fail: does not',
      [promoting, db({ status: 'UNKNOWN', writable: false, inRecovery: false, lastSeenInRecovery: true })],
      false,
    ],
    [
      'a primary stopping cleanly for a switchover (its checks see it down): does, until the server has exited',
      [
        asPrimary,
        goal({ phase: 'demoting', switchoverTo: 'db2' }),
        done(1, 'demote'),
        db({ status: 'DOWN', writable: false }),
      ],
      true,
    ],
    [
      'a switchover primary whose server has exited: does not',
      [
        asPrimary,
        goal({ phase: 'demoting', switchoverTo: 'db2' }),
        done(1, 'demote'),
        db({ status: 'DOWN', writable: false }),
        set({ demoteStopped: true }),
      ],
      false,
    ],
    [
      'paused: a primary whose database is down for maintenance does',
      [asPrimary, db({ status: 'DOWN', writable: false }), goal({ paused: true })],
      true,
    ],
    [
      'paused, but a manual failover was asked for: does not',
      [asPrimary, db({ status: 'DOWN', writable: false }), goal({ paused: true, promotionAsked: true })],
      false,
    ],
    [
      'paused, lease already released (fenced before the pause): does not',
      [asPrimary, db({ status: 'DOWN', writable: false }), goal({ paused: true, leaseReleased: true })],
      false,
    ],
    ['a primary of a goal older than the term it has seen: does not', [asPrimary, set({ seenTerm: 2 })], false],
    [
      'paused: a standby whose database is down does not',
      [db({ status: 'DOWN', writable: false }), goal({ paused: true })],
      false,
    ],
  ])('lease renewal: %s', (_name, changes, renews) => {
    // Prepare
    const view = changes.reduce((current, change) => change(current), standbyView());
    // Act / Assess
    expect(renewsLease(view)).toBe(renews);
  });

  it('has one row that always holds, last, so every view gets an answer', () => {
    expect(AGENT_RULES.at(-1)?.id).toBe('standby-nothing-to-do');
    expect(new Set(AGENT_RULES.map((rule) => rule.id)).size).toBe(AGENT_RULES.length);
  });

  it('records steps per term: a newer term starts afresh, a step is recorded once', () => {
    const first = recordStep({ term: 0, done: [] }, 2, 'promote');
    expect(recordStep(first, 2, 'promote')).toEqual({ term: 2, done: ['promote'] });
    expect(recordStep(first, 3, 'repoint')).toEqual({ term: 3, done: ['repoint'] });
  });
});

describe('the progress file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgfailover-progress-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the steps across a restart', () => {
    const path = join(dir, 'state.json');
    new ProgressFile(path, () => undefined).save({ term: 4, done: ['promote', 'post-promotion-hook'] });
    expect(new ProgressFile(path, () => undefined).load()).toEqual({
      term: 4,
      done: ['promote', 'post-promotion-hook'],
    });
  });

  it('says so, and starts afresh, when the file is not a progress file', () => {
    const path = join(dir, 'bad.json');
    writeFileSync(path, '{"term": "four"}');
    const warnings: string[] = [];
    expect(new ProgressFile(path, (message) => warnings.push(message)).load()).toEqual({ term: 0, done: [] });
    expect(warnings[0]).toMatch(/bad\.json is not an agent progress file/);
  });
});

describe('the lease file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgfailover-lease-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the lease end across a restart in the same boot, and forgets it after a reboot', () => {
    const path = join(dir, 'lease.json');
    new LeaseFile(path, 'boot-a', () => undefined).save(123_456);
    expect(new LeaseFile(path, 'boot-a', () => undefined).load()).toBe(123_456);
    expect(new LeaseFile(path, 'boot-b', () => undefined).load()).toBeNull();
  });

  it('a lease given up (a fence, a clean stop) leaves nothing to enforce', () => {
    const path = join(dir, 'dropped.json');
    const file = new LeaseFile(path, 'boot-a', () => undefined);
    file.save(5_000);
    file.save(null);
    expect(file.load()).toBeNull();
  });

  it('a file it cannot read stands for a lease that is over (the safe side), and says so', () => {
    const path = join(dir, 'bad.json');
    writeFileSync(path, '{"bootId": 7');
    const warnings: string[] = [];
    expect(new LeaseFile(path, 'boot-a', (message) => warnings.push(message)).load()).toBe(0);
    expect(warnings[0]).toMatch(/bad\.json cannot be read .*assuming a lease that is over/);
  });
});
