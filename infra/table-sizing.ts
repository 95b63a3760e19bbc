// How much provisioned capacity the state table needs, for the number of clusters a deployment serves.
// Measured by `npm run bench` (docs/benchmarks.md, "State-store requests" and "Monthly cost"), for a
// three-node cluster: every request is one capacity unit (items under 1 KB, Queries under 4 KB). A table
// provisioned below this throttles, and a throttled lease renewal is a failed one: throttling that lasts the
// blip tolerance stops a healthy primary. On-demand capacity (tableCapacity unset) needs no sizing.

import type { TableCapacity } from './state-table.ts';

/**
 * A cluster at rest: lease renewals and heartbeats (2.6 measured), the agents' reads and the evaluator's glances
 * (eventually consistent, half a unit each: 2.6 measured).
 */
export const STEADY_UNITS_PER_CLUSTER = { writes: 3, reads: 3 } as const;
/**
 * The evaluator's reads that do not grow with the clusters: who evaluates (about once a second) and the
 * cluster index (every 5 s), both eventually consistent (0.5 measured).
 */
export const EVALUATOR_FIXED_READS = 1;
/**
 * A failing cluster's busiest second beyond its steady load, rounded up (the bench's failover runs and
 * trials: 40 to 48 writes, from a switchover under load, where every node's position moves, and up to 65
 * reads, the agents reading the goal every 50 ms and the evaluator every 25 ms while a candidate promotes):
 * one cluster failing at a time; clusters that may fail together (one Availability Zone) need it each.
 */
export const FAILOVER_HEADROOM = { writes: 50, reads: 80 } as const;

/** The least provisioned capacity that carries `clusters` clusters and one failover among them. */
export function minimumTableCapacity(clusters: number): TableCapacity {
  const count = Math.max(1, clusters);
  return {
    writeUnits: STEADY_UNITS_PER_CLUSTER.writes * count + FAILOVER_HEADROOM.writes,
    readUnits: STEADY_UNITS_PER_CLUSTER.reads * count + EVALUATOR_FIXED_READS + FAILOVER_HEADROOM.reads,
  };
}

/** Why `capacity` is too small for `clusters` clusters, or undefined. */
export function tableCapacityProblem(capacity: TableCapacity, clusters: number): string | undefined {
  const least = minimumTableCapacity(clusters);
  const short = [
    capacity.writeUnits < least.writeUnits ? `${capacity.writeUnits} write units (at least ${least.writeUnits})` : '',
    capacity.readUnits < least.readUnits ? `${capacity.readUnits} read units (at least ${least.readUnits})` : '',
  ].filter(Boolean);
  if (short.length === 0) return undefined;
  return (
    `tableCapacity of ${short.join(' and ')} is too small for ${clusters} cluster(s): each needs ` +
    `${STEADY_UNITS_PER_CLUSTER.writes} writes and ${STEADY_UNITS_PER_CLUSTER.reads} reads a second at rest, the ` +
    `evaluator ${EVALUATOR_FIXED_READS} reads, and a cluster failing over ${FAILOVER_HEADROOM.writes} writes and ` +
    `${FAILOVER_HEADROOM.reads} reads more; a throttled lease renewal stops a healthy primary. Raise it, or leave ` +
    'tableCapacity out for on-demand capacity (docs/deploy.md, section 7)'
  );
}
