// What the evaluator measures, per cluster, for CloudWatch: heartbeat age per node, replication lag per
// standby, decisions by rule, role-change durations, state-table errors. Kept as a minute's maxima and
// counts and written once a minute in Embedded Metric Format (Powertools Metrics): one log line per
// series per minute, not per round, so a thousand clusters stay cheap to watch.

import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];
import { FAILOVER_RULE_IDS, type Facts, type RuleId } from '../../core/decide.ts';
import { lsnLagBytes, standbyPosition } from '../../core/lsn.ts';

export interface EvaluationMetrics {
  /** After a decision was taken (written or not) on `facts`. */
  observe(facts: Facts, rule: RuleId): void;
  /** A role change that completed: its duration from the decision to completion. */
  roleChangeCompleted(cluster: string, kind: 'failover' | 'switchover', durationMs: number): void;
  storeError(): void;
  /** A round over every cluster completed: the alarm "not evaluating" counts these. */
  roundCompleted(): void;
  /** Writes what was gathered since the last flush. */
  flush(): void;
}

export const noMetrics: EvaluationMetrics = {
  observe: () => undefined,
  roleChangeCompleted: () => undefined,
  storeError: () => undefined,
  roundCompleted: () => undefined,
  flush: () => undefined,
};

type Series = {
  name: string;
  unit: Unit;
  dimensions: Record<string, string>;
  value: number;
  kind: 'max' | 'sum';
};

/** The aggregation, separate from where it is written so that it can be tested as data. */
export class MetricsBuffer {
  private readonly series = new Map<string, Series>();

  private put(name: string, unit: Unit, dimensions: Record<string, string>, value: number, kind: 'max' | 'sum') {
    const key = `${name}|${JSON.stringify(dimensions)}`;
    const current = this.series.get(key);
    if (!current) this.series.set(key, { name, unit, dimensions, value, kind });
    else current.value = kind === 'max' ? Math.max(current.value, value) : current.value + value;
  }

  observe(facts: Facts, rule: RuleId): void {
    const cluster = facts.cluster.cluster;
    this.put('Decisions', MetricUnit.Count, { cluster, rule }, 1, 'sum');
    const primaryLsn = facts.primary?.heartbeat?.currentLsn ?? null;
    let silent = 0;
    for (const node of facts.nodes) {
      const nodeId = node.node.nodeId;
      if (node.silentForMs !== null)
        this.put('HeartbeatAgeMs', MetricUnit.Milliseconds, { cluster, node: nodeId }, node.silentForMs, 'max');
      if (!node.live) silent++;
      const beat = node.heartbeat;
      const position =
        beat && beat.agentType === 'standby' ? standbyPosition(beat.receivedLsn, beat.replayedLsn) : null;
      if (primaryLsn && position)
        this.put(
          'ReplicationLagBytes',
          MetricUnit.Bytes,
          { cluster, node: nodeId },
          lsnLagBytes(primaryLsn, position),
          'max',
        );
    }
    // Across clusters, for the alarms: how many agents are silent, the worst minute's worth.
    this.put('SilentAgents', MetricUnit.Count, {}, silent, 'max');
    if (FAILOVER_RULE_IDS.has(rule)) this.put('Failovers', MetricUnit.Count, {}, 1, 'sum');
  }

  roleChangeCompleted(cluster: string, kind: 'failover' | 'switchover', durationMs: number): void {
    const name = kind === 'failover' ? 'FailoverDurationMs' : 'SwitchoverDurationMs';
    this.put(name, MetricUnit.Milliseconds, { cluster }, durationMs, 'max');
  }

  storeError(): void {
    this.put('StoreErrors', MetricUnit.Count, {}, 1, 'sum');
  }

  roundCompleted(): void {
    this.put('EvaluationRounds', MetricUnit.Count, {}, 1, 'sum');
  }

  drain(): Series[] {
    const all = [...this.series.values()];
    this.series.clear();
    return all;
  }
}

/** Powertools Metrics: one EMF document per series, in namespace "pgfailover". */
export class PowertoolsEvaluationMetrics implements EvaluationMetrics {
  private readonly buffer = new MetricsBuffer();

  constructor(private readonly metrics = new Metrics({ namespace: 'pgfailover', serviceName: 'evaluator' })) {}

  observe(facts: Facts, rule: RuleId): void {
    this.buffer.observe(facts, rule);
  }

  roleChangeCompleted(cluster: string, kind: 'failover' | 'switchover', durationMs: number): void {
    this.buffer.roleChangeCompleted(cluster, kind, durationMs);
  }

  storeError(): void {
    this.buffer.storeError();
  }

  roundCompleted(): void {
    this.buffer.roundCompleted();
  }

  flush(): void {
    for (const series of this.buffer.drain()) {
      const single = this.metrics.singleMetric();
      if (Object.keys(series.dimensions).length > 0) single.addDimensions(series.dimensions);
      single.addMetric(series.name, series.unit, series.value);
      single.publishStoredMetrics();
    }
  }
}
