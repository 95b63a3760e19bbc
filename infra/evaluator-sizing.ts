// How much memory the evaluator Lambda gets, and with it its share of a CPU (1,769 MB is one vCPU), for the
// number of clusters a deployment serves. Measured with `npm run measure:evaluator` (docs/scaling.md): one
// round costs the evaluator about 1.2 ms of CPU per cluster with a few clusters and 0.8 ms with a thousand,
// the SDK's request work included, and a round runs every 240 ms while all is well.

/** The evaluator's CPU per cluster per round, rounded up from the measurement. */
export const EVALUATOR_CPU_MS_PER_CLUSTER_ROUND = 1.2;
/** Rounds a second while all is well (EVALUATION_PERIOD_MS = 240: 4.2, within the headroom below). */
export const EVALUATION_ROUNDS_PER_SECOND = 4;
/** Room for the busier rounds of a failover (every 100 ms) and for slower requests. */
const HEADROOM = 1.5;
/** What a Lambda with one whole vCPU has; the evaluator is one Node.js thread and cannot use more. */
export const ONE_VCPU_MB = 1769;
/** Lambda's smallest size, plenty for a few clusters (the evaluator's resident set is about 90 MB). */
export const MIN_EVALUATOR_MEMORY_MB = 128;

/** The evaluator's memory for `clusters` clusters: enough CPU share for every round, in 64 MB steps. */
export function evaluatorMemoryMb(clusters: number): number {
  const vcpu =
    (Math.max(1, clusters) * EVALUATOR_CPU_MS_PER_CLUSTER_ROUND * EVALUATION_ROUNDS_PER_SECOND * HEADROOM) / 1000;
  const wanted = Math.ceil((vcpu * ONE_VCPU_MB) / 64) * 64;
  return Math.min(ONE_VCPU_MB, Math.max(MIN_EVALUATOR_MEMORY_MB, wanted));
}
