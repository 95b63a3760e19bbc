// What each fencing policy leaves open, said once: init and set-policy record it in the history, and
// cluster-status shows it for as long as the cluster is fenced so.

import type { ClusterPolicy } from './records.ts';

/** Why fencing "agent" is not the default, in words for the DBA who chose it. */
export const AGENT_FENCING_GAP =
  'fencing "agent": only the old primary\'s own agent can stop it, so an agent that is frozen, hung, killed, or restarted while cut off leaves a server nobody can stop (the evaluator then waits for a person instead of failing over where it cannot prove the stop); choose watchdog (every database agent arms /dev/watchdog) or ec2-stop (the evaluator stops the instance): pgfailover set-policy --fencing watchdog';

/** The standing warning a fencing policy carries, or undefined for the safe ones. */
export function fencingWarning(policy: Pick<ClusterPolicy, 'fencing'>): string | undefined {
  return policy.fencing === 'agent' ? AGENT_FENCING_GAP : undefined;
}
