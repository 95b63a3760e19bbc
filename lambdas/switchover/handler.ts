// The switchover Lambda: a planned role change started from the AWS console (Test event or a button on
// the dashboard) with {"cluster": "prod", "to": "db2"}. It validates and records the request; the
// evaluator carries it out. Bad input gets an answer that says what is wrong, and changes nothing.

import { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { describeIssues, clusterNameSchema, nodeIdSchema } from '../../core/records.ts';
import type { StateStore } from '../../core/state-store.ts';
import { requestSwitchover } from '../../core/role-change-request.ts';

const requestSchema = z.strictObject({
  cluster: clusterNameSchema,
  to: nodeIdSchema,
  requestedBy: z.string().min(1).optional(),
});

export function createSwitchoverHandler(deps: { store: StateStore; clock: Clock }) {
  return async (event: unknown, context: { awsRequestId: string }): Promise<{ accepted: boolean; message: string }> => {
    const parsed = requestSchema.safeParse(event);
    if (!parsed.success)
      return {
        accepted: false,
        message: `expected {"cluster": "NAME", "to": "NODE"}: ${describeIssues(parsed.error).join('; ')}`,
      };
    const { cluster, to, requestedBy } = parsed.data;
    try {
      await requestSwitchover(
        deps.store,
        cluster,
        to,
        requestedBy ?? `switchover-lambda:${context.awsRequestId}`,
        deps.clock,
      );
    } catch (error) {
      return { accepted: false, message: error instanceof Error ? error.message : String(error) };
    }
    return {
      accepted: true,
      message: `switchover of ${cluster} to ${to} recorded; follow it with pgfailover history --cluster ${cluster}`,
    };
  };
}
