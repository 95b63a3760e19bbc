// The switchover Lambda: a planned role change started from the AWS console (Test event or a button on
// the dashboard) with {"cluster": "prod", "to": "db2", "requestedBy": "alice"}. It validates and records the
// request; the evaluator carries it out. Bad input gets an answer that says what is wrong, and changes nothing.
// A function cannot see who invoked it, so the person names themselves, and the history keeps the Lambda
// request id beside the name: CloudTrail's Invoke data event with that id names the IAM caller.

import { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { describeIssues, clusterNameSchema, nodeIdSchema } from '../../core/records.ts';
import type { StateStore } from '../../core/state-store.ts';
import { requestSwitchover } from '../../core/role-change-request.ts';

const requestSchema = z.strictObject({
  cluster: clusterNameSchema,
  to: nodeIdSchema,
  requestedBy: z.string().trim().min(1).max(100),
});

const EXPECTED = '{"cluster": "NAME", "to": "NODE", "requestedBy": "who is asking"}';

export function createSwitchoverHandler(deps: { store: StateStore; clock: Clock }) {
  return async (event: unknown, context: { awsRequestId: string }): Promise<{ accepted: boolean; message: string }> => {
    const parsed = requestSchema.safeParse(event);
    if (!parsed.success)
      return {
        accepted: false,
        message: `expected ${EXPECTED}: ${describeIssues(parsed.error).join('; ')}`,
      };
    const { cluster, to, requestedBy } = parsed.data;
    try {
      await requestSwitchover(
        deps.store,
        cluster,
        to,
        `${requestedBy} (console, Lambda request ${context.awsRequestId})`,
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
