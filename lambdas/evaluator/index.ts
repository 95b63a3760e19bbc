// The evaluator Lambda's entry point (what the CDK stack bundles): wiring from the environment only.
import { createHandler } from './handler.ts';

export const handler = createHandler(process.env);
