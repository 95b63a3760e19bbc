// fencing "ec2-stop": the evaluator's fence through the EC2 API, with aws-sdk-client-mock: the exact
// requests, and what a person is told when AWS refuses.

import { DescribeInstancesCommand, EC2Client, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AwsSetupError } from '../../core/aws-errors.ts';
import type { AddressTarget } from '../../core/ports.ts';
import { Ec2InstanceStopper } from '../../lambdas/adapters/ec2-instance-stopper.ts';

const ec2Mock = mockClient(EC2Client);
const noWait = async () => undefined;
const target: AddressTarget = {
  cluster: 'prod',
  nodeId: 'db1',
  address: '10.0.1.10',
  host: {
    hostname: 'db1',
    address: '10.0.1.10',
    dbPort: 5432,
    privateIp: '10.0.1.10',
    instanceId: 'i-0a1',
    eniId: 'eni-0a1',
  },
};
const stopper = () => new Ec2InstanceStopper(new EC2Client({ region: 'eu-west-1' }), noWait);
const inState = (name: 'running' | 'stopping' | 'stopped' | 'terminated') => ({
  Reservations: [{ Instances: [{ InstanceId: 'i-0a1', State: { Name: name } }] }],
});

beforeEach(() => {
  ec2Mock.reset();
});

describe('Ec2InstanceStopper', () => {
  it('force-stops a running instance and says it is stopping', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves(inState('running'));
    ec2Mock.on(StopInstancesCommand).resolves({});
    // Act
    const result = await stopper().stop(target);
    // Assess
    expect(result).toBe('stopping');
    expect(ec2Mock.commandCalls(DescribeInstancesCommand)[0]?.args[0].input).toEqual({ InstanceIds: ['i-0a1'] });
    expect(ec2Mock.commandCalls(StopInstancesCommand).map((call) => call.args[0].input)).toEqual([
      { InstanceIds: ['i-0a1'], Force: true },
    ]);
  });

  it.each([
    ['stopping', 'stopping'],
    ['stopped', 'stopped'],
    ['terminated', 'stopped'],
  ] as const)('does not ask again for an instance already %s', async (state, result) => {
    ec2Mock.on(DescribeInstancesCommand).resolves(inState(state));
    expect(await stopper().stop(target)).toBe(result);
    expect(ec2Mock.commandCalls(StopInstancesCommand)).toHaveLength(0);
  });

  it('retries throttling', async () => {
    ec2Mock
      .on(DescribeInstancesCommand)
      .rejectsOnce(Object.assign(new Error('slow down'), { name: 'RequestLimitExceeded' }))
      .resolves(inState('stopped'));
    expect(await stopper().stop(target)).toBe('stopped');
  });

  it('names the missing permission when AWS refuses', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves(inState('running'));
    ec2Mock
      .on(StopInstancesCommand)
      .rejects(Object.assign(new Error('not allowed'), { name: 'UnauthorizedOperation' }));
    await expect(stopper().stop(target)).rejects.toThrow(
      /ec2:StopInstances on i-0a1 was refused \(UnauthorizedOperation\): grant ec2:StopInstances/,
    );
  });

  it('refuses a node that reports no instance id, saying how to fix it', async () => {
    await expect(stopper().stop({ ...target, host: { ...target.host!, instanceId: null } })).rejects.toThrow(
      AwsSetupError,
    );
    await expect(stopper().stop({ ...target, host: null })).rejects.toThrow(/reports no instance id.*aws\.instanceId/);
    expect(ec2Mock.calls()).toHaveLength(0);
  });
});
