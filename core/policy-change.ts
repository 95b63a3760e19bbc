// `pgfailover set-policy`: a change of the cluster's policy at run time, checked, with what it means for
// failover time and blip tolerance in words. Pure: the snapshot and the change in, the policy and the
// explanation out (or a UsageError saying what is wrong).

import { UsageError } from './errors.ts';
import { fencingWarning } from './fencing.ts';
import { FENCE_LEAD_MS, leaseProblem, leaseTiming } from './lease-timing.ts';
import { clusterPolicySchema, describeIssues, type ClusterPolicy } from './records.ts';
import type { ClusterSnapshot } from './state-store.ts';
import { PEER_LEASES_SCHEMA, schemaOf, writtenByOf } from './store-schema.ts';

export type PolicyChange = Partial<
  Pick<
    ClusterPolicy,
    | 'autoFailover'
    | 'autoRejoin'
    | 'leaseDurationMs'
    | 'leaseMarginMs'
    | 'maxLagBytes'
    | 'pauseReminderMs'
    | 'fencing'
    | 'peerLeases'
  >
>;

export interface PolicyPlan {
  policy: ClusterPolicy;
  /** "leaseDurationMs 3000 -> 5000", one per field that changes. */
  changes: string[];
  /** What the new policy means, for the person and the history. */
  effects: string[];
}

/** What a policy means for the time to replace a dead primary node and the blips a primary rides out. */
export function describeTiming(policy: ClusterPolicy): string[] {
  const timing = leaseTiming(policy);
  return [
    `primary node dies: nobody is promoted until ${timing.nodeCrashWaitMs} ms after its last lease renewal (the lease, ${policy.leaseDurationMs} + ${policy.leaseMarginMs} ms margin) and until a majority of the members confirm its database does not answer, then about 0.15 s to promote (the address moves meanwhile)`,
    `primary database crashes, its agent alive: not bound by the lease (the agent fences and releases it at once)`,
    `blip tolerance: a primary rides out a state-store or network outage of up to ${timing.blipToleranceMs} ms; a longer one makes it stop its database ${FENCE_LEAD_MS} ms before its lease ends`,
  ];
}

export function planPolicyChange(snapshot: ClusterSnapshot, change: PolicyChange): PolicyPlan {
  const current = snapshot.cluster.policy;
  const given = Object.entries(change).filter(([, value]) => value !== undefined);
  if (given.length === 0)
    throw new UsageError(
      'set-policy needs at least one of --auto-failover, --auto-rejoin, --lease-ms, --lease-margin-ms, --max-lag-bytes, --pause-reminder-ms, --fencing, --peer-leases',
    );
  const parsed = clusterPolicySchema.safeParse({ ...current, ...Object.fromEntries(given) });
  if (!parsed.success)
    throw new UsageError(`the policy would not be valid: ${describeIssues(parsed.error).join('; ')}`);
  const policy = parsed.data;
  if (policy.peerLeases && !current.peerLeases) {
    // A member of an older release would refuse the record from then on (its minSchema), and its primary
    // would stop itself: every agent first.
    const behind = snapshot.membership.allowed
      .map((node) => ({ node, beat: snapshot.heartbeats.find((beat) => beat.nodeId === node.nodeId) }))
      .filter(({ beat }) => !beat || schemaOf(beat) < PEER_LEASES_SCHEMA)
      .map(({ node, beat }) => `${node.nodeId} (${beat ? writtenByOf(beat) : 'no heartbeat yet'})`);
    if (behind.length > 0)
      throw new UsageError(
        `peer leases need every member's agent at store schema ${PEER_LEASES_SCHEMA} or later, with peerLeases in its config; not yet: ${behind.join(', ')}. Upgrade those agents first (docs/peer-leases.md). Nothing was changed`,
      );
  }
  const problem = leaseProblem(policy.leaseDurationMs);
  if (problem) throw new UsageError(`${problem}. Nothing was changed`);
  const changes = (Object.keys(change) as (keyof PolicyChange)[])
    .filter((key) => change[key] !== undefined && change[key] !== current[key])
    .map((key) => `${key} ${String(current[key])} -> ${String(policy[key])}`);
  if (changes.length === 0) throw new UsageError('the policy already says that; nothing to change');
  const effects = describeTiming(policy);
  if (policy.leaseDurationMs < current.leaseDurationMs)
    effects.push(
      `the shorter lease counts once the primary has renewed under it (within a second); until then the evaluator waits out the longer one`,
    );
  if (policy.autoFailover !== current.autoFailover)
    effects.push(
      policy.autoFailover
        ? 'automatic failover on: a confirmed failure of the primary is failed over without a person'
        : 'automatic failover off: a confirmed failure raises a SEVERE alert and waits for pgfailover promote',
    );
  if (policy.autoRejoin !== current.autoRejoin)
    effects.push(
      policy.autoRejoin
        ? 'automatic rejoin on: a stopped old primary or broken standby is rewound (or copied) and started as a standby by its own agent; its agent config needs a rewind user (rewind.*)'
        : 'automatic rejoin off: a stopped old primary stays stopped until pgfailover rejoin',
    );
  if (policy.fencing !== current.fencing)
    effects.push(
      fencingWarning(policy) ??
        (policy.fencing === 'watchdog'
          ? 'fencing "watchdog": a failed primary is replaced only once the watchdog armed with its lease has fired; every database agent needs one (agent config "watchdog"), or its node is not promoted and its failure needs a person'
          : 'fencing "ec2-stop": the evaluator stops a failed primary\'s instance before anyone is promoted; the stack must grant it (docs/deploy.md)'),
    );
  if (policy.peerLeases !== current.peerLeases)
    effects.push(
      policy.peerLeases
        ? 'peer leases on: a primary that cannot reach the state store keeps its database while a majority of the members vouch for it (every agent needs peerLeases in its config, docs/peer-leases.md); a watchdog no longer proves a silent primary stopped, so a double fault needs a majority or ec2-stop'
        : 'peer leases off: a primary that cannot renew through the state store stops its database before its lease ends; turn this off only while every member reaches the store',
    );
  if (policy.maxLagBytes !== current.maxLagBytes)
    effects.push(
      `a standby more than ${policy.maxLagBytes} bytes behind is not promoted without pgfailover promote --force`,
    );
  return { policy, changes, effects };
}
