// The managed policies for people: operators on call (cluster-status, history, the dashboard and a
// switchover from the console) and administrators (the CLI). Each grants what its job needs in the AWS
// console as well as from the command line, and nothing that changes the cluster beyond that.

import type { Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { ManagedPolicy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';

export function operatorPolicy(
  scope: Construct,
  parts: { table: ITable; switchover: IFunction; dashboard: Dashboard },
): ManagedPolicy {
  const policy = new ManagedPolicy(scope, 'OperatorPolicy', {
    description:
      'pgfailover operators: cluster-status and history (read-only on the state table), the dashboard, and a switchover through the switchover function, from the CLI or the console',
    statements: [
      new PolicyStatement({
        sid: 'ReadClusterState',
        actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:DescribeTable'],
        resources: [parts.table.tableArn],
      }),
      new PolicyStatement({
        sid: 'RequestSwitchover',
        actions: ['lambda:InvokeFunction'],
        resources: [parts.switchover.functionArn],
      }),
      // The console's function page and its Test tab read the function before they invoke it.
      new PolicyStatement({
        sid: 'SwitchoverInConsole',
        actions: [
          'lambda:GetFunction',
          'lambda:GetFunctionConfiguration',
          'lambda:GetPolicy',
          'lambda:ListAliases',
          'lambda:ListVersionsByFunction',
          'lambda:ListTags',
        ],
        resources: [parts.switchover.functionArn],
      }),
      new PolicyStatement({
        sid: 'ReadDashboard',
        actions: ['cloudwatch:GetDashboard'],
        resources: [parts.dashboard.dashboardArn],
      }),
      // These actions have no resource-level permissions: the console lists functions and dashboards, and the
      // dashboard's graphs read metrics and alarms. All read-only.
      new PolicyStatement({
        sid: 'ConsoleLists',
        actions: [
          'lambda:ListFunctions',
          'lambda:GetAccountSettings',
          'cloudwatch:ListDashboards',
          'cloudwatch:GetMetricData',
          'cloudwatch:ListMetrics',
          'cloudwatch:DescribeAlarms',
        ],
        resources: ['*'],
      }),
    ],
  });
  NagSuppressions.addResourceSuppressions(policy, [
    {
      id: 'AwsSolutions-IAM5',
      reason:
        'lambda:ListFunctions, lambda:GetAccountSettings, cloudwatch:ListDashboards, GetMetricData, ListMetrics and DescribeAlarms support no resource-level permissions; all are read-only, for the console.',
      appliesTo: ['Resource::*'],
    },
  ]);
  return policy;
}

export function administratorPolicy(scope: Construct, table: ITable): ManagedPolicy {
  return new ManagedPolicy(scope, 'AdministratorPolicy', {
    description:
      'pgfailover administrators: the CLI (init, allow-node, remove-node, set-priority, pause, resume, set-policy, promote, switchover, cluster-status, history) on the state table',
    statements: [
      new PolicyStatement({
        sid: 'AdministerClusters',
        // Scan: the cluster list of a table from before the index is built once from a Scan.
        actions: [
          'dynamodb:GetItem',
          'dynamodb:Query',
          'dynamodb:Scan',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
          'dynamodb:DescribeTable',
        ],
        resources: [table.tableArn],
      }),
    ],
  });
}
