// The evaluator acts only on a cluster's own resources: the ENI or instance a node's heartbeat names must be
// tagged pgfailover:cluster with that cluster's name before an address moves to it or it is stopped.

import { DescribeInstancesCommand, DescribeNetworkInterfacesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { notClustersOwn } from '../../core/cluster-tag.ts';
import { ec2Target } from '../support/fixtures.ts';
import { ClusterTagCheck, NotClustersOwnError } from '../../lambdas/adapters/cluster-tag-check.ts';

const ec2Mock = mockClient(EC2Client);
beforeEach(() => ec2Mock.reset());

const target = ec2Target;

describe('whose resource it is, row by row', () => {
  it.each<[string, { Key: string; Value: string }[] | undefined, RegExp | undefined]>([
    ['tagged with the cluster: its own', [{ Key: 'pgfailover:cluster', Value: 'prod' }], undefined],
    [
      'tagged with another cluster: refused, naming both',
      [{ Key: 'pgfailover:cluster', Value: 'reporting' }],
      /tagged pgfailover:cluster=reporting, not pgfailover:cluster=prod/,
    ],
    [
      'not tagged: refused, saying how to fix it',
      [{ Key: 'Name', Value: 'db2' }],
      /not tagged pgfailover:cluster.*tag it so/,
    ],
    ['no tags at all: refused', undefined, /not tagged pgfailover:cluster/],
  ])('%s', (_what, tags, problem) => {
    // Act
    const found = notClustersOwn('ENI eni-0b2 of node db2', tags, 'prod');
    // Assess
    if (problem) expect(found).toMatch(problem);
    else expect(found).toBeUndefined();
  });
});

describe('the check before a move or a stop', () => {
  it("moves to the cluster's own ENI, and never to another's", async () => {
    // Prepare
    const moved: string[] = [];
    const check = new ClusterTagCheck(new EC2Client({ region: 'eu-west-1' }), async () => undefined);
    const mover = check.guardMover({ moveTo: async (t) => void moved.push(t.host?.eniId ?? '') });
    ec2Mock
      .on(DescribeNetworkInterfacesCommand, { NetworkInterfaceIds: ['eni-own'] })
      .resolves({ NetworkInterfaces: [{ TagSet: [{ Key: 'pgfailover:cluster', Value: 'prod' }] }] })
      .on(DescribeNetworkInterfacesCommand, { NetworkInterfaceIds: ['eni-other'] })
      .resolves({ NetworkInterfaces: [{ TagSet: [{ Key: 'pgfailover:cluster', Value: 'reporting' }] }] });
    // Act
    await mover.moveTo(target({ eniId: 'eni-own' }));
    const refused = await mover.moveTo(target({ eniId: 'eni-other' })).catch((error: unknown) => error);
    // Assess
    expect(moved).toEqual(['eni-own']);
    expect(refused).toBeInstanceOf(NotClustersOwnError);
    expect(String(refused)).toMatch(/ENI eni-other of node db2 is tagged pgfailover:cluster=reporting/);
  });

  it("stops only the cluster's own instance, judged by the instance's tags even when an ENI is known", async () => {
    // Prepare
    const stopped: string[] = [];
    const check = new ClusterTagCheck(new EC2Client({ region: 'eu-west-1' }), async () => undefined);
    const fencer = check.guardFencer({
      stop: async (t) => {
        stopped.push(t.host?.instanceId ?? '');
        return 'stopping';
      },
    });
    ec2Mock
      .on(DescribeInstancesCommand, { InstanceIds: ['i-own'] })
      .resolves({ Reservations: [{ Instances: [{ Tags: [{ Key: 'pgfailover:cluster', Value: 'prod' }] }] }] })
      .on(DescribeInstancesCommand, { InstanceIds: ['i-untagged'] })
      .resolves({ Reservations: [{ Instances: [{ Tags: [] }] }] });
    // Act
    await fencer.stop(target({ instanceId: 'i-own', eniId: 'eni-x' }));
    const refused = await fencer.stop(target({ instanceId: 'i-untagged' })).catch((error: unknown) => error);
    // Assess
    expect(stopped).toEqual(['i-own']);
    expect(String(refused)).toMatch(/instance i-untagged of node db2 is not tagged pgfailover:cluster/);
    expect(ec2Mock.commandCalls(DescribeNetworkInterfacesCommand)).toHaveLength(0);
  });
});
