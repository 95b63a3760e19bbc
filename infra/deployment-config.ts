// The deployment's own configuration, checked in beside the app (pgfailover.config.json, or the file named
// by -c config=PATH) and validated here, so a plain `cdk deploy` never means something nobody wrote down:
// no default cluster, and no alert recipients only when the file says so (alertEmails: []).

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { clusterNameSchema, describeIssues } from '../core/records.ts';
import { tableCapacityProblem } from './table-sizing.ts';

export const deploymentConfigSchema = z
  .strictObject({
    /** The clusters this deployment serves: one agent policy each. */
    clusters: z.array(clusterNameSchema).min(1, 'name at least one cluster'),
    /** Who receives WARNING and SEVERE notices and every alarm by e-mail; [] for nobody, said explicitly. */
    alertEmails: z.array(z.email('an e-mail address such as dba@example.com')),
    /** A Secrets Manager secret holding the Slack incoming-webhook URL. */
    slackWebhookSecretArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'a Secrets Manager secret ARN')
      .optional(),
    addressModes: z.array(z.enum(['eip', 'secondary-ip', 'route-table'])).default([]),
    ec2StopFencing: z.boolean().default(false),
    tableName: z.string().min(3).max(255).optional(),
    /**
     * The evaluator Lambda's memory, and with it its CPU share; unset: sized for the number of clusters
     * (infra/evaluator-sizing.ts: 128 MB up to ten clusters, one whole vCPU from about 140).
     */
    evaluatorMemoryMb: z
      .number()
      .int()
      .min(128, 'at least 128 MB (the evaluator needs about 90 MB)')
      .max(10_240, "at most 10240 MB, Lambda's largest")
      .optional(),
    /** Provisioned capacity for the state table (docs/benchmarks.md: the units per cluster); unset: on demand. */
    tableCapacity: z
      .strictObject({
        readUnits: z.number().int().min(1, 'at least 1 read unit').max(40_000),
        writeUnits: z.number().int().min(1, 'at least 1 write unit').max(40_000),
      })
      .optional(),
  })
  .superRefine((config, context) => {
    const problem = config.tableCapacity && tableCapacityProblem(config.tableCapacity, config.clusters.length);
    if (problem) context.addIssue({ code: 'custom', path: ['tableCapacity'], message: problem });
  });
export type DeploymentConfig = z.infer<typeof deploymentConfigSchema>;

export function loadDeploymentConfig(path: string): DeploymentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new Error(
      `${path} not found: create it with at least {"clusters": ["prod"], "alertEmails": ["dba@example.com"]} (alertEmails: [] for no e-mail), or name another file with -c config=PATH; docs/deploy.md`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path} is not JSON: ${(error as Error).message}`);
  }
  const parsed = deploymentConfigSchema.safeParse(raw);
  if (!parsed.success)
    throw new Error(`${path} is not a valid deployment config:\n  ${describeIssues(parsed.error).join('\n  ')}`);
  return parsed.data;
}

/**
 * Context keys this app reads: only `config`. CDK's own keys are namespaced (`aws:cdk:...`, `@aws-cdk/...`) or
 * are CLI settings; any other plain key is a setting someone expected to work (`-c ec2StopFencing=true`),
 * which would otherwise be ignored without a word.
 */
const OWN_CONTEXT_KEYS = new Set(['config']);
const CDK_CONTEXT_KEYS = new Set(['cli-telemetry', 'acknowledged-issue-numbers']);

/** Why the app's context cannot be used as given, or undefined. */
export function contextProblem(context: Record<string, unknown>): string | undefined {
  const unknown = Object.keys(context)
    .filter((key) => !OWN_CONTEXT_KEYS.has(key) && !CDK_CONTEXT_KEYS.has(key) && !/[:@/]/.test(key))
    .sort();
  if (unknown.length === 0) return undefined;
  return `unknown context ${unknown.length === 1 ? 'key' : 'keys'} ${unknown.map((key) => `"${key}"`).join(', ')}: this app reads only -c config=FILE; put ${unknown.join(', ')} in the deployment config file instead (pgfailover.config.json, docs/deploy.md)`;
}
