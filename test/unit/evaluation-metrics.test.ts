// The evaluator's metrics: a minute's maxima and counts per series, written as Embedded Metric Format.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { gatherFacts } from '../../core/decide.ts';
import { MetricsBuffer, PowertoolsEvaluationMetrics } from '../../lambdas/evaluator/evaluation-metrics.ts';
import { freshObservations, healthySnapshot, NOW_MS } from '../support/fixtures.ts';
import { EMF_BYTES_PER_SERIES, metricsAtRest } from '../../bench/cost.ts';

function facts(silentDb3Ms = 0) {
  const snapshot = healthySnapshot();
  const observations = freshObservations(snapshot);
  const seen = observations.nodes.db3;
  if (seen) seen.changedAtMonoMs = NOW_MS - silentDb3Ms;
  return gatherFacts({ ...snapshot, observations }, { wallMs: NOW_MS, monoMs: NOW_MS });
}

afterEach(() => vi.restoreAllMocks());

describe('evaluation metrics', () => {
  it('keeps the worst heartbeat age per node, counts decisions by rule, and the silent agents', () => {
    // Prepare
    const buffer = new MetricsBuffer();
    // Act
    buffer.observe(facts(1200), 'primary-healthy');
    buffer.observe(facts(9000), 'primary-healthy');
    buffer.roleChangeCompleted('prod', 'failover', 2300);
    buffer.storeError();
    buffer.roundCompleted();
    buffer.roundCompleted();
    const series = buffer.drain();
    // Assess
    const find = (name: string, dimensions: Record<string, string>) =>
      series.find((s) => s.name === name && JSON.stringify(s.dimensions) === JSON.stringify(dimensions))?.value;
    expect(find('HeartbeatAgeMs', { cluster: 'prod', node: 'db3' })).toBe(9000);
    expect(find('Decisions', { cluster: 'prod', rule: 'primary-healthy' })).toBe(2);
    expect(find('SilentAgents', {})).toBe(1);
    expect(find('FailoverDurationMs', { cluster: 'prod' })).toBe(2300);
    expect(find('StoreErrors', {})).toBe(1);
    expect(find('EvaluationRounds', {})).toBe(2);
    expect(find('ReplicationLagBytes', { cluster: 'prod', node: 'db2' })).toBe(0);
    expect(buffer.drain()).toEqual([]);
  });

  it('writes one EMF document per series, in namespace pgfailover', () => {
    // Prepare
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((line: unknown) => void lines.push(String(line)));
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => (lines.push(String(chunk)), true));
    const metrics = new PowertoolsEvaluationMetrics();
    // Act
    metrics.roleChangeCompleted('prod', 'switchover', 800);
    metrics.flush();
    // Assess
    const documents = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(documents).toHaveLength(1);
    expect(documents[0]).toMatchObject({
      _aws: {
        CloudWatchMetrics: [
          { Namespace: 'pgfailover', Metrics: [{ Name: 'SwitchoverDurationMs', Unit: 'Milliseconds' }] },
        ],
      },
      cluster: 'prod',
      service: 'evaluator',
      SwitchoverDurationMs: 800,
    });
  });

  it('writes as many series, and as many bytes, at rest as the cost model bills (bench/cost.ts)', () => {
    // Prepare: a minute of a healthy three-node cluster, as the evaluator flushes it.
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((line: unknown) => void lines.push(String(line)));
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => (lines.push(String(chunk)), true));
    const metrics = new PowertoolsEvaluationMetrics();
    // Act
    for (let round = 0; round < 250; round++) {
      metrics.observe(facts(), 'primary-healthy');
      metrics.roundCompleted();
    }
    metrics.flush();
    // Assess: one document per series, each within the bytes the model counts.
    expect(lines).toHaveLength(metricsAtRest(1));
    expect(Math.max(...lines.map((line) => Buffer.byteLength(line)))).toBeLessThanOrEqual(EMF_BYTES_PER_SERIES);
  });
});
