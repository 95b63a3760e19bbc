import {
  AssignPrivateIpAddressesCommand,
  AssociateAddressCommand,
  CreateRouteCommand,
  DescribeAddressesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeRouteTablesCommand,
  EC2Client,
  ReplaceRouteCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AddressTarget } from '../../core/ports.ts';
import { AwsSetupError } from '../../core/aws-errors.ts';
import { ElasticIpMover, RouteTableMover, SecondaryIpMover } from '../../lambdas/adapters/ec2-address-movers.ts';
import { moverFor } from '../../lambdas/evaluator/handler.ts';
import { clusterRecord, ec2Target } from '../support/fixtures.ts';

const ec2Mock = mockClient(EC2Client);
const noWait = async () => undefined;
const target: AddressTarget = ec2Target({ eniId: 'eni-0b2', instanceId: 'i-0b2', privateIp: '10.0.1.11' });
const awsError = (name: string) => Object.assign(new Error(`${name} from AWS`), { name });

beforeEach(() => {
  ec2Mock.reset();
});

describe('ElasticIpMover', () => {
  it('re-associates the Elastic IP with the new primary ENI, allowing reassociation, and verifies it', async () => {
    // Prepare
    ec2Mock
      .on(DescribeAddressesCommand)
      .resolvesOnce({ Addresses: [{ AllocationId: 'eipalloc-01', NetworkInterfaceId: 'eni-0a1' }] })
      .resolves({ Addresses: [{ AllocationId: 'eipalloc-01', NetworkInterfaceId: 'eni-0b2' }] });
    ec2Mock.on(AssociateAddressCommand).resolves({ AssociationId: 'eipassoc-1' });
    // Act
    await new ElasticIpMover(new EC2Client({ region: 'eu-west-1' }), 'eipalloc-01', noWait).moveTo(target);
    // Assess
    expect(ec2Mock.commandCalls(AssociateAddressCommand).map((call) => call.args[0].input)).toEqual([
      { AllocationId: 'eipalloc-01', AllowReassociation: true, NetworkInterfaceId: 'eni-0b2' },
    ]);
    expect(ec2Mock.commandCalls(DescribeAddressesCommand)[0]?.args[0].input).toEqual({
      AllocationIds: ['eipalloc-01'],
    });
  });

  it('does nothing when the address is already there (idempotent)', async () => {
    ec2Mock
      .on(DescribeAddressesCommand)
      .resolves({ Addresses: [{ AllocationId: 'eipalloc-01', NetworkInterfaceId: 'eni-0b2' }] });
    const mover = new ElasticIpMover(new EC2Client({ region: 'eu-west-1' }), 'eipalloc-01', noWait);
    await mover.moveTo(target);
    await mover.moveTo(target);
    expect(ec2Mock.commandCalls(AssociateAddressCommand)).toHaveLength(0);
  });

  it('retries a throttled call with backoff', async () => {
    ec2Mock
      .on(DescribeAddressesCommand)
      .resolvesOnce({ Addresses: [{}] })
      .resolves({ Addresses: [{ NetworkInterfaceId: 'eni-0b2' }] });
    ec2Mock.on(AssociateAddressCommand).rejectsOnce(awsError('RequestLimitExceeded')).resolves({});
    await new ElasticIpMover(new EC2Client({ region: 'eu-west-1' }), 'eipalloc-01', noWait).moveTo(target);
    expect(ec2Mock.commandCalls(AssociateAddressCommand)).toHaveLength(2);
  });

  it.each([
    [
      'UnauthorizedOperation',
      /ec2:AssociateAddress on Elastic IP eipalloc-01 was refused \(UnauthorizedOperation\): grant ec2:AssociateAddress/,
    ],
    ['InvalidAllocationID.NotFound', /Elastic IP eipalloc-01 does not exist \(InvalidAllocationID\.NotFound\)/],
  ])('turns %s into a setup error that names what is missing', async (code, message) => {
    ec2Mock.on(DescribeAddressesCommand).resolves({ Addresses: [{}] });
    ec2Mock.on(AssociateAddressCommand).rejects(awsError(code));
    const move = new ElasticIpMover(new EC2Client({ region: 'eu-west-1' }), 'eipalloc-01', noWait).moveTo(target);
    await expect(move).rejects.toThrow(AwsSetupError);
    await expect(
      new ElasticIpMover(new EC2Client({ region: 'eu-west-1' }), 'eipalloc-01', noWait).moveTo(target),
    ).rejects.toThrow(message);
    expect(ec2Mock.commandCalls(AssociateAddressCommand)).toHaveLength(2);
  });

  it('fails when the verification does not see the address on the new primary', async () => {
    ec2Mock.on(DescribeAddressesCommand).resolves({ Addresses: [{ NetworkInterfaceId: 'eni-0a1' }] });
    ec2Mock.on(AssociateAddressCommand).resolves({});
    await expect(
      new ElasticIpMover(new EC2Client({ region: 'eu-west-1' }), 'eipalloc-01', noWait).moveTo(target),
    ).rejects.toThrow(/is not on eni-0b2 after AssociateAddress/);
  });

  it('refuses a node that reports no instance or ENI id', async () => {
    await expect(
      new ElasticIpMover(new EC2Client({ region: 'eu-west-1' }), 'eipalloc-01', noWait).moveTo({
        ...target,
        host: null,
      }),
    ).rejects.toThrow(/reports no instance or ENI id/);
    expect(ec2Mock.calls()).toHaveLength(0);
  });
});

describe('SecondaryIpMover', () => {
  it('reassigns the secondary IP to the new primary ENI with AllowReassignment, and verifies it', async () => {
    ec2Mock
      .on(DescribeNetworkInterfacesCommand)
      .resolvesOnce({ NetworkInterfaces: [{ PrivateIpAddresses: [{ PrivateIpAddress: '10.0.1.11' }] }] })
      .resolves({
        NetworkInterfaces: [
          { PrivateIpAddresses: [{ PrivateIpAddress: '10.0.1.11' }, { PrivateIpAddress: '10.0.1.100' }] },
        ],
      });
    ec2Mock.on(AssignPrivateIpAddressesCommand).resolves({});
    await new SecondaryIpMover(new EC2Client({ region: 'eu-west-1' }), '10.0.1.100', noWait).moveTo(target);
    expect(ec2Mock.commandCalls(AssignPrivateIpAddressesCommand).map((call) => call.args[0].input)).toEqual([
      { NetworkInterfaceId: 'eni-0b2', PrivateIpAddresses: ['10.0.1.100'], AllowReassignment: true },
    ]);
  });

  it('needs the ENI id', async () => {
    await expect(
      new SecondaryIpMover(new EC2Client({ region: 'eu-west-1' }), '10.0.1.100', noWait).moveTo({
        ...target,
        host: { ...target.host!, eniId: null },
      }),
    ).rejects.toThrow(/reports no ENI id/);
  });
});

describe('RouteTableMover', () => {
  it('replaces the overlay route in every route table to point at the new primary ENI', async () => {
    const before = {
      RouteTables: [{ Routes: [{ DestinationCidrBlock: '192.168.100.10/32', NetworkInterfaceId: 'eni-0a1' }] }],
    };
    const after = {
      RouteTables: [{ Routes: [{ DestinationCidrBlock: '192.168.100.10/32', NetworkInterfaceId: 'eni-0b2' }] }],
    };
    ec2Mock
      .on(DescribeRouteTablesCommand)
      .resolvesOnce(before)
      .resolvesOnce(after)
      .resolvesOnce(before)
      .resolves(after);
    ec2Mock.on(ReplaceRouteCommand).resolves({});
    await new RouteTableMover(
      new EC2Client({ region: 'eu-west-1' }),
      '192.168.100.10',
      ['rtb-0a', 'rtb-0b'],
      noWait,
    ).moveTo(target);
    expect(ec2Mock.commandCalls(ReplaceRouteCommand).map((call) => call.args[0].input)).toEqual([
      { RouteTableId: 'rtb-0a', DestinationCidrBlock: '192.168.100.10/32', NetworkInterfaceId: 'eni-0b2' },
      { RouteTableId: 'rtb-0b', DestinationCidrBlock: '192.168.100.10/32', NetworkInterfaceId: 'eni-0b2' },
    ]);
    expect(ec2Mock.commandCalls(CreateRouteCommand)).toHaveLength(0);
  });

  it('creates the route the first time', async () => {
    ec2Mock
      .on(DescribeRouteTablesCommand)
      .resolvesOnce({ RouteTables: [{ Routes: [] }] })
      .resolves({
        RouteTables: [{ Routes: [{ DestinationCidrBlock: '192.168.100.10/32', NetworkInterfaceId: 'eni-0b2' }] }],
      });
    ec2Mock.on(CreateRouteCommand).resolves({});
    await new RouteTableMover(new EC2Client({ region: 'eu-west-1' }), '192.168.100.10', ['rtb-0a'], noWait).moveTo(
      target,
    );
    expect(ec2Mock.commandCalls(CreateRouteCommand)[0]?.args[0].input).toEqual({
      RouteTableId: 'rtb-0a',
      DestinationCidrBlock: '192.168.100.10/32',
      NetworkInterfaceId: 'eni-0b2',
    });
    expect(ec2Mock.commandCalls(ReplaceRouteCommand)).toHaveLength(0);
  });
});

describe('mover per address mode (the evaluator Lambda wiring)', () => {
  it.each([
    [{ mode: 'eip', value: '203.0.113.7', holderNodeId: null, allocationId: 'eipalloc-01' }, ElasticIpMover],
    [{ mode: 'secondary-ip', value: '10.0.1.100', holderNodeId: null }, SecondaryIpMover],
    [{ mode: 'route-table', value: '192.168.100.10', holderNodeId: null, routeTableIds: ['rtb-0a'] }, RouteTableMover],
  ] as const)('%o -> %o', async (address, kind) => {
    expect(
      moverFor(
        new EC2Client({ region: 'eu-west-1' }),
        clusterRecord({
          address: { ...address, routeTableIds: 'routeTableIds' in address ? [...address.routeTableIds] : undefined },
        }),
      ),
    ).toBeInstanceOf(kind);
  });

  it('names the missing setting when the cluster record lacks it', async () => {
    const mover = moverFor(
      new EC2Client({ region: 'eu-west-1' }),
      clusterRecord({ address: { mode: 'eip', value: '203.0.113.7', holderNodeId: null } }),
    );
    await expect(mover.moveTo(target)).rejects.toThrow(/needs address\.allocationId/);
  });
});
