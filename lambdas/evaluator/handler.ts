// The evaluator Lambda: wiring only. The schedule invokes it every minute; each invocation evaluates every
// cluster about once a second until shortly before its own timeout, so detection is counted in seconds.

import { Ec2InstanceStopper } from '../adapters/ec2-instance-stopper.ts';
import { ClusterTagCheck } from '../adapters/cluster-tag-check.ts';
import { Logger } from '@aws-lambda-powertools/logger';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { systemClock } from '../../core/clock.ts';
import type { Notice } from '../../core/notices.ts';
import { noAddressMover, type AddressMover, type Notifier } from '../../core/ports.ts';
import type { ClusterRecord } from '../../core/records.ts';
import { StateStore } from '../../core/state-store.ts';
import { ElasticIpMover, RouteTableMover, SecondaryIpMover } from '../adapters/ec2-address-movers.ts';
import { SnsNotifier } from '../adapters/sns-notifier.ts';
import { PowertoolsEvaluationMetrics } from './evaluation-metrics.ts';
import { EVALUATION_PERIOD_MS, Evaluator } from './evaluator.ts';

export interface LambdaContext {
  awsRequestId: string;
  getRemainingTimeInMillis(): number;
}

/** Stop this long before the Lambda's own timeout, so the last round always finishes. */
const SAFETY_MS = 5000;

/** Notices to the function's log (CloudWatch), when no SNS topic is configured. */
function logNotifier(logger: Logger): Notifier {
  return {
    async notify(cluster: string, notice: Notice) {
      const log =
        notice.severity === 'SEVERE'
          ? logger.error.bind(logger)
          : notice.severity === 'WARNING'
            ? logger.warn.bind(logger)
            : logger.info.bind(logger);
      log(notice.subject, { cluster, event: notice.event, severity: notice.severity, body: notice.body });
    },
  };
}

/** The mover for a cluster's address mode, from the settings in its cluster record. */
export function moverFor(ec2: EC2Client, cluster: ClusterRecord): AddressMover {
  const { address } = cluster;
  const missing = (what: string): AddressMover => ({
    async moveTo() {
      throw new Error(`cluster ${cluster.cluster}: address mode "${address.mode}" needs ${what} in its cluster record`);
    },
  });
  switch (address.mode) {
    case 'none':
      return noAddressMover;
    case 'eip':
      return address.allocationId
        ? new ElasticIpMover(ec2, address.allocationId)
        : missing('address.allocationId (eipalloc-...)');
    case 'secondary-ip':
      return address.value
        ? new SecondaryIpMover(ec2, address.value)
        : missing('address.value (the secondary private IP)');
    case 'route-table':
      return address.value && address.routeTableIds?.length
        ? new RouteTableMover(ec2, address.value, address.routeTableIds)
        : missing('address.value (the overlay IP) and address.routeTableIds');
    case 'local':
      return missing('the local mode: "local" addresses exist only under pgfailover local');
  }
}

export function createHandler(env: NodeJS.ProcessEnv) {
  const table = env.TABLE_NAME;
  if (!table) throw new Error('TABLE_NAME is not set: the evaluator needs the state table name');
  const logLevel = z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']).catch('INFO').parse(env.LOG_LEVEL);
  const logger = new Logger({ serviceName: 'pgfailover-evaluator', logLevel });
  const store = StateStore.connect({ table, region: env.AWS_REGION, endpoint: env.PGFAILOVER_STORE_ENDPOINT });
  const periodMs = Number(env.EVALUATION_PERIOD_MS ?? EVALUATION_PERIOD_MS);
  const ec2 = new EC2Client({ region: env.AWS_REGION });
  const tags = new ClusterTagCheck(ec2);
  // Without a topic (a stack deployed without alerts), notices still reach the function's log.
  const notifier = env.TOPIC_ARN
    ? new SnsNotifier(new SNSClient({ region: env.AWS_REGION }), env.TOPIC_ARN)
    : logNotifier(logger);
  const metrics = new PowertoolsEvaluationMetrics();
  return async (_event: unknown, context: LambdaContext): Promise<{ rounds: number }> => {
    const evaluator = new Evaluator({
      store,
      // Only onto, and only stopping, what is tagged as the cluster's own (the ids come from its hosts).
      moverFor: (cluster) =>
        cluster.address.mode === 'none' ? moverFor(ec2, cluster) : tags.guardMover(moverFor(ec2, cluster)),
      fencerFor: () => tags.guardFencer(new Ec2InstanceStopper(ec2)),
      notifier,
      clock: systemClock,
      logger,
      actor: `evaluator:${context.awsRequestId}`,
      metrics,
    });
    const deadlineMonoMs = systemClock.monotonicMs() + context.getRemainingTimeInMillis() - SAFETY_MS;
    return { rounds: await evaluator.runUntil(deadlineMonoMs, periodMs) };
  };
}
