// The ready CDK app (`npx cdk synth`, `npx cdk deploy`), configured by the checked-in
// pgfailover.config.json (or -c config=PATH), validated by infra/deployment-config.ts. See docs/deploy.md.

import { App, Aspects, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { contextProblem, loadDeploymentConfig } from './deployment-config.ts';
import { PgFailover, type PgFailoverProps } from './pgfailover.ts';

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
    new CfnOutput(this, 'OperatorPolicy', {
      value: deployment.operatorPolicy.managedPolicyArn,
      description: 'attach to on-call people: cluster-status, history and a console switchover',
    });
    new CfnOutput(this, 'AdministratorPolicy', {
      value: deployment.administratorPolicy.managedPolicyArn,
      description: 'attach to the people who run the administrative CLI (init, allow-node, pause, promote, ...)',
    });
    new CfnOutput(this, 'AgentPolicy', {
      value: deployment.agentPolicy.managedPolicyArn,
      description: "attach to every database host's instance role, tagged pgfailover:cluster=CLUSTER",
    });
  }
}

const app = new App();
// cdk-nag's AwsSolutions rules run on every synth: an unexplained finding fails it.
Aspects.of(app).add(new AwsSolutionsChecks());
const problem = contextProblem(app.node.getAllContext() as Record<string, unknown>);
if (problem) throw new Error(problem);
const configPath = app.node.tryGetContext('config');
const config = loadDeploymentConfig(typeof configPath === 'string' ? configPath : 'pgfailover.config.json');
new PgFailoverStack(app, 'PgFailover', { pgfailover: config });
