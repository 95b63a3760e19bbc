// The evaluator's EC2 side against moto (the AWS emulator): the real address movers and instance stopper,
// behind the check that a target is tagged as the cluster's own, move an Elastic IP, a secondary IP and a
// route, and stop an instance. Every EC2 request they send is recorded and judged against the evaluator's
// policies in the synthesised stack, each resource with its tags, by an offline IAM evaluator: moto enforces
// no IAM, so this is where a missing grant or a too-narrow tag condition shows. The Slack function's read of
// its webhook secret is judged the same way.

import {
  AllocateAddressCommand,
  CreateNetworkInterfaceCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeImagesCommand,
  DescribeTagsCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSlackHandler } from '../../lambdas/slack/handler.ts';
import { ec2Target } from '../support/fixtures.ts';
import { ClusterTagCheck, NotClustersOwnError } from '../../lambdas/adapters/cluster-tag-check.ts';
import { ElasticIpMover, RouteTableMover, SecondaryIpMover } from '../../lambdas/adapters/ec2-address-movers.ts';
import { Ec2InstanceStopper } from '../../lambdas/adapters/ec2-instance-stopper.ts';
import { ec2Arn, synthesisedPrincipals, verdict, type IamRequest, type Principal } from '../support/iam-grants.ts';
import { motoClientConfig, recordAwsRequests, startMoto, type AwsRequest, type Moto } from '../support/moto.ts';

let moto: Moto;
let evaluatorRole: Principal;
const noWait = async () => undefined;

function ec2Client(endpoint: string, requests?: AwsRequest[]): EC2Client {
  const ec2 = new EC2Client(motoClientConfig(endpoint));
  if (requests) recordAwsRequests(ec2.middlewareStack, 'ec2', requests);
  return ec2;
}

beforeAll(async () => {
  moto = await startMoto();
  evaluatorRole = synthesisedPrincipals({
    addressModes: ['eip', 'secondary-ip', 'route-table'],
    ec2StopFencing: true,
  }).evaluator!;
});
afterAll(async () => {
  await moto?.stop();
});

const tag = (value: string) => [{ Key: 'pgfailover:cluster', Value: value }];

/** The resources each EC2 action authorises on, as the service authorization reference lists them. */
function resourcesOf(request: AwsRequest): string[] {
  const input = request.input;
  switch (request.action) {
    case 'ec2:AssociateAddress':
      return [
        ec2Arn('elastic-ip', String(input.AllocationId)),
        input.NetworkInterfaceId
          ? ec2Arn('network-interface', String(input.NetworkInterfaceId))
          : ec2Arn('instance', String(input.InstanceId)),
      ];
    case 'ec2:AssignPrivateIpAddresses':
      return [ec2Arn('network-interface', String(input.NetworkInterfaceId))];
    case 'ec2:CreateRoute':
    case 'ec2:ReplaceRoute':
      return [ec2Arn('route-table', String(input.RouteTableId))];
    case 'ec2:StopInstances':
      return (input.InstanceIds as string[]).map((id) => ec2Arn('instance', id));
    default:
      return ['*'];
  }
}

describe('requests to AWS beyond the state table, sent to moto and judged against their grants', () => {
  it("moves an Elastic IP, a secondary IP and a route and stops an instance, each only onto the cluster's own", async () => {
    // Prepare: a subnet with ENIs of prod, of reporting and of nobody, and prod's EIP, route table and instance.
    const setup = ec2Client(moto.endpoint);
    const vpc = (await setup.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await setup.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.0.1.0/24' }))).Subnet!
      .SubnetId!;
    const eni = async (owner: string | null) => {
      const created = await setup.send(
        new CreateNetworkInterfaceCommand({
          SubnetId: subnet,
          ...(owner ? { TagSpecifications: [{ ResourceType: 'network-interface', Tags: tag(owner) }] } : {}),
        }),
      );
      return created.NetworkInterface!.NetworkInterfaceId!;
    };
    const [own, other, nobodys] = [await eni('prod'), await eni('reporting'), await eni(null)];
    const allocation = (await setup.send(new AllocateAddressCommand({ Domain: 'vpc' }))).AllocationId!;
    const routeTable = (await setup.send(new CreateRouteTableCommand({ VpcId: vpc }))).RouteTable!.RouteTableId!;
    const image = (await setup.send(new DescribeImagesCommand({}))).Images![0]!.ImageId!;
    const instance = (
      await setup.send(
        new RunInstancesCommand({
          ImageId: image,
          MinCount: 1,
          MaxCount: 1,
          SubnetId: subnet,
          TagSpecifications: [{ ResourceType: 'instance', Tags: tag('prod') }],
        }),
      )
    ).Instances![0]!.InstanceId!;
    await setup.send(new CreateTagsCommand({ Resources: [allocation, routeTable], Tags: tag('prod') }));
    const target = ec2Target;

    const requests: AwsRequest[] = [];
    const ec2 = ec2Client(moto.endpoint, requests);
    const check = new ClusterTagCheck(ec2, noWait);

    // Act
    await check.guardMover(new ElasticIpMover(ec2, allocation, noWait)).moveTo(target({ eniId: own }));
    await check.guardMover(new SecondaryIpMover(ec2, '10.0.1.50', noWait)).moveTo(target({ eniId: own }));
    await check
      .guardMover(new RouteTableMover(ec2, '192.168.100.10', [routeTable], noWait))
      .moveTo(target({ eniId: own }));
    const stopped = await check.guardFencer(new Ec2InstanceStopper(ec2, noWait)).stop(target({ instanceId: instance }));
    const sent = requests.length;
    const refusals = [
      await check
        .guardMover(new ElasticIpMover(ec2, allocation, noWait))
        .moveTo(target({ eniId: other }))
        .catch((error: unknown) => error),
      await check
        .guardMover(new SecondaryIpMover(ec2, '10.0.1.50', noWait))
        .moveTo(target({ eniId: nobodys }))
        .catch((error: unknown) => error),
    ];

    // Assess: the moves and the stop happened, the refusals sent nothing but a look at the tags.
    expect(stopped).toMatch(/^(stopping|stopped)$/);
    expect(refusals.every((refusal) => refusal instanceof NotClustersOwnError)).toBe(true);
    expect(requests.slice(sent).map((request) => request.action)).toEqual([
      'ec2:DescribeNetworkInterfaces',
      'ec2:DescribeNetworkInterfaces',
    ]);
    const mutating = new Set(requests.map((r) => r.action).filter((action) => !action.startsWith('ec2:Describe')));
    expect([...mutating].sort()).toEqual([
      'ec2:AssignPrivateIpAddresses',
      'ec2:AssociateAddress',
      'ec2:CreateRoute',
      'ec2:StopInstances',
    ]);
    // Every request allowed by the evaluator's grants, each resource judged with its tags.
    const tagsOf = new Map<string, string>();
    for (const found of (await setup.send(new DescribeTagsCommand({}))).Tags ?? [])
      if (found.Key === 'pgfailover:cluster') tagsOf.set(found.ResourceId!, found.Value!);
    const judged: IamRequest[] = requests.flatMap((request) =>
      resourcesOf(request).map((resource): IamRequest => {
        const owner = tagsOf.get(resource.split('/').pop()!);
        const context: Record<string, string> = {};
        if (owner) context['aws:ResourceTag/pgfailover:cluster'] = owner;
        return { action: request.action, resource, context };
      }),
    );
    const denied: string[] = [];
    for (const request of judged) {
      const result = await verdict(evaluatorRole, request);
      if (result !== 'Allowed') denied.push(`${request.action} on ${request.resource}: ${result}`);
    }
    expect(denied).toEqual([]);
    // And the grant itself refuses what the code refused: an address onto an interface nobody tagged.
    expect(
      await verdict(evaluatorRole, {
        action: 'ec2:AssociateAddress',
        resource: ec2Arn('network-interface', nobodys),
        context: {},
      }),
    ).toBe('ImplicitlyDenied');
  });

  it("the Slack function reads its webhook's secret, and only that one", async () => {
    // Prepare: the webhook URL in a secret on moto, and the stack synthesised with that secret.
    const secrets = new SecretsManagerClient(motoClientConfig(moto.endpoint));
    const secretArn = (
      await secrets.send(
        new CreateSecretCommand({ Name: 'pgfailover/slack', SecretString: 'https://hooks.example/T/B/X' }),
      )
    ).ARN!;
    const slackRole = synthesisedPrincipals({ slackWebhookSecretArn: secretArn }).slack!;
    const requests: AwsRequest[] = [];
    recordAwsRequests(secrets.middlewareStack, 'secretsmanager', requests);
    const posted: string[] = [];
    const handler = createSlackHandler({
      secrets,
      secretId: secretArn,
      post: async (url) => {
        posted.push(String(url));
        return new Response('ok');
      },
    });
    // Act
    await handler({
      Records: [{ Sns: { Subject: 'WARNING: test', Message: 'test', MessageAttributes: {} } }],
    });
    // Assess: it posted to the URL it read, with a request the role allows; another secret would be refused.
    expect(posted).toEqual(['https://hooks.example/T/B/X']);
    expect(requests.map((request) => request.action)).toEqual(['secretsmanager:GetSecretValue']);
    expect(
      await verdict(slackRole, { action: 'secretsmanager:GetSecretValue', resource: secretArn, context: {} }),
    ).toBe('Allowed');
    expect(
      await verdict(slackRole, {
        action: 'secretsmanager:GetSecretValue',
        resource: secretArn.replace('pgfailover/slack', 'someone/else'),
        context: {},
      }),
    ).toBe('ImplicitlyDenied');
  });
});
