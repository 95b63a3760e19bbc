// The evaluator Lambda: wiring only. The schedule invokes it every minute; each invocation evaluates every
// cluster about once a second until shortly before its own timeout, so detection is counted in seconds.

import { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import { systemClock } from '../../core/clock.ts';
import type { Notice } from '../../core/notices.ts';
import { noAddressMover, type AddressMover, type Notifier } from '../../core/ports.ts';
import type { ClusterRecord } from '../../core/records.ts';
import { StateStore } from '../../core/state-store.ts';
import { Evaluator } from './evaluator.ts';

export interface LambdaContext {
  awsRequestId: string;
  getRemainingTimeInMillis(): number;
}

/** Stop this long before the Lambda's own timeout, so the last round always finishes. */
const SAFETY_MS = 5000;

/** Until the SNS notifier is deployed, notices go to the function's log (CloudWatch). */
function logNotifier(logger: Logger): Notifier {
  return {
    async notify(cluster: string, notice: Notice) {
      const log = notice.severity === 'SEVERE' ? logger.error.bind(logger) : notice.severity === 'WARNING' ? logger.warn.bind(logger) : logger.info.bind(logger);
      log(notice.subject, { cluster, event: notice.event, severity: notice.severity, body: notice.body });
    },
  };
}

function moverFor(cluster: ClusterRecord): AddressMover {
  if (cluster.address.mode === 'none') return noAddressMover;
  return {
    async moveTo() {
      throw new Error(`address mode "${cluster.address.mode}" has no mover in this deployment; set the cluster's address mode to "none" or deploy a version with the AWS movers`);
    },
  };
}

export function createHandler(env: NodeJS.ProcessEnv) {
  const table = env.TABLE_NAME;
  if (!table) throw new Error('TABLE_NAME is not set: the evaluator needs the state table name');
  const logLevel = z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']).catch('INFO').parse(env.LOG_LEVEL);
  const logger = new Logger({ serviceName: 'pgfailover-evaluator', logLevel });
  const store = StateStore.connect({ table, region: env.AWS_REGION, endpoint: env.PGFAILOVER_STORE_ENDPOINT });
  const periodMs = Number(env.EVALUATION_PERIOD_MS ?? 1000);
  return async (_event: unknown, context: LambdaContext): Promise<{ rounds: number }> => {
    const evaluator = new Evaluator({ store, moverFor, notifier: logNotifier(logger), clock: systemClock, logger, actor: `evaluator:${context.awsRequestId}` });
    const deadlineMs = systemClock.nowMs() + context.getRemainingTimeInMillis() - SAFETY_MS;
    return { rounds: await evaluator.runUntil(deadlineMs, periodMs) };
  };
}
