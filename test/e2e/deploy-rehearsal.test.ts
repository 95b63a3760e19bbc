// The deploy rehearsal: the stack deployed as a DBA would deploy it, onto moto's server (the AWS emulator),
// with the real CDK CLI (bootstrap, deploy with --method=direct, destroy). The deployed functions'
// configuration is read back and the real Lambda entry points run in-process with it (moto runs no Lambda
// code without Docker); the administrator's CLI creates two clusters in the deployed table, the test plays
// their agents with heartbeats, and the evaluator fails both over: an Elastic IP and a route move onto the
// new primaries, and the notices reach a queue subscribed to the encrypted topic through the e-mail
// subscription's severity filter.
//
// What moto does not do, and what covers it instead: it enforces no IAM (test/integration/grants.test.ts
// and ec2-grants.test.ts judge every request against the synthesised policies), creates no SNS subscription
// from a template (the e-mail subscription's filter is read from the deployed template and given to a
// queue), ignores AllowReassignment,
// has no `stopping` state (test/unit/ec2-instance-stopper.test.ts), creates no CloudWatch alarms and runs
// no schedule (test/unit/infra.test.ts asserts them in the template), and does not encrypt (the topic's
// KMS key is read back, not exercised).

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AllocateAddressCommand,
  CreateNetworkInterfaceCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeAddressesCommand,
  DescribeRouteTablesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, ListRulesCommand, ListTargetsByRuleCommand } from '@aws-sdk/client-eventbridge';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetTopicAttributesCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StateStore } from '../../core/state-store.ts';
import type { ClusterRecord, HeartbeatRecord } from '../../core/records.ts';
import { heartbeat, primaryHeartbeat } from '../support/fixtures.ts';
import { motoClientConfig, startMoto, type Moto } from '../support/moto.ts';
import { pollUntil } from '../support/poll.ts';

const run = promisify(execFile);
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const STACK = 'PgFailover';
/** The deployment's configuration: two clusters, one per address mode that moves between subnets' hosts. */
const DEPLOYMENT = {
  clusters: ['prod', 'reports'],
  alertEmails: ['dba@example.com'],
  addressModes: ['eip', 'route-table'],
  ec2StopFencing: false,
};
const OVERLAY_IP = '192.168.100.10';

let moto: Moto;
let dir: string;
let cdkEnv: NodeJS.ProcessEnv;
let outputs: Record<string, string> = {};
let deployed = false;

/** Runs the project's CDK CLI against moto; its output is kept for the failure message. */
async function cdk(args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run('node_modules/.bin/cdk', args, {
      env: cdkEnv,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 240_000,
    });
    return `${stdout}\n${stderr}`;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`cdk ${args.join(' ')} failed: ${failed.message}\n${failed.stdout ?? ''}\n${failed.stderr ?? ''}`);
  }
}

/** The administrator's CLI, as a process, against the deployed table. */
async function pgfailover(args: string[]): Promise<string> {
  const { stdout } = await run('node', ['bin/pgfailover.js', ...args, '--table', outputs.StateTableName!], {
    env: cdkEnv,
  });
  return stdout;
}

function clients() {
  const config = { ...motoClientConfig(moto.endpoint), region: REGION };
  return {
    ec2: new EC2Client(config),
    lambda: new LambdaClient(config),
    events: new EventBridgeClient(config),
    sns: new SNSClient(config),
    sqs: new SQSClient(config),
  };
}

beforeAll(async () => {
  moto = await startMoto();
  // CloudFormation on moto fetches the template from the URL CDK gives it, and reads an IP as a bucket name.
  const endpoint = moto.endpoint.replace('127.0.0.1', 'localhost');
  dir = mkdtempSync(join(tmpdir(), 'pgfailover-rehearsal-'));
  writeFileSync(join(dir, 'deployment.json'), JSON.stringify(DEPLOYMENT));
  cdkEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'moto',
    AWS_SECRET_ACCESS_KEY: 'moto',
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ENDPOINT_URL: endpoint,
    AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION: endpoint,
  };
  // The handlers run in this process, and every SDK client in it reaches moto.
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'moto',
    AWS_SECRET_ACCESS_KEY: 'moto',
    AWS_REGION: REGION,
    AWS_ENDPOINT_URL: moto.endpoint,
  });
  await cdk(['bootstrap', `aws://${ACCOUNT}/${REGION}`, '--output', join(dir, 'cdk.out')]);
  await cdk([
    'deploy',
    STACK,
    '--method=direct',
    '--require-approval',
    'never',
    '-c',
    `config=${join(dir, 'deployment.json')}`,
    '--output',
    join(dir, 'cdk.out'),
    '--outputs-file',
    join(dir, 'outputs.json'),
  ]);
  deployed = true;
  outputs = (JSON.parse(readFileSync(join(dir, 'outputs.json'), 'utf8')) as Record<string, Record<string, string>>)[
    STACK
  ]!;
}, 300_000);

afterAll(async () => {
  try {
    if (deployed) await cdk(['destroy', STACK, '--force', '--output', join(dir, 'cdk.out')]).catch(() => undefined);
  } finally {
    await moto?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);

describe('deploy rehearsal on moto', () => {
  it('deploys the functions as configured: runtime, environment, the schedule, the encrypted topic and its filter', async () => {
    // Prepare
    const { lambda, events, sns } = clients();
    // Act
    const evaluator = await lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: outputs.EvaluatorFunction }),
    );
    const switchover = await lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: outputs.SwitchoverFunction }),
    );
    const rules = (await events.send(new ListRulesCommand({}))).Rules ?? [];
    const targets = await Promise.all(
      rules.map(async (rule) => (await events.send(new ListTargetsByRuleCommand({ Rule: rule.Name }))).Targets ?? []),
    );
    const topic = (await sns.send(new GetTopicAttributesCommand({ TopicArn: outputs.AlertsTopicArn }))).Attributes;
    // Assess
    for (const fn of [evaluator, switchover]) {
      expect(fn.Runtime).toBe('nodejs22.x');
      expect(fn.Handler).toBe('index.handler');
      expect(fn.Environment?.Variables?.TABLE_NAME).toBe(outputs.StateTableName);
    }
    expect(evaluator.Environment?.Variables?.TOPIC_ARN).toBe(outputs.AlertsTopicArn);
    expect(evaluator.Timeout).toBeGreaterThan(60);
    const scheduled = rules.findIndex((rule) => rule.ScheduleExpression === 'rate(1 minute)');
    expect(targets[scheduled]?.map((target) => target.Arn)).toEqual([evaluator.FunctionArn]);
    expect(topic?.KmsMasterKeyId).toMatch(/^arn:aws:kms:/);
    // moto's CloudFormation creates no AWS::SNS::Subscription: the deployed template says what AWS creates.
    expect(emailSubscription()).toEqual({
      Protocol: 'email',
      Endpoint: 'dba@example.com',
      FilterPolicy: { severity: ['WARNING', 'SEVERE'] },
    });
  });

  it('fails two clusters over with the deployed handlers: an Elastic IP and a route move, alerts pass the filter', async () => {
    // Prepare: the network and hosts each cluster's address moves between, tagged as the cluster's own.
    const { ec2, lambda, sns, sqs } = clients();
    const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.0.1.0/24' }))).Subnet!
      .SubnetId!;
    const tag = (cluster: string) => [{ Key: 'pgfailover:cluster', Value: cluster }];
    const enis: Record<string, Record<string, string>> = {};
    for (const cluster of DEPLOYMENT.clusters)
      for (const node of ['db1', 'db2', 'db3'])
        (enis[cluster] ??= {})[node] = (
          await ec2.send(
            new CreateNetworkInterfaceCommand({
              SubnetId: subnet,
              TagSpecifications: [{ ResourceType: 'network-interface', Tags: tag(cluster) }],
            }),
          )
        ).NetworkInterface!.NetworkInterfaceId!;
    const eip = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
    const routeTable = (await ec2.send(new CreateRouteTableCommand({ VpcId: vpc }))).RouteTable!.RouteTableId!;
    await ec2.send(new CreateTagsCommand({ Resources: [eip.AllocationId!], Tags: tag('prod') }));
    await ec2.send(new CreateTagsCommand({ Resources: [routeTable], Tags: tag('reports') }));
    await ec2.send(
      new CreateRouteCommand({
        RouteTableId: routeTable,
        DestinationCidrBlock: `${OVERLAY_IP}/32`,
        NetworkInterfaceId: enis.reports!.db1,
      }),
    );
    // A queue subscribed with the e-mail subscription's own filter: what reaches it is what the DBA is mailed.
    const emailFilter = JSON.stringify(emailSubscription().FilterPolicy);
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'dba-mail' }))).QueueUrl!;
    const queueArn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))
    ).Attributes!.QueueArn!;
    await sns.send(
      new SubscribeCommand({
        TopicArn: outputs.AlertsTopicArn,
        Protocol: 'sqs',
        Endpoint: queueArn,
        Attributes: { FilterPolicy: emailFilter },
      }),
    );
    // The administrator creates the clusters with the CLI, as docs/deploy.md says.
    await pgfailover([
      'init',
      '--cluster',
      'prod',
      '--fencing',
      'agent',
      '--address-mode',
      'eip',
      '--address',
      eip.PublicIp!,
      '--allocation-id',
      eip.AllocationId!,
    ]);
    await pgfailover([
      'init',
      '--cluster',
      'reports',
      '--fencing',
      'agent',
      '--address-mode',
      'route-table',
      '--address',
      OVERLAY_IP,
      '--route-table',
      routeTable,
    ]);
    for (const cluster of DEPLOYMENT.clusters)
      for (const node of ['db1', 'db2', 'db3'])
        await pgfailover(['allow-node', node, '--cluster', cluster, '--address', addressOf(node)]);
    // The deployed configuration, read back, is what the handlers run with.
    const deployedEnv = (
      await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: outputs.EvaluatorFunction }))
    ).Environment!.Variables!;
    // Only warnings from the handlers' logs, and no metrics on standard output: the test reads the outcome.
    Object.assign(process.env, deployedEnv, { LOG_LEVEL: 'WARN', POWERTOOLS_METRICS_DISABLED: 'true' });
    const store = StateStore.connect({ table: deployedEnv.TABLE_NAME!, region: REGION });
    const agents = playAgents(store, enis);

    // Act: the deployed evaluator entry point, for one invocation of 35 s.
    const { handler: evaluate } = (await import('../../lambdas/evaluator/index.ts')) as {
      handler: (event: unknown, context: unknown) => Promise<{ rounds: number }>;
    };
    const invocation = evaluate({}, { awsRequestId: 'rehearsal-1', getRemainingTimeInMillis: () => 40_000 }).finally(
      () => agents.stop(),
    );
    const moved = await pollUntil(
      'the Elastic IP and the route on db2 of each cluster',
      async () => {
        const address = (await ec2.send(new DescribeAddressesCommand({ AllocationIds: [eip.AllocationId!] })))
          .Addresses![0];
        const route = (
          await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [routeTable] }))
        ).RouteTables![0]!.Routes!.find((r) => r.DestinationCidrBlock === `${OVERLAY_IP}/32`);
        return address?.NetworkInterfaceId === enis.prod!.db2 && route?.NetworkInterfaceId === enis.reports!.db2
          ? { address, route }
          : undefined;
      },
      30_000,
      250,
    );
    const { rounds } = await invocation;
    const records = await Promise.all(DEPLOYMENT.clusters.map(async (cluster) => store.getCluster(cluster)));
    const mail = await receiveAll(sqs, queueUrl);
    // The deployed switchover entry point, asked for a switchover to a node that is not a member.
    const { handler: switchover } = (await import('../../lambdas/switchover/index.ts')) as {
      handler: (event: unknown, context: unknown) => Promise<{ accepted: boolean; message: string }>;
    };
    const refused = await switchover(
      { cluster: 'prod', to: 'db9', requestedBy: 'the rehearsal' },
      { awsRequestId: 'rehearsal-2' },
    );

    // Assess
    expect(moved.address?.NetworkInterfaceId).toBe(enis.prod!.db2);
    expect(rounds).toBeGreaterThan(10);
    for (const record of records) {
      expect(record?.term).toBeGreaterThanOrEqual(2);
      expect(record?.primaryNodeId).toBe('db2');
      expect(record?.address.holderNodeId).toBe('db2');
    }
    const subjects = mail.map((message) => message.Subject);
    for (const cluster of DEPLOYMENT.clusters)
      expect(subjects, subjects.join('\n')).toContain(
        `[pgfailover ${cluster}] WARNING: failover started: promoting db2 to replace db1`,
      );
    // The filter let WARNING and SEVERE through and held INFO back (db2's promotion, db1 recorded as primary).
    expect(mail.map((message) => message.MessageAttributes.severity?.Value).sort()[0]).toMatch(/^(SEVERE|WARNING)$/);
    expect(subjects.filter((subject) => subject.includes('INFO'))).toEqual([]);
    expect(refused.accepted).toBe(false);
    expect(refused.message).toMatch(/db9/);
  });

  it('destroys the stack', async () => {
    // Act
    await cdk(['destroy', STACK, '--force', '--output', join(dir, 'cdk.out')]);
    deployed = false;
    // Assess: the functions are gone.
    const { lambda } = clients();
    await expect(
      lambda.send(new GetFunctionConfigurationCommand({ FunctionName: outputs.EvaluatorFunction })),
    ).rejects.toThrow(/not found|does not exist|ResourceNotFound/i);
  });
});

/** The alerts topic's e-mail subscription in the template that was deployed. */
function emailSubscription(): { Protocol: string; Endpoint: string; FilterPolicy: unknown } {
  const template = JSON.parse(readFileSync(join(dir, 'cdk.out', `${STACK}.template.json`), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  };
  const found = Object.values(template.Resources).find(
    (resource) =>
      resource.Type === 'AWS::SNS::Subscription' &&
      resource.Properties.Protocol === 'email' &&
      JSON.stringify(resource.Properties.TopicArn).includes('Alerts'),
  );
  if (!found) throw new Error('the deployed template has no e-mail subscription to the alerts topic');
  const { Protocol, Endpoint, FilterPolicy } = found.Properties;
  return { Protocol: String(Protocol), Endpoint: String(Endpoint), FilterPolicy };
}

/**
 * Plays the agents of every cluster once a second, as the cluster record says they stand: db1 a healthy
 * primary until the evaluator records it; then db1 stopped by its own agent (which released its lease) and
 * db2 and db3 standbys that cannot reach it; once db2 is the candidate, db2 promoted and db3 following it.
 * Each heartbeat carries its ENI, as a real agent reads it from the instance metadata.
 */
function playAgents(store: StateStore, enis: Record<string, Record<string, string>>): { stop: () => Promise<void> } {
  let seq = 100;
  let stopped = false;
  const released = new Set<string>();
  const beatOnce = async () => {
    for (const cluster of Object.keys(enis)) {
      const record = (await store.getCluster(cluster)) as ClusterRecord;
      if (record.primaryNodeId === 'db1' && !released.has(cluster)) {
        await store.releaseLease(cluster, 'db1', record.term);
        released.add(cluster);
      }
      const host = (node: string) => ({
        hostname: node,
        address: addressOf(node),
        dbPort: 5432,
        privateIp: null,
        instanceId: null,
        eniId: enis[cluster]![node]!,
      });
      const common = (node: string) => ({
        cluster,
        seq: ++seq,
        sentAtMs: Date.now(),
        host: host(node),
        term: record.term,
      });
      const voteOn = (status: 'UP' | 'DOWN') => ({
        primaryNodeId: 'db1',
        status,
        reason: status === 'DOWN' ? 'connection refused' : '',
      });
      const beats: HeartbeatRecord[] =
        record.primaryNodeId === null
          ? [
              primaryHeartbeat('db1', '0/6000000', ['db2', 'db3'], common('db1')),
              heartbeat('db2', { ...common('db2'), primaryCheck: voteOn('UP'), upstream: `${addressOf('db1')}:5432` }),
              heartbeat('db3', { ...common('db3'), primaryCheck: voteOn('UP'), upstream: `${addressOf('db1')}:5432` }),
            ]
          : record.failover?.toNodeId !== 'db2' && record.primaryNodeId !== 'db2'
            ? [
                heartbeat('db1', {
                  ...common('db1'),
                  agentType: 'idle',
                  dbStatus: 'DOWN',
                  dbInfo: 'stopped by its agent as its lease ran out',
                  receivedLsn: null,
                  replayedLsn: null,
                }),
                heartbeat('db2', {
                  ...common('db2'),
                  receivedLsn: '0/6000000',
                  replayedLsn: '0/6000000',
                  primaryCheck: voteOn('DOWN'),
                }),
                heartbeat('db3', { ...common('db3'), primaryCheck: voteOn('DOWN') }),
              ]
            : [
                primaryHeartbeat('db2', '0/6000000', ['db3'], { ...common('db2'), timeline: 2 }),
                heartbeat('db3', {
                  ...common('db3'),
                  timeline: 2,
                  primaryCheck: null,
                  upstream: `${addressOf('db2')}:5432`,
                  action: { term: record.term, step: 'repointed', detail: 'following db2' },
                }),
              ];
      for (const beat of beats) await store.putHeartbeat(beat);
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await beatOnce();
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** db1 is 10.0.1.10, db2 10.0.1.11, ...: as allowed with the CLI. */
function addressOf(node: string): string {
  return `10.0.1.${9 + Number(node.slice(2))}`;
}

interface Mail {
  Subject: string;
  MessageAttributes: Record<string, { Value: string }>;
}

/** Every notice the queue holds now (SNS's envelope, as the e-mail would carry it). */
async function receiveAll(sqs: SQSClient, queueUrl: string): Promise<Mail[]> {
  const mail: Mail[] = [];
  for (;;) {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    if (!Messages?.length) return mail;
    mail.push(...Messages.map((message) => JSON.parse(message.Body!) as Mail));
  }
}
