// Deliberately broken variants of the real rules, each one defect found from outside with its fix taken
// back. The rule tables are data, so a mutant swaps one row's condition for the run and puts it back; one
// that lives in the wiring (the lease file) changes what the host remembers. A simulation that cannot
// catch each of them is not yet good enough (docs/simulation.md).

import { AGENT_RULES, RENEWAL_RULES, type AgentRule } from '../core/agent-rules.ts';
import { DEMOTING_RULES, PEER_LEASE_PROOF, STEADY_RULES, switchoverTrouble, VOTING } from '../core/decide.ts';
import type { World } from './world.ts';

export interface Mutant {
  name: string;
  what: string;
  /** A rule of peer leases: caught in runs with them on. */
  peerLeases?: true;
  /** Breaks the rule; returns how to mend it. */
  apply(world: World): () => void;
}

function swapWhen<R extends { id: string; when: (input: never) => boolean }>(
  rows: R[],
  id: string,
  when: (original: R['when']) => R['when'],
): () => void {
  const row = rows.find((candidate) => candidate.id === id);
  if (!row) throw new Error(`no rule ${id}: the mutant is out of date`);
  const original = row.when;
  row.when = when(original);
  return () => void (row.when = original);
}

export const MUTANTS: Mutant[] = [
  {
    name: 'evaluator-ignores-lease',
    what: "the evaluator promotes once the primary's failure is confirmed, without waiting out its lease",
    apply: () => swapWhen(STEADY_RULES, 'lease-valid', () => () => false),
  },
  {
    name: 'self-fence-skipped-when-unknown',
    what: 'the lease watch fences only a server it knows is writable, so one it cannot check escapes (issue 20, case 1)',
    apply: () =>
      swapWhen(
        AGENT_RULES as AgentRule[],
        'lease-expiring',
        (original) => (view) => original(view) && view.db.writable,
      ),
  },
  {
    name: 'forgets-lease-on-restart',
    what: 'a restarted agent does not find the lease its predecessor recorded (issue 20, case 3)',
    apply: (world) => {
      for (const host of world.hosts) host.disk.forgetLease = true;
      return () => {
        for (const host of world.hosts) host.disk.forgetLease = false;
      };
    },
  },
  {
    name: 'stops-renewing-when-unknown',
    what: 'a primary whose checks are refused (a full server: UNKNOWN) stops renewing its lease, so a load spike becomes a failover (issue 20, case 2)',
    apply: () => swapWhen(RENEWAL_RULES, 'may-be-writable', () => (view) => view.db.writable),
  },
  {
    name: 'switchover-waits-for-fenced-primary',
    what: 'a switchover whose old primary fenced itself (cut off mid-switchover) waits out its deadline with no primary (found by the simulation)',
    apply: () =>
      swapWhen(DEMOTING_RULES, 'switchover-abandoned', () => (facts) => {
        const trouble = switchoverTrouble(facts);
        return trouble !== undefined && !trouble.includes('without a clean demotion');
      }),
  },
  {
    name: 'rejoin-once-per-term',
    what: 'automatic rejoin is done once per term even when it succeeded, so a standby that stops twice in a term stays down (found by the simulation)',
    apply: (world) => {
      for (const host of world.hosts) host.disk.keepRejoin = true;
      return () => {
        for (const host of world.hosts) host.disk.keepRejoin = false;
      };
    },
  },
  {
    name: 'stale-vote-counted',
    what: "a member's last vote counted after its agent has gone silent (its heartbeat no longer live)",
    apply: () => {
      const original = VOTING.counts;
      VOTING.counts = (voter, primaryNodeId) => voter.heartbeat?.primaryCheck?.primaryNodeId === primaryNodeId;
      return () => void (VOTING.counts = original);
    },
  },
  {
    name: 'watchdog-proves-under-peer-leases',
    peerLeases: true,
    what: "peer leases: the evaluator takes a watchdog armed at the store lease's end as proof, though the primary may hold vouches past it",
    apply: () => {
      const original = PEER_LEASE_PROOF.watchdogProves;
      PEER_LEASE_PROOF.watchdogProves = () => true;
      return () => void (PEER_LEASE_PROOF.watchdogProves = original);
    },
  },
];

export function mutantNamed(name: string): Mutant {
  const mutant = MUTANTS.find((candidate) => candidate.name === name);
  if (!mutant) throw new Error(`no mutant ${name}; see --list-mutants`);
  return mutant;
}
