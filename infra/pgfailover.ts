// The pgfailover construct: everything a deployment needs, for use in your own stacks (infra/app.ts is
// a ready app around it). The state table, the evaluator on a one-minute schedule, the switchover
// function, the alerts topic with e-mail and Slack, alarms and a dashboard, and a managed policy per
// cluster for the agents' instance roles, confined to that cluster's partition of the table.

import { Duration, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Effect, ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { SubscriptionFilter, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription, LambdaSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { NagSuppressions } from 'cdk-nag';
import { administratorPolicy, operatorPolicy } from './people-policies.ts';
import { Construct } from 'constructs';
import { fileURLToPath } from 'node:url';
import { BUNDLE } from './bundle-options.ts';
import { evaluatorMemoryMb } from './evaluator-sizing.ts';
import { PgFailoverStateTable, type TableCapacity } from './state-table.ts';
import { tableCapacityProblem } from './table-sizing.ts';
import { CLUSTER_TAG } from '../core/cluster-tag.ts';

export type AddressMode = 'eip' | 'secondary-ip' | 'route-table';

export interface PgFailoverProps {
  /** Cluster names: one agent policy each. */
  clusters: string[];
  /** Receive WARNING and SEVERE notices by e-mail. */
  alertEmails?: string[];
  /** A Secrets Manager secret holding the Slack incoming-webhook URL: every notice goes to Slack. */
  slackWebhookSecretArn?: string;
  /** The address modes the clusters use: the evaluator gets EC2 permissions for these only. */
  addressModes?: AddressMode[];
  /**
   * Some cluster fences with "ec2-stop": the evaluator may stop (and describe) instances, but only those
   * tagged pgfailover:cluster (tag the database hosts).
   */
  ec2StopFencing?: boolean;
  /** Put the Lambdas in a VPC (needed only if they must reach something inside it). */
  vpc?: IVpc;
  vpcSubnets?: SubnetSelection;
  securityGroups?: ISecurityGroup[];
  tableName?: string;
  /** Provisioned read and write units for the state table; unset: on demand (infra/state-table.ts). */
  tableCapacity?: TableCapacity;
  /** The evaluator's memory (and CPU share); unset: sized for the number of clusters (infra/evaluator-sizing.ts). */
  evaluatorMemoryMb?: number;
}

/** What moves each mode's address: allowed only on resources tagged as some cluster's own. */
const EC2_MOVES: Record<AddressMode, string[]> = {
  eip: ['ec2:AssociateAddress'],
  'secondary-ip': ['ec2:AssignPrivateIpAddresses'],
  'route-table': ['ec2:ReplaceRoute', 'ec2:CreateRoute'],
};
/**
 * What each mode reads: where the address is, and the tags of the ENI (or instance) it would move to, checked
 * against the cluster's name before every move (lambdas/adapters/cluster-tag-check.ts). Describe actions take
 * no resource-level permissions.
 */
const EC2_READS: Record<AddressMode, string[]> = {
  eip: ['ec2:DescribeAddresses', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeInstances'],
  'secondary-ip': ['ec2:DescribeNetworkInterfaces'],
  'route-table': ['ec2:DescribeRouteTables', 'ec2:DescribeNetworkInterfaces'],
};
const TAGGED_AS_A_CLUSTERS = { StringLike: { [`aws:ResourceTag/${CLUSTER_TAG}`]: '*' } };

const entry = (path: string) => fileURLToPath(new URL(`../lambdas/${path}`, import.meta.url));

export class PgFailover extends Construct {
  readonly table: PgFailoverStateTable['table'];
  /** The evaluator's notices (message attribute `severity`): e-mail gets WARNING and SEVERE, Slack all. */
  readonly topic: Topic;
  /** CloudWatch alarms (their messages carry no attributes, so no filter could let them through). */
  readonly alarmTopic: Topic;
  /** A customer-managed key for both topics: CloudWatch cannot publish to a topic under the AWS-managed SNS key. */
  readonly alertsKey: Key;
  readonly evaluator: NodejsFunction;
  readonly switchover: NodejsFunction;
  /** For every database host's instance role, tagged pgfailover:cluster = its cluster. */
  readonly agentPolicy: ManagedPolicy;
  /** For people on call: read-only status and history, and a switchover from the console (the switchover function). */
  readonly operatorPolicy: ManagedPolicy;
  /** For the people who run the administrative CLI. */
  readonly administratorPolicy: ManagedPolicy;
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: PgFailoverProps) {
    super(scope, id);
    if (props.clusters.length === 0) throw new Error('PgFailover needs at least one cluster name (props.clusters)');
    const capacityProblem = props.tableCapacity && tableCapacityProblem(props.tableCapacity, props.clusters.length);
    if (capacityProblem) throw new Error(`PgFailover: ${capacityProblem}`);
    this.table = new PgFailoverStateTable(this, 'State', {
      tableName: props.tableName,
      capacity: props.tableCapacity,
    }).table;

    this.alertsKey = new Key(this, 'AlertsKey', {
      description: 'pgfailover alert topics: the Lambdas and CloudWatch alarms publish under it',
      enableKeyRotation: true,
    });
    // CloudWatch alarms publish as the service, only for alarms of this account.
    this.alertsKey.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    this.topic = new Topic(this, 'Alerts', {
      displayName: 'pgfailover alerts',
      enforceSSL: true,
      masterKey: this.alertsKey,
    });
    this.alarmTopic = new Topic(this, 'Alarms', {
      displayName: 'pgfailover alarms',
      enforceSSL: true,
      masterKey: this.alertsKey,
    });
    for (const email of props.alertEmails ?? []) {
      // E-mail gets what needs a person: WARNING and SEVERE notices, and every alarm.
      this.topic.addSubscription(
        new EmailSubscription(email, {
          filterPolicy: { severity: SubscriptionFilter.stringFilter({ allowlist: ['WARNING', 'SEVERE'] }) },
        }),
      );
      this.alarmTopic.addSubscription(new EmailSubscription(email));
    }

    const common = (name: string, timeout: Duration, memorySize = 256): NodejsFunctionProps => ({
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize,
      timeout,
      ...functionLogs(this, name, props.vpc !== undefined),
      vpc: props.vpc,
      vpcSubnets: props.vpc ? props.vpcSubnets : undefined,
      securityGroups: props.vpc ? props.securityGroups : undefined,
      // The release build's settings (infra/bundle-options.ts), minified for cold starts.
      bundling: {
        format: OutputFormat.ESM,
        target: BUNDLE.target,
        minify: true,
        sourceMap: BUNDLE.sourcemap,
        banner: BUNDLE.banner,
        externalModules: BUNDLE.external,
        define: BUNDLE.define,
      },
      environment: { TABLE_NAME: this.table.tableName, NODE_OPTIONS: '--enable-source-maps' },
    });

    // Each invocation evaluates every 240 ms until 5 s before its timeout; the schedule starts one a
    // minute, so a 70 s timeout overlaps them slightly and detection never pauses. Two may run at once.
    this.evaluator = new NodejsFunction(this, 'Evaluator', {
      ...common('Evaluator', Duration.seconds(70), props.evaluatorMemoryMb ?? evaluatorMemoryMb(props.clusters.length)),
      entry: entry('evaluator/index.ts'),
      description: 'pgfailover evaluator: decides failovers for every cluster four times a second',
      reservedConcurrentExecutions: 2,
    });
    this.evaluator.addEnvironment('TOPIC_ARN', this.topic.topicArn);
    new Rule(this, 'EveryMinute', {
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunction(this.evaluator)],
    });
    // UpdateItem records the address holder and a stopped instance on the decision it wrote.
    this.evaluator.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [this.table.tableArn],
      }),
    );
    this.topic.grantPublish(this.evaluator);
    const modes = props.addressModes ?? [];
    const ec2Reads = [
      ...new Set([
        ...modes.flatMap((mode) => EC2_READS[mode]),
        ...(props.ec2StopFencing ? ['ec2:DescribeInstances'] : []),
      ]),
    ].sort();
    const ec2Writes = [
      ...new Set([...modes.flatMap((mode) => EC2_MOVES[mode]), ...(props.ec2StopFencing ? ['ec2:StopInstances'] : [])]),
    ].sort();
    if (ec2Reads.length > 0)
      this.evaluator.addToRolePolicy(new PolicyStatement({ actions: ec2Reads, resources: ['*'] }));
    if (ec2Writes.length > 0) {
      // The ENIs, instances and route tables are the nodes', unknown at deploy time: the grant reaches every
      // resource tagged as some cluster's, and the evaluator checks the tag names this cluster before it acts.
      this.evaluator.addToRolePolicy(
        new PolicyStatement({ actions: ec2Writes, resources: ['*'], conditions: TAGGED_AS_A_CLUSTERS }),
      );
    }

    this.switchover = new NodejsFunction(this, 'Switchover', {
      ...common('Switchover', Duration.seconds(30)),
      entry: entry('switchover/index.ts'),
      description: 'pgfailover switchover: test event {"cluster": "NAME", "to": "NODE"}',
    });
    this.switchover.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem'],
        resources: [this.table.tableArn],
      }),
    );

    if (props.slackWebhookSecretArn) {
      const secret = Secret.fromSecretCompleteArn(this, 'SlackWebhook', props.slackWebhookSecretArn);
      const slack = new NodejsFunction(this, 'Slack', {
        ...common('Slack', Duration.seconds(15)),
        entry: entry('slack/index.ts'),
        description: 'pgfailover: posts alerts to Slack',
      });
      slack.addEnvironment('SLACK_WEBHOOK_SECRET_ARN', secret.secretArn);
      secret.grantRead(slack);
      this.topic.addSubscription(new LambdaSubscription(slack));
      this.alarmTopic.addSubscription(new LambdaSubscription(slack));
    }

    // One policy for every cluster's agents: the partition they may touch is the cluster named by their
    // instance role's pgfailover:cluster tag (a role without it gets nothing). Clusters come and go without a
    // stack update, and a fleet adds no resource or output per cluster.
    this.agentPolicy = new ManagedPolicy(this, 'AgentPolicy', {
      description: `pgfailover agents: heartbeats, lease and membership in the partition of the cluster their role's ${CLUSTER_TAG} tag names`,
      statements: [
        new PolicyStatement({
          effect: Effect.ALLOW,
          // Query: pgfailover rejoin on the host reads its cluster's snapshot before it rewinds.
          actions: [
            'dynamodb:GetItem',
            'dynamodb:Query',
            'dynamodb:PutItem',
            'dynamodb:UpdateItem',
            'dynamodb:DeleteItem',
          ],
          resources: [this.table.tableArn],
          conditions: {
            'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [`\${aws:PrincipalTag/${CLUSTER_TAG}}`] },
            StringLike: { [`aws:PrincipalTag/${CLUSTER_TAG}`]: '?*' },
          },
        }),
      ],
    });

    // cdk-nag (AwsSolutions): every exception, with the reason it is the right choice here.
    for (const fn of this.node.findAll().filter((child): child is NodejsFunction => child instanceof NodejsFunction)) {
      // The role is the function's own (functionLogs), beside it rather than inside it.
      NagSuppressions.addResourceSuppressions(
        [fn, ...(fn.role ? [fn.role] : [])],
        [
          {
            id: 'AwsSolutions-L1',
            reason:
              'The runtime is pinned to Node.js 22, the version the code is built and tested for; it is moved on deliberately, not by the newest release.',
          },
          ...(props.vpc
            ? [
                {
                  id: 'AwsSolutions-IAM4',
                  reason:
                    'AWSLambdaVPCAccessExecutionRole lets the function create, describe and delete the network interfaces it runs in, which a function in a VPC needs; it is attached only when a VPC is given.',
                  appliesTo: [
                    'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole',
                  ],
                },
              ]
            : []),
          {
            id: 'AwsSolutions-IAM5',
            reason:
              'Publishing to a topic under a customer-managed key needs kms:GenerateDataKey* (SNS picks the variant); granted by grantPublish on that one key only.',
            appliesTo: ['Action::kms:GenerateDataKey*'],
          },
          ...(fn === this.evaluator && (props.addressModes?.length || props.ec2StopFencing)
            ? [
                {
                  id: 'AwsSolutions-IAM5',
                  reason:
                    'EC2 Describe* actions support no resource-level permissions; the moves and stops reach the ENIs, instances, Elastic IPs and route tables of the database hosts, unknown at deploy time, only where they are tagged pgfailover:cluster, and the evaluator checks that the tag names the cluster before it acts.',
                  appliesTo: ['Resource::*'],
                },
              ]
            : []),
        ],
        true,
      );
    }

    // The evaluator's own metrics, in Embedded Metric Format (lambdas/evaluator/evaluation-metrics.ts).
    const namespace = 'pgfailover';
    const evaluatorMetric = (metricName: string, statistic: string, period = Duration.minutes(1)) =>
      new Metric({ namespace, metricName, dimensionsMap: { service: 'evaluator' }, statistic, period });
    const failovers = evaluatorMetric('Failovers', 'Sum');
    const stale = evaluatorMetric('SilentAgents', 'Maximum');
    const storeErrors = evaluatorMetric('StoreErrors', 'Sum', Duration.minutes(5));
    /** Every series of a metric across the clusters and nodes that report it (their names are not known here). */
    const search = (metricName: string, dimensions: string, statistic: string, label: string) =>
      new MathExpression({
        expression: `SEARCH('{${namespace},${dimensions}} MetricName="${metricName}"', '${statistic}', 60)`,
        label,
        period: Duration.minutes(1),
      });
    const errors = this.evaluator.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' });
    const alarm = (name: string, metric: Metric, description: string) => {
      const created = new Alarm(this, name, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      created.addAlarmAction(new SnsAction(this.alarmTopic));
      return created;
    };
    alarm('EvaluatorErrors', errors, 'The pgfailover evaluator failed: failures may go undetected');
    alarm('FailoverHappened', failovers, 'pgfailover promoted a standby');
    alarm('StaleHeartbeats', stale, 'A pgfailover agent stopped reporting');
    alarm(
      'StoreErrors',
      storeErrors,
      'The pgfailover evaluator could not read the state table: nobody can be failed over',
    );
    // Nobody evaluating is the failure that silences every other alert: missing data counts as breaching.
    const notEvaluating = new Alarm(this, 'EvaluatorNotRunning', {
      // Rounds completed, not invocations: an invocation that runs but cannot evaluate counts as not running.
      metric: evaluatorMetric('EvaluationRounds', 'Sum'),
      threshold: 1,
      evaluationPeriods: 2,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.BREACHING,
      alarmDescription:
        'The pgfailover evaluator has not run for two minutes: no failure is being detected; check its schedule and errors',
    });
    notEvaluating.addAlarmAction(new SnsAction(this.alarmTopic));
    notEvaluating.addOkAction(new SnsAction(this.alarmTopic));

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `pgfailover-${Stack.of(this).stackName}`,
      widgets: [
        [
          new GraphWidget({
            title: 'Evaluator',
            left: [this.evaluator.metricInvocations(), errors, storeErrors],
            right: [this.evaluator.metricDuration()],
          }),
          new GraphWidget({ title: 'Failovers and silent agents', left: [failovers, stale] }),
        ],
        [
          new GraphWidget({
            title: 'Heartbeat age per node (ms, max per minute)',
            left: [search('HeartbeatAgeMs', 'cluster,node,service', 'Maximum', 'heartbeat age')],
          }),
          new GraphWidget({
            title: 'Replication lag per standby (bytes)',
            left: [search('ReplicationLagBytes', 'cluster,node,service', 'Maximum', 'lag')],
          }),
        ],
        [
          new GraphWidget({
            title: 'Decisions by rule',
            left: [search('Decisions', 'cluster,rule,service', 'Sum', 'decisions')],
          }),
          new GraphWidget({
            title: 'Failover and switchover durations (ms)',
            left: [
              search('FailoverDurationMs', 'cluster,service', 'Maximum', 'failover'),
              search('SwitchoverDurationMs', 'cluster,service', 'Maximum', 'switchover'),
            ],
          }),
        ],
      ],
    });

    this.operatorPolicy = operatorPolicy(this, this);
    this.administratorPolicy = administratorPolicy(this, this.table);
  }
}

/**
 * A function's log group and a role that may write to that group only. CDK's default role carries
 * AWSLambdaBasicExecutionRole, which lets a function create and write every log group of the account.
 */
function functionLogs(scope: Construct, name: string, inVpc: boolean): { logGroup: LogGroup; role: Role } {
  const logGroup = new LogGroup(scope, `${name}Logs`, { retention: RetentionDays.THREE_MONTHS });
  const role = new Role(scope, `${name}Role`, {
    assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
    description: `pgfailover ${name.toLowerCase()} function`,
    managedPolicies: inVpc
      ? [ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole')]
      : [],
  });
  role.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [`${logGroup.logGroupArn}`],
    }),
  );
  return { logGroup, role };
}
