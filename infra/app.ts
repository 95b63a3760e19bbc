// The ready CDK app (`npx cdk synth`, `npx cdk deploy`), configured by context:
//   npx cdk deploy -c clusters=prod,reporting -c alertEmails=dba@example.com \
//     -c addressModes=eip -c slackWebhookSecretArn=arn:aws:secretsmanager:...
// See docs/deploy.md.

import { App, Aspects, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { PgFailover, type AddressMode, type PgFailoverProps } from './pgfailover.ts';

export class PgFailoverStack extends Stack {
  readonly pgfailover: PgFailover;

  constructor(scope: Construct, id: string, props: StackProps & { pgfailover: PgFailoverProps }) {
    super(scope, id, props);
    const deployment = new PgFailover(this, 'PgFailover', props.pgfailover);
    this.pgfailover = deployment;
    new CfnOutput(this, 'StateTableName', {
      value: deployment.table.tableName,
      description: 'store.table in every agent config; --table for the CLI',
    });
    new CfnOutput(this, 'AlertsTopicArn', { value: deployment.topic.topicArn });
    new CfnOutput(this, 'EvaluatorFunction', { value: deployment.evaluator.functionName });
    new CfnOutput(this, 'SwitchoverFunction', { value: deployment.switchover.functionName });
    for (const [cluster, policy] of Object.entries(deployment.agentPolicies)) {
      new CfnOutput(this, `AgentPolicy${cluster.replace(/[^A-Za-z0-9]/g, '')}`, {
        value: policy.managedPolicyArn,
        description: `attach to the instance role of cluster ${cluster}'s hosts`,
      });
    }
  }
}

const list = (value: unknown): string[] =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean)
    : [];

const app = new App();
// cdk-nag's AwsSolutions rules run on every synth: an unexplained finding fails it.
Aspects.of(app).add(new AwsSolutionsChecks());
const context = (key: string): unknown => app.node.tryGetContext(key);
const modes = list(context('addressModes'));
const unknownModes = modes.filter((mode) => !['eip', 'secondary-ip', 'route-table'].includes(mode));
if (unknownModes.length > 0)
  throw new Error(`addressModes: unknown mode(s) ${unknownModes.join(', ')}; use eip, secondary-ip or route-table`);
new PgFailoverStack(app, 'PgFailover', {
  pgfailover: {
    clusters: list(context('clusters')).length > 0 ? list(context('clusters')) : ['prod'],
    alertEmails: list(context('alertEmails')),
    slackWebhookSecretArn:
      typeof context('slackWebhookSecretArn') === 'string' ? (context('slackWebhookSecretArn') as string) : undefined,
    addressModes: modes as AddressMode[],
    ec2StopFencing: context('ec2StopFencing') === true || context('ec2StopFencing') === 'true',
    tableName: typeof context('tableName') === 'string' ? (context('tableName') as string) : undefined,
  },
});
