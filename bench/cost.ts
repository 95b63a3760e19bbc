// The monthly AWS bill of one deployment, from the request rates the benchmark measured on the store.
// List prices are us-east-1's, written down with the date they were read; check them before relying
// on the totals (docs/benchmarks.md shows the same table).

import { EVALUATION_PERIOD_MS, OWNER_CHECK_MS } from '../lambdas/evaluator/evaluator.ts';
import { leaseWindowMs } from '../core/lease-timing.ts';
import { DEFAULT_CLUSTER_POLICY } from '../core/records.ts';

export const PRICES = {
  readOn: '2026-11-25 (AWS list prices, us-east-1)',
  dynamoOnDemandPerMillionWriteUnits: 0.625,
  dynamoOnDemandPerMillionReadUnits: 0.125,
  dynamoProvisionedPerWcuHour: 0.00065,
  dynamoProvisionedPerRcuHour: 0.00013,
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerMillionRequests: 0.2,
  snsPerMillionPublishes: 0.5,
  /** A customer-managed KMS key (the topics'), per month; its requests are a few a day (SNS caches data keys). */
  kmsKeyPerMonth: 1,
  /** A standard-resolution CloudWatch alarm on one metric, per month. */
  cloudwatchAlarmPerMonth: 0.1,
  /** A CloudWatch dashboard, per month (an account's first three are free; counted here as if not). */
  cloudwatchDashboardPerMonth: 3,
  /** A custom metric (each name and set of dimensions), per month, for the first 10,000. */
  cloudwatchMetricPerMonth: 0.3,
  /** CloudWatch Logs ingestion, per GB. */
  cloudwatchLogsPerGbIngested: 0.5,
  /** Patroni's usual DCS: three small instances (t4g.small, on demand) with 8 GB gp3 each. */
  etcdInstancePerHour: 0.0168,
  gp3PerGbMonth: 0.08,
  /** RDS for PostgreSQL db.m6g.large: Single-AZ and Multi-AZ (instance only). */
  rdsSingleAzPerHour: 0.159,
  rdsMultiAzPerHour: 0.318,
} as const;

export const HOURS_PER_MONTH = 730;

/** What the stack bills for besides the requests, as infra/pgfailover.ts declares it (test/unit/infra.test.ts checks). */
export const STACK_MONITORING = { kmsKeys: 1, alarms: 5, dashboards: 1 } as const;

/**
 * The evaluator's custom metrics at rest (lambdas/evaluator/evaluation-metrics.ts; test/unit/evaluation-metrics.test.ts
 * checks): SilentAgents and EvaluationRounds for the deployment, and per cluster a heartbeat age per member, a
 * replication lag per standby and the decisions of its one steady rule. A failover adds a few for its month.
 */
export function metricsAtRest(clusters: number, membersPerCluster = 3, standbysPerCluster = 2): number {
  return 2 + clusters * (membersPerCluster + standbysPerCluster + 1);
}

/** One EMF document of one series, as the evaluator writes it once a minute (measured: about 330 bytes). */
export const EMF_BYTES_PER_SERIES = 400;
/** The Lambda platform's lines per invocation (START, END, REPORT) and the evaluator's own at start and end. */
export const LOG_BYTES_PER_INVOCATION = 1_500;
const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;

/** What one capacity unit a second, all month, costs on demand. */
export const ON_DEMAND_MONTH_USD = {
  perWriteUnitSecond: (SECONDS_PER_MONTH / 1e6) * PRICES.dynamoOnDemandPerMillionWriteUnits,
  perReadUnitSecond: (SECONDS_PER_MONTH / 1e6) * PRICES.dynamoOnDemandPerMillionReadUnits,
};

/** What one cluster asks of the store each second, in DynamoDB capacity units. */
export interface ClusterLoad {
  writeUnitsPerSecond: number;
  readUnitsPerSecond: number;
}

export interface DeploymentCost {
  clusters: number;
  /** The evaluator Lambda's memory the Lambda figure is for. */
  evaluatorMemoryMb?: number;
  lambdaUsd: number;
  dynamoOnDemandUsd: number;
  dynamoProvisionedUsd: number;
  snsUsd: number;
  /** The KMS key, the alarms, the dashboard, the custom metrics and the evaluator's log ingestion. */
  monitoringUsd?: number;
  totalOnDemandUsd: number;
  totalProvisionedUsd: number;
}

/**
 * Each minute two invocations overlap until the older sees that the newer has watched every lease for a
 * whole window: a window, a round and one look at who evaluates (OWNER_CHECK_MS) later. Counted at that most.
 */
const EVALUATOR_SECONDS_PER_MONTH =
  SECONDS_PER_MONTH * (1 + (leaseWindowMs(DEFAULT_CLUSTER_POLICY) + EVALUATION_PERIOD_MS + OWNER_CHECK_MS) / 60_000);

/** What monitoring the deployment costs a month: the fixed resources, the metrics and the log ingestion. */
export function monitoringCost(clusters: number): number {
  const minutes = HOURS_PER_MONTH * 60;
  const metrics = metricsAtRest(clusters);
  const logBytes = metrics * EMF_BYTES_PER_SERIES * minutes + LOG_BYTES_PER_INVOCATION * minutes;
  return (
    STACK_MONITORING.kmsKeys * PRICES.kmsKeyPerMonth +
    STACK_MONITORING.alarms * PRICES.cloudwatchAlarmPerMonth +
    STACK_MONITORING.dashboards * PRICES.cloudwatchDashboardPerMonth +
    metrics * PRICES.cloudwatchMetricPerMonth +
    (logBytes / 1e9) * PRICES.cloudwatchLogsPerGbIngested
  );
}

/**
 * The evaluator runs all month (an invocation a minute, each looping for that minute and handing over to the
 * next within about a second), so its Lambda bill is its memory times the month and the overlaps; the memory
 * follows the number of clusters (infra/evaluator-sizing.ts). Provisioned capacity is rounded up to whole units per table, with
 * `headroom` on top of the steady load: a failing cluster's busiest second beyond its steady load. A table
 * provisioned for the steady load alone throttles in a failover, and a throttled lease renewal is a failed
 * one. On demand needs none (a new on-demand table serves 4,000 writes a second at once).
 */
export function monthlyCost(
  load: ClusterLoad,
  clusters: number,
  evaluatorMemoryMb: number,
  fixed: ClusterLoad = { writeUnitsPerSecond: 0, readUnitsPerSecond: 0 },
  headroom: ClusterLoad = { writeUnitsPerSecond: 0, readUnitsPerSecond: 0 },
): DeploymentCost {
  const lambdaUsd =
    (evaluatorMemoryMb / 1024) * EVALUATOR_SECONDS_PER_MONTH * PRICES.lambdaArmPerGbSecond +
    ((HOURS_PER_MONTH * 60) / 1e6) * PRICES.lambdaPerMillionRequests;
  const writes = fixed.writeUnitsPerSecond + load.writeUnitsPerSecond * clusters;
  const reads = fixed.readUnitsPerSecond + load.readUnitsPerSecond * clusters;
  const dynamoOnDemandUsd =
    writes * ON_DEMAND_MONTH_USD.perWriteUnitSecond + reads * ON_DEMAND_MONTH_USD.perReadUnitSecond;
  const dynamoProvisionedUsd =
    Math.ceil(writes + headroom.writeUnitsPerSecond) * PRICES.dynamoProvisionedPerWcuHour * HOURS_PER_MONTH +
    Math.ceil(reads + headroom.readUnitsPerSecond) * PRICES.dynamoProvisionedPerRcuHour * HOURS_PER_MONTH;
  // Notices only: a handful a day per cluster, well inside SNS's free million.
  const snsUsd = 0;
  const monitoringUsd = monitoringCost(clusters);
  const round = (usd: number) => Math.round(usd * 100) / 100;
  return {
    clusters,
    evaluatorMemoryMb,
    lambdaUsd: round(lambdaUsd),
    dynamoOnDemandUsd: round(dynamoOnDemandUsd),
    dynamoProvisionedUsd: round(dynamoProvisionedUsd),
    snsUsd,
    monitoringUsd: round(monitoringUsd),
    totalOnDemandUsd: round(lambdaUsd + dynamoOnDemandUsd + snsUsd + monitoringUsd),
    totalProvisionedUsd: round(lambdaUsd + dynamoProvisionedUsd + snsUsd + monitoringUsd),
  };
}

/** What the alternatives need on top of the database instances themselves, per month. */
export function alternativesCost(): { patroniEtcdUsd: number; rdsMultiAzPremiumUsd: number } {
  return {
    patroniEtcdUsd:
      Math.round(3 * (PRICES.etcdInstancePerHour * HOURS_PER_MONTH + 8 * PRICES.gp3PerGbMonth) * 100) / 100,
    rdsMultiAzPremiumUsd:
      Math.round((PRICES.rdsMultiAzPerHour - PRICES.rdsSingleAzPerHour) * HOURS_PER_MONTH * 100) / 100,
  };
}

/**
 * An item's size as DynamoDB counts it: attribute names plus values (strings in UTF-8, numbers about one
 * byte per two significant digits plus one, booleans and nulls one byte, lists and maps three bytes plus
 * one per element). Records are stored as they are shaped here (lib-dynamodb marshalling).
 */
export function dynamoItemSize(item: unknown): number {
  const valueSize = (value: unknown): number => {
    if (value === null || value === undefined || typeof value === 'boolean') return 1;
    if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
    if (typeof value === 'number') {
      const digits =
        String(Math.abs(value))
          .replace(/[.-]|e.*$/g, '')
          .replace(/^0+/, '').length || 1;
      return Math.ceil(digits / 2) + 1;
    }
    if (Array.isArray(value)) return 3 + value.reduce((sum: number, element) => sum + 1 + valueSize(element), 0);
    if (typeof value === 'object')
      return (
        3 +
        Object.entries(value).reduce(
          (sum, [name, element]) =>
            element === undefined ? sum : sum + 1 + Buffer.byteLength(name) + valueSize(element),
          0,
        )
      );
    return 0;
  };
  if (typeof item !== 'object' || item === null) return valueSize(item);
  // Top-level attributes carry no map overhead.
  return Object.entries(item).reduce(
    (sum, [name, value]) => (value === undefined ? sum : sum + Buffer.byteLength(name) + valueSize(value)),
    0,
  );
}

/** DynamoDB's capacity units for one request on an item (or a Query's items) of `bytes`. */
export function writeUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / 1024));
}

export function consistentReadUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / 4096));
}

/** An eventually consistent read costs half a consistent one. */
export function eventualReadUnits(bytes: number): number {
  return consistentReadUnits(bytes) / 2;
}
