// The bill of one deployment for 1, 10 and 100 clusters, from the store load the benchmark measured (its
// steady rates and its busiest second in a failover): what the report prints. bench/main.ts computes it
// after a run; bench/rerender.ts again from a stored docs/benchmarks.json when the cost model changes.

import { monthlyCost, type ClusterLoad } from './cost.ts';
import { evaluatorMemoryMb } from '../infra/evaluator-sizing.ts';
import type { BenchResults } from './report.ts';
import type { ModeResults } from './run.ts';

export function deploymentCosts(modes: readonly ModeResults[]): BenchResults['cost'] {
  const rates = modes.find((mode) => mode.storeRates)?.storeRates;
  const load = rates?.load;
  const headroom = failoverHeadroom(modes, load);
  if (!load) return null;
  // The evaluator's memory as the stack sizes it for that many clusters (infra/evaluator-sizing.ts).
  const deployment = (clusters: number) =>
    monthlyCost(load, clusters, evaluatorMemoryMb(clusters), rates?.fixed, headroom);
  const [first, ten, hundred] = [deployment(1), deployment(10), deployment(100)];
  const perCluster = (from: number, to: number) => Math.round((to - from) * 100) / 100;
  return {
    first,
    ten,
    hundred,
    headroom,
    marginalOnDemandUsd: perCluster(first.totalOnDemandUsd / 9, ten.totalOnDemandUsd / 9),
    marginalProvisionedUsd: perCluster(first.totalProvisionedUsd / 9, ten.totalProvisionedUsd / 9),
    marginalProvisionedPast10Usd: perCluster(ten.totalProvisionedUsd / 90, hundred.totalProvisionedUsd / 90),
  };
}

/**
 * What a provisioned table needs beyond the steady load: the busiest second of a failing cluster (the
 * largest of the modes measured) less its steady load. One cluster failing at a time; clusters that fail
 * together (an Availability Zone) each need as much again.
 */
function failoverHeadroom(modes: readonly ModeResults[], load: ClusterLoad | undefined): ClusterLoad {
  const peaks = modes.map((mode) => mode.storePeak).filter((peak): peak is ClusterLoad => !!peak);
  const most = (pick: (load: ClusterLoad) => number) => Math.max(0, ...peaks.map(pick));
  // A tenth of a unit is as fine as a capacity figure needs to be.
  const above = (peak: number, steady = 0) => Math.max(0, Math.round((peak - steady) * 10) / 10);
  return {
    writeUnitsPerSecond: above(
      most((peak) => peak.writeUnitsPerSecond),
      load?.writeUnitsPerSecond,
    ),
    readUnitsPerSecond: above(
      most((peak) => peak.readUnitsPerSecond),
      load?.readUnitsPerSecond,
    ),
  };
}
