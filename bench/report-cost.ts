// The benchmark report's bill: the monthly cost table for 1, 10 and 100 clusters against the goals, and what
// the goals would take (slower lease renewals, and what that does to a node-crash failover).

import {
  HOURS_PER_MONTH,
  metricsAtRest,
  ON_DEMAND_MONTH_USD,
  PRICES,
  STACK_MONITORING,
  type DeploymentCost,
} from './cost.ts';
import type { RunResult } from './run.ts';
import { caseSummary, COST_GOAL, fmt, GOALS, type BenchResults } from './report.ts';
import { DEFAULT_CLUSTER_POLICY } from '../core/records.ts';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, LEASE_RENEW_INTERVAL_MS } from '../core/lease-timing.ts';
import { EVALUATION_PERIOD_MS } from '../lambdas/evaluator/evaluator.ts';

/**
 * The same blips ridden out with renewals `renewalsPerSecond` a second instead of the defaults': the lease
 * grows by as much as the renewal interval. A crash lands anywhere in an interval after the last renewal, so
 * the median moves by half the growth and the p95 by nearly all of it.
 */
function slowerRenewals(renewalsPerSecond: number, medianMs: number, p95Ms: number): string[] {
  const longerMs = 1000 / renewalsPerSecond - LEASE_RENEW_INTERVAL_MS;
  const p95GoalMs = GOALS['kill-primary-node']?.p95Ms ?? 4000;
  const medianGoalMs = GOALS['kill-primary-node']?.medianMs ?? 3000;
  const slowerMedianMs = medianMs + longerMs / 2;
  const slowerP95Ms = p95Ms + longerMs * 0.95;
  const missed = [
    slowerMedianMs > medianGoalMs ? `the ${fmt(medianGoalMs)} median goal` : '',
    slowerP95Ms > p95GoalMs ? `the ${fmt(p95GoalMs)} p95 goal` : '',
  ].filter(Boolean);
  return [
    `Renewing every ${fmt(LEASE_RENEW_INTERVAL_MS + longerMs)} would meet it; to ride out the same blips the lease would grow to`,
    `${fmt(DEFAULT_CLUSTER_POLICY.leaseDurationMs + longerMs)}, and a node crash would take about ${fmt(slowerMedianMs)} (median) and`,
    `${fmt(slowerP95Ms)} (p95) instead of ${fmt(medianMs)} and ${fmt(p95Ms)}${missed.length ? `, past ${missed.join(' and ')}` : ''}:`,
    'the defaults keep the faster failover.',
  ];
}

/**
 * The first cluster against its goal, on demand (no failover headroom to pay for): the evaluator's Lambda runs
 * all month whatever the load, and the rest is the cluster's requests, mostly its writes.
 */
export function firstClusterTradeOff(results: BenchResults, crash: readonly RunResult[]): string[] {
  const cost = results.cost;
  const rates = results.modes.find((mode) => mode.storeRates)?.storeRates;
  const { medianMs, p95Ms } = caseSummary(crash);
  if (!cost || !rates || medianMs === null || p95Ms === null) return [];
  const first = cost.first;
  const met = Math.min(first.totalOnDemandUsd, first.totalProvisionedUsd) <= COST_GOAL.firstUsd;
  const { perWriteUnitSecond: writeUsd, perReadUnitSecond: readUsd } = ON_DEMAND_MONTH_USD;
  const renewalsPerSecond = 1000 / LEASE_RENEW_INTERVAL_MS;
  const readsUsd = (rates.fixed.readUnitsPerSecond + rates.load.readUnitsPerSecond) * readUsd;
  const otherWrites = rates.load.writeUnitsPerSecond - renewalsPerSecond;
  const monitoringUsd = first.monitoringUsd ?? 0;
  const neededRenewals = (COST_GOAL.firstUsd - first.lambdaUsd - monitoringUsd - readsUsd) / writeUsd - otherWrites;
  const lines = [
    `The first cluster costs $${first.totalOnDemandUsd} a month on demand against the $${COST_GOAL.firstUsd} goal: the evaluator's`,
    `Lambda, running all month to look every ${fmt(EVALUATION_PERIOD_MS)}, is $${first.lambdaUsd} of it whatever the load, the reads`,
    `$${readsUsd.toFixed(2)}, the lease renewals $${(renewalsPerSecond * writeUsd).toFixed(2)} and the heartbeats (every ${fmt(DEFAULT_HEARTBEAT_INTERVAL_MS)} from each`,
    `node) $${(otherWrites * writeUsd).toFixed(2)}, and the monitoring (the topics' KMS key, ${STACK_MONITORING.alarms} alarms, the dashboard,`,
    `${metricsAtRest(1)} custom metrics and the evaluator's logs) $${monitoringUsd.toFixed(2)}.`,
  ];
  if (met) return lines;
  if (neededRenewals <= 0) return [...lines, 'Even a primary that never renewed would not meet it.'];
  return [...lines, ...slowerRenewals(neededRenewals, medianMs, p95Ms)];
}

/**
 * The cost of a further cluster against its goal: the lease renewals are its largest part, and renewing less
 * often, at the same blip tolerance, lengthens the lease and with it a node-crash failover.
 */
export function costTradeOff(results: BenchResults, crash: readonly RunResult[]): string[] {
  const cost = results.cost;
  const { medianMs, p95Ms } = caseSummary(crash);
  if (!cost || cost.marginalProvisionedUsd <= COST_GOAL.furtherUsd || medianMs === null || p95Ms === null) return [];
  const writeUnitMonthUsd = PRICES.dynamoProvisionedPerWcuHour * HOURS_PER_MONTH;
  const renewalsPerSecond = 1000 / LEASE_RENEW_INTERVAL_MS;
  const neededRenewals = renewalsPerSecond - (cost.marginalProvisionedUsd - COST_GOAL.furtherUsd) / writeUnitMonthUsd;
  const lines = [
    `Each further cluster costs $${cost.marginalProvisionedUsd} a month (provisioned) against the $${COST_GOAL.furtherUsd} goal; its lease renewals,`,
    `${renewalsPerSecond} writes a second, are $${(renewalsPerSecond * writeUnitMonthUsd).toFixed(2)} of it.`,
  ];
  if (neededRenewals <= 0) return [...lines, 'Even a primary that never renewed would not meet it.'];
  return [...lines, ...slowerRenewals(neededRenewals, medianMs, p95Ms)];
}

/** The "Monthly cost" section: the prices, the headroom, the table and the goals. */
export function costSection(results: BenchResults): string[] {
  if (!results.cost) return [];
  const lines: string[] = [];
  const { first, ten } = results.cost;
  lines.push('', '## Monthly cost', '');
  lines.push(
    `List prices read ${String(results.prices.readOn)}: ${Object.entries(results.prices)
      .filter(([key]) => key !== 'readOn')
      .map(([key, value]) => `${key} ${value}`)
      .join(', ')}.`,
    '',
  );
  const headroom = results.cost.headroom;
  if (headroom)
    lines.push(
      `Provisioned capacity is the steady load plus headroom for one failing cluster: its busiest second during the failover runs and trials was ${headroom.writeUnitsPerSecond} writes and ${headroom.readUnitsPerSecond} reads above its steady load. ` +
        'A table provisioned for the steady load alone throttles in a failover, and a throttled lease renewal is a failed one; ' +
        'clusters that may fail together (one Availability Zone) need that headroom each. On demand needs none.',
      '',
    );
  lines.push(
    '| Deployment | Lambda | DynamoDB on-demand | DynamoDB provisioned | SNS | Monitoring | Total (on-demand) | Total (provisioned) |',
  );
  lines.push(
    '| ---------- | -----: | -----------------: | -------------------: | --: | ---------: | ----------------: | ------------------: |',
  );
  for (const cost of [first, ten, results.cost.hundred].filter((entry): entry is DeploymentCost => !!entry))
    lines.push(
      `| ${cost.clusters} cluster(s) | $${cost.lambdaUsd}${cost.evaluatorMemoryMb ? ` (${cost.evaluatorMemoryMb} MB)` : ''} | $${cost.dynamoOnDemandUsd} | $${cost.dynamoProvisionedUsd} | $${cost.snsUsd} | $${cost.monitoringUsd ?? 0} | $${cost.totalOnDemandUsd} | $${cost.totalProvisionedUsd} |`,
    );
  lines.push(
    '',
    `Each further cluster up to ten: $${results.cost.marginalOnDemandUsd} on-demand, $${results.cost.marginalProvisionedUsd} provisioned (DynamoDB and ${metricsAtRest(2) - metricsAtRest(1)} custom metrics: the evaluator's smallest Lambda serves them)` +
      (results.cost.marginalProvisionedPast10Usd !== undefined
        ? `; from ten to a hundred, $${results.cost.marginalProvisionedPast10Usd} provisioned, the evaluator's larger memory (its CPU share, infra/evaluator-sizing.ts) included.`
        : '.'),
    `Goal: at most $${COST_GOAL.firstUsd} a month for the first cluster and $${COST_GOAL.furtherUsd} for each further one, on the cheaper capacity mode: first cluster ${Math.min(first.totalOnDemandUsd, first.totalProvisionedUsd) <= COST_GOAL.firstUsd ? 'met' : 'NOT met'}, each further one ${Math.min(results.cost.marginalOnDemandUsd, results.cost.marginalProvisionedUsd) <= COST_GOAL.furtherUsd ? 'met' : 'NOT met'}.`,
    `Alternatives, on top of the database instances: Patroni's etcd on three t4g.small instances $${results.alternatives.patroniEtcdUsd}; RDS Multi-AZ's premium over Single-AZ for db.m6g.large $${results.alternatives.rdsMultiAzPremiumUsd}.`,
  );
  return lines;
}
