// The evaluator's facts as a one-off reader (cluster-status, promote, switchover) can know them. A reader
// cannot watch heartbeats over time, so it judges liveness from each agent's own send time: its
// "monotonic" time base is the wall clock of the records, good to within the agents' clock skew. Only for
// reports and prechecks: the evaluator decides on its own observations, on its own monotonic clock.

import { gatherFacts, type Facts } from './decide.ts';
import type { Observations } from './observations.ts';
import type { ClusterSnapshot } from './state-store.ts';

export function observationsFromSendTimes(snapshot: ClusterSnapshot): Observations {
  return {
    nodes: Object.fromEntries(
      snapshot.heartbeats.map((beat) => [
        beat.nodeId,
        { bootId: beat.bootId, seq: beat.seq, changedAtMonoMs: beat.sentAtMs },
      ]),
    ),
    lease: null,
    phase: null,
  };
}

export function readerFacts(snapshot: ClusterSnapshot, nowMs: number): Facts {
  return gatherFacts(
    { ...snapshot, observations: observationsFromSendTimes(snapshot) },
    { wallMs: nowMs, monoMs: nowMs },
  );
}
