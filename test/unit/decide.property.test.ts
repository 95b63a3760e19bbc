// Property-based tests of the decision core: random histories of heartbeats, faults, clock steps and
// two overlapping evaluators sharing one store with conditional writes. The invariants of the design
// brief must hold in every history fast-check can find.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, gatherFacts } from '../../core/decide.ts';
import { lsnLagBytes } from '../../core/lsn.ts';
import { NO_OBSERVATIONS, observe, type Observations } from '../../core/observations.ts';
import type { ClusterRecord, HeartbeatRecord } from '../../core/records.ts';
import { clusterRecord, heartbeat, membership, NOW_MS, primaryHeartbeat } from '../support/fixtures.ts';

const NODES = ['db1', 'db2', 'db3'] as const;
type NodeId = (typeof NODES)[number];

type Step =
  | { kind: 'tick'; ms: number }
  | { kind: 'kill-node'; node: NodeId }
  | { kind: 'kill-db'; node: NodeId }
  | { kind: 'heal'; node: NodeId }
  | { kind: 'write'; node: NodeId; bytes: number }
  | { kind: 'evaluate'; evaluator: 0 | 1 };

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 100, max: 3000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('kill-node' as const), node: fc.constantFrom(...NODES) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('kill-db' as const), node: fc.constantFrom(...NODES) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('heal' as const), node: fc.constantFrom(...NODES) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      node: fc.constantFrom(...NODES),
      bytes: fc.integer({ min: 0, max: 40_000_000 }),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('evaluate' as const),
      evaluator: fc.constantFrom(0 as const, 1 as const),
    }),
  },
);

interface NodeState {
  agentAlive: boolean;
  dbUp: boolean;
  seq: number;
  /** Bytes of WAL this node has (primary: written; standby: received). */
  lsn: number;
  term: number;
  promotedInTerm: number | null;
}

const lsnText = (bytes: number) => `0/${bytes.toString(16).toUpperCase()}`;

/** A simulated cluster: the store's cluster record, the nodes' true state, and the heartbeats they write. */
function simulate(steps: Step[]) {
  let nowMs = NOW_MS;
  let record: ClusterRecord = clusterRecord({ policy: { ...clusterRecord().policy, maxLagBytes: 16 * 1024 * 1024 } });
  const members = membership([...NODES], ['db2', 'db3']);
  const nodes: Record<NodeId, NodeState> = {
    db1: { agentAlive: true, dbUp: true, seq: 1, lsn: 0x5000000, term: 1, promotedInTerm: 1 },
    db2: { agentAlive: true, dbUp: true, seq: 1, lsn: 0x5000000, term: 1, promotedInTerm: null },
    db3: { agentAlive: true, dbUp: true, seq: 1, lsn: 0x5000000, term: 1, promotedInTerm: null },
  };
  const stored = new Map<NodeId, HeartbeatRecord>();
  /** When each node last renewed the lease, on the true clock: what the agent's own lease is timed from. */
  let lastRenewalAtMs = nowMs;
  let leaseHolder: string | null = 'db1';
  const observations: Observations[] = [NO_OBSERVATIONS, NO_OBSERVATIONS];
  const grants = new Map<number, string>();
  const violations: string[] = [];

  const writable = (id: NodeId) => nodes[id].dbUp && nodes[id].promotedInTerm !== null;
  const publish = () => {
    for (const id of NODES) {
      const node = nodes[id];
      if (!node.agentAlive) continue;
      node.seq++;
      const primaryId = record.primaryNodeId as NodeId | null;
      const primaryReachable = primaryId !== null && nodes[primaryId].dbUp;
      const base = {
        seq: node.seq,
        term: node.term,
        sentAtMs: nowMs,
        primaryCheck:
          primaryId && primaryId !== id
            ? { primaryNodeId: primaryId, status: primaryReachable ? ('UP' as const) : ('DOWN' as const), reason: '' }
            : null,
        action:
          node.promotedInTerm !== null && node.promotedInTerm === node.term
            ? { term: node.term, step: 'promoted' as const, detail: '' }
            : node.term > 1
              ? { term: node.term, step: 'repointed' as const, detail: '' }
              : null,
      };
      if (!node.dbUp)
        stored.set(
          id,
          heartbeat(id, {
            ...base,
            agentType: 'idle',
            dbStatus: 'DOWN',
            receivedLsn: null,
            replayedLsn: null,
            currentLsn: null,
          }),
        );
      else if (writable(id)) stored.set(id, primaryHeartbeat(id, lsnText(node.lsn), [], base));
      else stored.set(id, heartbeat(id, { ...base, receivedLsn: lsnText(node.lsn), replayedLsn: lsnText(node.lsn) }));
    }
  };
  const renewLease = () => {
    // The primary's agent renews while its database is up, on condition it is still the primary of the term.
    const holder = record.primaryNodeId as NodeId | null;
    if (holder && nodes[holder].agentAlive && writable(holder) && nodes[holder].term === record.term) {
      record = { ...record, leaseRenewals: record.leaseRenewals + 1 };
      lastRenewalAtMs = nowMs;
      leaseHolder = holder;
    }
  };
  const converge = () => {
    // Agents apply the goal state: the recorded primary promotes; others learn the term and stop being writable.
    for (const id of NODES) {
      const node = nodes[id];
      if (!node.agentAlive) continue;
      if (node.term < record.term) node.term = record.term;
      if (record.primaryNodeId === id && node.dbUp && record.phase !== 'halted') node.promotedInTerm ??= record.term;
      if (record.primaryNodeId !== id && node.promotedInTerm !== null && node.term === record.term)
        node.promotedInTerm = null;
    }
  };

  publish();
  for (const step of steps) {
    switch (step.kind) {
      case 'tick':
        nowMs += step.ms;
        renewLease();
        converge();
        publish();
        break;
      case 'kill-node':
        nodes[step.node].agentAlive = false;
        nodes[step.node].dbUp = false;
        break;
      case 'kill-db':
        nodes[step.node].dbUp = false;
        break;
      case 'heal':
        // A node comes back: fenced, it returns as a standby (invariant 6 is the agent's job, modelled here).
        nodes[step.node].agentAlive = true;
        nodes[step.node].dbUp = true;
        if (record.primaryNodeId !== step.node) nodes[step.node].promotedInTerm = null;
        break;
      case 'write': {
        const primary = record.primaryNodeId as NodeId | null;
        if (primary && writable(primary)) {
          nodes[primary].lsn += step.bytes;
          // Streaming: a live standby receives the WAL unless this write made it lag (bytes over 20 MB).
          for (const id of NODES)
            if (id !== primary && nodes[id].dbUp && step.bytes < 20_000_000) nodes[id].lsn = nodes[primary].lsn;
        }
        break;
      }
      case 'evaluate': {
        const heartbeats = [...stored.values()];
        const seen = observe(observations[step.evaluator] as Observations, record, heartbeats, nowMs);
        observations[step.evaluator] = seen;
        const input = { cluster: record, membership: members, heartbeats, observations: seen };
        const decision = decide(input, { wallMs: nowMs, monoMs: nowMs });
        if (!decision.next) break;
        // The store's conditional write: the version read, and for a failover the lease renewals judged.
        if (decision.expectLeaseRenewals !== null && decision.expectLeaseRenewals !== record.leaseRenewals) break;
        if (decision.next.version !== record.version + 1) break;
        if (decision.rule === 'failover') {
          const facts = gatherFacts(input, { wallMs: nowMs, monoMs: nowMs });
          const oldPrimary = record.primaryNodeId;
          if (
            !record.leaseReleased &&
            leaseHolder === oldPrimary &&
            nowMs - lastRenewalAtMs <= record.policy.leaseDurationMs
          ) {
            violations.push(
              `promoted ${decision.next.primaryNodeId} while ${oldPrimary}'s lease was valid (renewed ${nowMs - lastRenewalAtMs} ms ago)`,
            );
          }
          if (facts.unreachableVotes.length < facts.majority)
            violations.push(`promoted without a majority: ${facts.unreachableVotes.join(',')}`);
          const chosen = heartbeats.find((beat) => beat.nodeId === decision.next?.primaryNodeId);
          const reference = Math.max(
            ...NODES.map((id) => stored.get(id))
              .filter((beat): beat is HeartbeatRecord => !!beat)
              .map((beat) => parseInt((beat.currentLsn ?? beat.receivedLsn ?? '0/0').split('/')[1] ?? '0', 16)),
          );
          if (chosen?.receivedLsn && lsnLagBytes(lsnText(reference), chosen.receivedLsn) > record.policy.maxLagBytes) {
            violations.push(`promoted ${chosen.nodeId}, lagging past the limit`);
          }
          if (decision.next.term !== record.term + 1)
            violations.push(`term went from ${record.term} to ${decision.next.term}`);
          if (decision.next.primaryNodeId === oldPrimary) violations.push('re-promoted the failed primary');
        }
        if (decision.next.primaryNodeId && decision.next.term !== record.term) {
          const granted = grants.get(decision.next.term);
          if (granted && granted !== decision.next.primaryNodeId)
            violations.push(`term ${decision.next.term} granted to ${granted} and ${decision.next.primaryNodeId}`);
          grants.set(decision.next.term, decision.next.primaryNodeId);
        }
        if (decision.next.term < record.term) violations.push('the term went backwards');
        record = decision.next;
        converge();
        break;
      }
    }
    // At most one writable primary per term among the nodes that know that term.
    const writers = NODES.filter((id) => writable(id) && nodes[id].promotedInTerm === record.term);
    if (writers.length > 1) violations.push(`two writable primaries in term ${record.term}: ${writers.join(', ')}`);
  }
  return { violations, grants, record };
}

describe('decide() invariants over random histories', () => {
  it('never grants two primaries a term, never promotes inside a valid lease, without a majority, or a lagging standby', () => {
    fc.assert(
      fc.property(fc.array(stepArbitrary, { minLength: 5, maxLength: 120 }), (steps) => {
        const { violations } = simulate(steps);
        expect(violations).toEqual([]);
      }),
      { numRuns: 400 },
    );
  });

  it('does not fail over when only a minority survives to confirm', () => {
    // Prepare: the primary and one standby die; the last standby alone is not a majority of three.
    const steps: Step[] = [
      { kind: 'evaluate', evaluator: 0 },
      { kind: 'kill-node', node: 'db1' },
      { kind: 'kill-node', node: 'db2' },
    ];
    for (let i = 0; i < 20; i++)
      steps.push({ kind: 'tick', ms: 1000 }, { kind: 'evaluate', evaluator: (i % 2) as 0 | 1 });
    // Act
    const { violations, grants, record } = simulate(steps);
    // Assess
    expect(violations).toEqual([]);
    expect(grants.has(2)).toBe(false);
    expect(record.primaryNodeId).toBe('db1');
  });

  it('does fail over when the primary node dies and the majority confirms (the model is not vacuous)', () => {
    // Prepare: kill db1, then let time pass with both evaluators running.
    const steps: Step[] = [
      { kind: 'evaluate', evaluator: 0 },
      { kind: 'kill-node', node: 'db1' },
    ];
    for (let i = 0; i < 20; i++)
      steps.push({ kind: 'tick', ms: 1000 }, { kind: 'evaluate', evaluator: (i % 2) as 0 | 1 });
    // Act
    const { violations, grants, record } = simulate(steps);
    // Assess
    expect(violations).toEqual([]);
    expect(grants.get(2)).toBe('db2');
    expect(record.phase).toBe('steady');
    expect(record.primaryNodeId).toBe('db2');
  });
});
