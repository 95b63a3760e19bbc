import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Aspects, Stack } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { BUNDLE } from '../../infra/bundle-options.ts';
import { STACK_MONITORING } from '../../bench/cost.ts';
import { PgFailover, type PgFailoverProps } from '../../infra/pgfailover.ts';
import { PgFailoverStateTable } from '../../infra/state-table.ts';

const outRoot = mkdtempSync(join(tmpdir(), 'pgfailover-infra-test-'));
afterAll(() => rmSync(outRoot, { recursive: true, force: true }));

/**
 * An app that skips bundling the Lambdas' code (CDK's own context switch): the templates are the same, and
 * esbuild runs synchronously in the test worker, which on a loaded two-core machine could keep the worker
 * from answering vitest's runner within its fixed 60 s (a green run that exits 1).
 */
function testApp(): App {
  // An outdir of our own, removed after the file: without one CDK leaves a cdk.out* directory in /tmp per app.
  return new App({ outdir: mkdtempSync(join(outRoot, 'app-')), context: { 'aws:cdk:bundling-stacks': [] } });
}

describe('state table construct', () => {
  it('keys by cluster and sk, on demand, with recovery, deletion protection, encryption and TTL on the history', () => {
    // Prepare
    const stack = new Stack(testApp(), 'Test');
    // Act
    new PgFailoverStateTable(stack, 'State');
    // Assess
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'cluster', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(Object.keys(template.findResources('AWS::DynamoDB::Table'))).toHaveLength(1);
  });

  it('takes provisioned capacity when the deployment names it', () => {
    // Prepare
    const stack = new Stack(testApp(), 'Test');
    // Act
    new PgFailoverStateTable(stack, 'State', { capacity: { readUnits: 12, writeUnits: 6 } });
    // Assess
    Template.fromStack(stack).hasResourceProperties('AWS::DynamoDB::Table', {
      // CloudFormation's default billing mode is provisioned: the template leaves it out.
      BillingMode: Match.absent(),
      ProvisionedThroughput: { ReadCapacityUnits: 12, WriteCapacityUnits: 6 },
    });
  });
});

describe('PgFailover construct', () => {
  const synth = (props: Partial<PgFailoverProps> = {}) => {
    const stack = new Stack(testApp(), 'Test', { env: { account: '111122223333', region: 'eu-west-1' } });
    new PgFailover(stack, 'PgFailover', { clusters: ['prod', 'reporting'], ...props });
    return Template.fromStack(stack);
  };
  const statementsOf = (template: Template, logicalIdPrefix: string) =>
    Object.entries(template.findResources('AWS::IAM::Policy'))
      .filter(([id]) => id.startsWith(logicalIdPrefix))
      .flatMap(
        ([, resource]) =>
          (resource as { Properties: { PolicyDocument: { Statement: { Action: string | string[] }[] } } }).Properties
            .PolicyDocument.Statement,
      );

  it('refuses provisioned capacity with no room for a failover (a throttled renewal stops a primary)', () => {
    expect(() => synth({ tableCapacity: { readUnits: 12, writeUnits: 6 } })).toThrow(
      /PgFailover: tableCapacity of 6 write units \(at least 56\) and 12 read units \(at least 87\) is too small for 2 cluster\(s\)/,
    );
  });

  it('runs the evaluator on Node 22, arm64, with reserved concurrency, every minute', () => {
    const template = synth();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      ReservedConcurrentExecutions: 2,
      Timeout: 70,
    });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)', State: 'ENABLED' });
    template.resourceCountIs('AWS::Lambda::Function', 2);
  });

  it.each<[string, Partial<PgFailoverProps>, number]>([
    ['two clusters: the smallest Lambda', {}, 128],
    ['fifty clusters: a CPU share for every round', { clusters: Array.from({ length: 50 }, (_, i) => `c${i}`) }, 640],
    ['two hundred clusters: one whole vCPU', { clusters: Array.from({ length: 200 }, (_, i) => `c${i}`) }, 1769],
    ['a size the deployment names', { evaluatorMemoryMb: 512 }, 512],
  ])("sizes the evaluator's memory for %s", (_name, props, memorySize) => {
    synth(props).hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 70,
      MemorySize: memorySize,
    });
  });

  it("confines every agent to the partition its role's pgfailover:cluster tag names, in one policy", () => {
    const template = synth();
    template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: [
              'dynamodb:GetItem',
              'dynamodb:Query',
              'dynamodb:PutItem',
              'dynamodb:UpdateItem',
              'dynamodb:DeleteItem',
            ],
            Condition: {
              'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['${aws:PrincipalTag/pgfailover:cluster}'] },
              StringLike: { 'aws:PrincipalTag/pgfailover:cluster': '?*' },
            },
          }),
        ],
      },
    });
    // The agents' policy, the operators' and the administrators'.
    template.resourceCountIs('AWS::IAM::ManagedPolicy', 3);
  });

  it('declares the KMS keys, alarms and dashboards the cost model bills (bench/cost.ts)', () => {
    const template = synth({ alertEmails: ['dba@example.com'] });
    template.resourceCountIs('AWS::KMS::Key', STACK_MONITORING.kmsKeys);
    template.resourceCountIs('AWS::CloudWatch::Alarm', STACK_MONITORING.alarms);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', STACK_MONITORING.dashboards);
  });

  it('adds nothing per cluster: a fleet of a thousand has the resources of one', () => {
    const resources = (clusters: string[]) => {
      const all = synth({ clusters, evaluatorMemoryMb: 256 }).toJSON().Resources as Record<string, { Type: string }>;
      return Object.values(all)
        .map((resource) => resource.Type)
        .sort();
    };
    expect(resources(Array.from({ length: 1000 }, (_, i) => `c${i}`))).toEqual(resources(['prod']));
  });

  it.each([
    [[], []],
    [
      ['eip'],
      ['ec2:AssociateAddress', 'ec2:DescribeAddresses', 'ec2:DescribeInstances', 'ec2:DescribeNetworkInterfaces'],
    ],
    [
      ['route-table', 'secondary-ip'],
      [
        'ec2:AssignPrivateIpAddresses',
        'ec2:CreateRoute',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeRouteTables',
        'ec2:ReplaceRoute',
      ],
    ],
  ] as const)('gives the evaluator EC2 actions for address modes %j only', (modes, actions) => {
    const template = synth({ addressModes: [...modes] });
    const ec2 = statementsOf(template, 'PgFailoverEvaluatorRoleDefaultPolicy')
      .flatMap((statement) => [statement.Action].flat())
      .filter((action) => action.startsWith('ec2:'));
    expect(ec2.sort()).toEqual([...actions]);
    // Whatever moves an address is allowed only on resources tagged as some cluster's own.
    for (const statement of statementsOf(template, 'PgFailoverEvaluatorRoleDefaultPolicy')) {
      const mutating = [statement.Action]
        .flat()
        .filter((action) => action.startsWith('ec2:') && !action.startsWith('ec2:Describe'));
      if (mutating.length > 0)
        expect((statement as { Condition?: unknown }).Condition).toEqual({
          StringLike: { 'aws:ResourceTag/pgfailover:cluster': '*' },
        });
    }
    const switchoverActions = statementsOf(template, 'PgFailoverSwitchoverRoleDefaultPolicy').flatMap((statement) =>
      [statement.Action].flat(),
    );
    expect(switchoverActions.filter((action) => action.startsWith('ec2:'))).toEqual([]);
  });

  it('lets the evaluator stop only instances tagged as cluster members when a cluster fences with ec2-stop', () => {
    const template = synth({ ec2StopFencing: true });
    const statements = statementsOf(template, 'PgFailoverEvaluatorRoleDefaultPolicy');
    const stop = statements.find((statement) => [statement.Action].flat().includes('ec2:StopInstances')) as
      { Condition?: unknown } | undefined;
    expect(stop?.Condition).toEqual({ StringLike: { 'aws:ResourceTag/pgfailover:cluster': '*' } });
    expect(statements.flatMap((statement) => [statement.Action].flat())).toContain('ec2:DescribeInstances');
    expect(
      statementsOf(synth({}), 'PgFailoverEvaluatorRoleDefaultPolicy').flatMap((statement) => [statement.Action].flat()),
    ).not.toContain('ec2:StopInstances');
  });

  it('sends WARNING and SEVERE to e-mail, everything to Slack, over an encrypted topic', () => {
    const template = synth({
      alertEmails: ['dba@example.com'],
      slackWebhookSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:slack-AbCdEf',
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'dba@example.com',
      FilterPolicy: { severity: ['WARNING', 'SEVERE'] },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'lambda' });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.resourceCountIs('AWS::Lambda::Function', 3);
  });

  it('lets CloudWatch alarms reach people: a customer-managed key CloudWatch may use, an alarm topic e-mail and Slack take unfiltered', () => {
    // Prepare / Act
    const template = synth({
      alertEmails: ['dba@example.com'],
      slackWebhookSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:slack-AbCdEf',
    });
    // Assess: both topics under the one customer-managed key, with rotation.
    const keys = template.findResources('AWS::KMS::Key');
    expect(Object.keys(keys)).toHaveLength(1);
    const keyId = Object.keys(keys)[0] as string;
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'CloudWatchAlarmsPublish',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Condition: { StringEquals: { 'aws:SourceAccount': Match.anyValue() } },
          }),
        ]),
      },
    });
    const topics = template.findResources('AWS::SNS::Topic');
    expect(Object.values(topics).map((topic) => topic.Properties.KmsMasterKeyId)).toEqual([
      { 'Fn::GetAtt': [keyId, 'Arn'] },
      { 'Fn::GetAtt': [keyId, 'Arn'] },
    ]);
    // Alarm messages carry no message attributes: the alarm topic's e-mail subscription has no filter.
    const alarmTopicId = Object.keys(topics).find((id) => id.includes('Alarms')) as string;
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'dba@example.com',
      TopicArn: { Ref: alarmTopicId },
      FilterPolicy: Match.absent(),
    });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'lambda', TopicArn: { Ref: alarmTopicId } });
    // Every alarm goes to the alarm topic; an evaluator that stops running is an alarm, missing data breaching.
    for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm')))
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: alarmTopicId }]);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'EvaluationRounds',
      Namespace: 'pgfailover',
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 2,
      Period: 60,
      TreatMissingData: 'breaching',
    });
  });

  it("alarms on the evaluator's own metrics (EMF), not log filters, and draws a dashboard of them", () => {
    const template = synth();
    template.resourceCountIs('AWS::CloudWatch::Alarm', 5);
    template.resourceCountIs('AWS::Logs::MetricFilter', 0);
    for (const metricName of ['Failovers', 'SilentAgents', 'StoreErrors'])
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'pgfailover',
        MetricName: metricName,
        Dimensions: [{ Name: 'service', Value: 'evaluator' }],
      });
    const dashboard = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
    for (const metricName of [
      'HeartbeatAgeMs',
      'ReplicationLagBytes',
      'Decisions',
      'FailoverDurationMs',
      'SwitchoverDurationMs',
    ])
      expect(dashboard).toMatch(new RegExp(`SEARCH\\('\\{pgfailover,[a-z,]+\\} MetricName=.{1,6}${metricName}`));
  });

  it('gives each function a role of its own that writes only its own log group, and no managed policy', () => {
    // Prepare
    const template = synth();
    // Act
    const roles = Object.entries(template.findResources('AWS::IAM::Role')).filter(([id]) =>
      /^PgFailover(Evaluator|Switchover)Role/.test(id),
    );
    // Assess
    expect(roles).toHaveLength(2);
    for (const [id, role] of roles) {
      expect((role as { Properties: Record<string, unknown> }).Properties.ManagedPolicyArns).toBeUndefined();
      const logs = statementsOf(template, `${id.replace(/Role[0-9A-F]+$/, 'Role')}DefaultPolicy`).filter((statement) =>
        [statement.Action].flat().some((action) => String(action).startsWith('logs:')),
      );
      expect(logs).toEqual([
        expect.objectContaining({
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: { 'Fn::GetAtt': [expect.stringMatching(/^PgFailover(Evaluator|Switchover)Logs/), 'Arn'] },
        }),
      ]);
    }
  });

  it('creates an operator policy: read-only state, the console, the switchover function, nothing else', () => {
    // Prepare
    const template = synth();
    const [operator] = Object.values(
      template.findResources('AWS::IAM::ManagedPolicy', {
        Properties: { Description: Match.stringLikeRegexp('^pgfailover operators') },
      }),
    ) as {
      Properties: { PolicyDocument: { Statement: { Sid: string; Action: string | string[]; Resource: unknown }[] } };
    }[];
    // Act
    const statements = operator!.Properties.PolicyDocument.Statement;
    const actions = statements.flatMap((statement) => [statement.Action].flat());
    // Assess: reads, and one invocation; a wildcard only where the action has no resource-level permission.
    expect(
      actions.filter(
        (action) => !/^(dynamodb:(Get|Query|Describe)|lambda:(Get|List)|cloudwatch:(Get|List|Describe))/.test(action),
      ),
    ).toEqual(['lambda:InvokeFunction']);
    expect(statements.find((statement) => statement.Sid === 'RequestSwitchover')?.Resource).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^PgFailoverSwitchover/), 'Arn'],
    });
    expect(statements.filter((statement) => statement.Resource === '*').map((statement) => statement.Sid)).toEqual([
      'ConsoleLists',
    ]);
    expect(actions).toEqual(expect.arrayContaining(['lambda:GetFunction', 'cloudwatch:GetDashboard']));
  });

  it('refuses a deployment without clusters', () => {
    expect(() => new PgFailover(new Stack(testApp(), 'Empty'), 'PgFailover', { clusters: [] })).toThrow(
      /at least one cluster/,
    );
  });
});

describe('Lambda bundles', () => {
  it.each([
    ['evaluator/index.ts', { TABLE_NAME: 'pgfailover' }],
    ['switchover/index.ts', { TABLE_NAME: 'pgfailover' }],
    ['slack/index.ts', { SLACK_WEBHOOK_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:slack' }],
  ])('%s bundles as the stack bundles it, loads, and exports a handler', async (entryPoint, env) => {
    // Prepare: the construct's and the release's esbuild settings (infra/bundle-options.ts); Node 20 runs
    // here, so the syntax target is lowered to it.
    const { build } = await import('esbuild');
    const outdir = mkdtempSync(join(tmpdir(), 'pgfailover-bundle-'));
    try {
      await build({
        entryPoints: [fileURLToPath(new URL(`../../lambdas/${entryPoint}`, import.meta.url))],
        bundle: true,
        platform: 'node',
        format: BUNDLE.format,
        target: 'node20',
        outfile: join(outdir, 'index.mjs'),
        banner: { js: BUNDLE.banner },
        external: BUNDLE.external,
        define: BUNDLE.define,
        logLevel: 'silent',
      });
      // Act: load it in a fresh Node process, as the Lambda runtime would.
      const result = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(join(outdir, 'index.mjs'))}); console.log(typeof m.handler);`,
        ],
        {
          env: { ...process.env, ...env, AWS_REGION: 'eu-west-1' },
          encoding: 'utf8',
        },
      );
      // Assess
      expect(result.stderr).not.toMatch(/Error/);
      expect(result.stdout.trim()).toBe('function');
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe('cdk-nag', () => {
  it('passes the AwsSolutions pack, each suppression with a written reason', () => {
    // Prepare: everything switched on.
    const app = testApp();
    const stack = new Stack(app, 'Nag', { env: { account: '111122223333', region: 'eu-west-1' } });
    new PgFailover(stack, 'PgFailover', {
      clusters: ['prod'],
      alertEmails: ['dba@example.com'],
      slackWebhookSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:slack-AbCdEf',
      addressModes: ['eip', 'secondary-ip', 'route-table'],
      ec2StopFencing: true,
    });
    Aspects.of(app).add(new AwsSolutionsChecks());
    // Act
    app.synth();
    // Assess
    const findings = [
      ...Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
      ...Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ];
    expect(findings.map((finding) => `${finding.id}: ${String(finding.entry.data)}`)).toEqual([]);
    const suppressed = JSON.stringify(Template.fromStack(stack).toJSON());
    expect(suppressed).toContain('AwsSolutions-IAM5');
    expect(suppressed).toMatch(/"reason":"EC2 Describe\* actions support no resource-level permissions/);
  });
});
