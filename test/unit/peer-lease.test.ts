import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decideVouch,
  driftMarginMs,
  peerValidUntil,
  VOUCH_RULES,
  vouchCountsUntil,
  type VouchView,
} from '../../core/peer-lease.ts';
import { decodeMessage, encodeMessage, type PeerMessage } from '../../agent/peer/peer-messages.ts';
import { VouchFile } from '../../agent/peer/vouch-file.ts';

const KEY = 'k'.repeat(64);
const healthy: VouchView = {
  enabled: true,
  term: 4,
  primaryNodeId: 'db1',
  ask: { term: 4, from: 'db1' },
  bound: false,
  seesPrimaryDown: false,
};

describe('decideVouch(): a member grants a vouch only to the primary of its term, never over a standing down vote', () => {
  it.each<[string, Partial<VouchView>, string, string]>([
    ['grants the primary of its term', {}, 'grant', 'grant'],
    ['refuses when the policy has peer leases off', { enabled: false }, 'peer-leases-off', 'refuse'],
    ['refuses an ask for an older term', { ask: { term: 3, from: 'db1' } }, 'other-term', 'refuse'],
    ['refuses an ask for a term it has not seen', { ask: { term: 5, from: 'db1' } }, 'other-term', 'refuse'],
    ['refuses a member that is not the primary', { ask: { term: 4, from: 'db2' } }, 'not-the-primary', 'refuse'],
    ['refuses while its own check finds the primary down', { seesPrimaryDown: true }, 'sees-primary-down', 'refuse'],
    ['withdraws a standing down vote first', { bound: true }, 'bound', 'withdraw-then-grant'],
    [
      'refuses rather than withdraw while it sees the primary down',
      { bound: true, seesPrimaryDown: true },
      'sees-primary-down',
      'refuse',
    ],
  ])('%s', (_name, change, rule, verdict) => {
    const decision = decideVouch({ ...healthy, ...change });
    expect(decision).toMatchObject({ rule, verdict });
    expect(decision.reason.length).toBeGreaterThan(0);
  });

  it('every row is reached by some view (no dead rows)', () => {
    const views: Partial<VouchView>[] = [
      {},
      { enabled: false },
      { ask: { term: 3, from: 'db1' } },
      { ask: { term: 4, from: 'db2' } },
      { seesPrimaryDown: true },
      { bound: true },
    ];
    const reached = new Set(views.map((change) => decideVouch({ ...healthy, ...change }).rule));
    expect([...reached].sort()).toEqual(VOUCH_RULES.map((row) => row.id).sort());
  });
});

describe('how long a vouch counts', () => {
  it('from when the ask was sent, for the promise less the drift margin', () => {
    expect(vouchCountsUntil(10_000, 2800)).toBe(10_000 + 2800 - 50);
    expect(vouchCountsUntil(0, 20_000)).toBe(20_000 - 200);
    expect(driftMarginMs(2800)).toBe(50);
    expect(driftMarginMs(20_000)).toBe(200);
  });

  it.each<[string, number[], number, boolean, number | null]>([
    [
      'three data nodes and a witness: itself and two vouchers, the second-latest counts',
      [900, 700, 800],
      4,
      true,
      800,
    ],
    ['one standby down: itself and the two left suffice', [900, 700], 4, true, 700],
    ['itself and one voucher of four are no majority', [900], 4, true, null],
    ['bound by its own down vote, it needs three vouchers of four', [900, 700], 4, false, null],
    ['bound, with three vouchers: the third-latest counts', [900, 700, 800], 4, false, 700],
    ['a standby and a witness: one voucher suffices', [500], 3, true, 500],
    ['a cluster of one has nobody to vouch', [], 1, true, null],
  ])('%s', (_name, counted, voters, countsItself, expected) => {
    expect(peerValidUntil(counted, voters, countsItself)).toBe(expected);
  });
});

describe('peer messages: only another member of this cluster, holding the key, is heard', () => {
  const ask: PeerMessage = {
    kind: 'ask',
    cluster: 'c1',
    from: 'db1',
    to: 'db2',
    term: 4,
    nonce: '0123456789abcdef0123',
    promiseMs: 2800,
  };
  const self = { cluster: 'c1', nodeId: 'db2' };

  it('a message signed with the key reads back whole', () => {
    expect(decodeMessage(KEY, encodeMessage(KEY, ask), self)).toEqual({ ok: true, message: ask });
  });

  it.each<[string, Buffer, RegExp]>([
    ['another key', encodeMessage('x'.repeat(64), ask), /bad signature/],
    ['another cluster', encodeMessage(KEY, { ...ask, cluster: 'c2' }), /for cluster c2, not c1/],
    ['another addressee', encodeMessage(KEY, { ...ask, to: 'db3' }), /addressed to db3, not db2/],
    ['not JSON', Buffer.from('hello'), /not a pgfailover peer message/],
  ])('drops one with %s, saying why', (_name, datagram, problem) => {
    const decoded = decodeMessage(KEY, datagram, self);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.problem).toMatch(problem);
  });

  it('drops a body changed after signing', () => {
    const wire = JSON.parse(encodeMessage(KEY, ask).toString()) as { body: string; mac: string };
    const forged = Buffer.from(JSON.stringify({ ...wire, body: wire.body.replace('"term":4', '"term":9') }));
    expect(decodeMessage(KEY, forged, self)).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/bad signature/),
    });
  });

  it('keeps fields a newer version adds', () => {
    const newer = { ...ask, leaseEpoch: 7 } as PeerMessage;
    expect(decodeMessage(KEY, encodeMessage(KEY, newer), self)).toMatchObject({ ok: true, message: { leaseEpoch: 7 } });
  });
});

describe('the vouch file: a restart forgets neither a promise nor a down vote', () => {
  const withFile = (test: (path: string) => void) => {
    const dir = mkdtempSync(join(tmpdir(), 'pgfailover-vouch-'));
    try {
      test(join(dir, 'db2.vouch.json'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const promise = { primaryNodeId: 'db1', term: 4, promiseMs: 2800, endMonoMs: 50_000 };
  const view = { term: 4, primaryNodeId: 'db1', peerLeases: true, leaseDurationMs: 2800, voters: ['db1', 'db2', 'w'] };

  it('reads back what was saved in the same boot', () =>
    withFile((path) => {
      new VouchFile(path, 'boot-a', () => undefined).save({ promise, bound: { primaryNodeId: 'db1', term: 3 }, view });
      expect(new VouchFile(path, 'boot-a', () => undefined).load(10_000)).toEqual({
        promise,
        bound: { primaryNodeId: 'db1', term: 3 },
        view,
      });
    }));

  it('after a reboot, a promise runs for a whole promise from now, and the down vote still binds', () =>
    withFile((path) => {
      new VouchFile(path, 'boot-a', () => undefined).save({ promise, bound: { primaryNodeId: 'db1', term: 3 }, view });
      expect(new VouchFile(path, 'boot-b', () => undefined).load(1_000)).toEqual({
        promise: { ...promise, endMonoMs: 1_000 + 2800 },
        bound: { primaryNodeId: 'db1', term: 3 },
        view,
      });
    }));

  it('an unreadable file binds (withdraw before vouching) and says so', () =>
    withFile((path) => {
      writeFileSync(path, '{ not json');
      const warnings: string[] = [];
      expect(new VouchFile(path, 'boot-a', (line) => warnings.push(line)).load(0)).toEqual({
        promise: null,
        bound: { primaryNodeId: '*', term: 0 },
        view: null,
      });
      expect(warnings.join()).toMatch(/withdraws before vouching/);
    }));

  it('nothing to keep: no file', () =>
    withFile((path) => {
      const file = new VouchFile(path, 'boot-a', () => undefined);
      file.save({ promise, bound: null, view: null });
      file.save({ promise: null, bound: null, view: null });
      expect(file.load(0)).toEqual({ promise: null, bound: null, view: null });
    }));
});
