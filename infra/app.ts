// The ready CDK app (`npx cdk synth`, `npx cdk deploy`). Today it deploys the state table that the
// agents, the CLI and the evaluator share; the Lambdas, alerts and address movers join it next.

import { App, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { PgFailoverStateTable } from './state-table.ts';

export class PgFailoverStack extends Stack {
  constructor(scope: Construct, id: string, props: StackProps & { tableName?: string } = {}) {
    super(scope, id, props);
    const state = new PgFailoverStateTable(this, 'State', { tableName: props.tableName });
    new CfnOutput(this, 'StateTableName', { value: state.table.tableName, description: 'store.table in every agent config; --table for the CLI' });
  }
}

const app = new App();
const tableName: unknown = app.node.tryGetContext('tableName');
new PgFailoverStack(app, 'PgFailover', { tableName: typeof tableName === 'string' ? tableName : undefined });
