// The AWS address movers. Each is idempotent (moving to where the address already is does nothing),
// retries throttling, verifies the move, and names what is missing when AWS refuses.

import {
  AssignPrivateIpAddressesCommand,
  AssociateAddressCommand,
  CreateRouteCommand,
  DescribeAddressesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeRouteTablesCommand,
  ReplaceRouteCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import type { AddressMover, AddressTarget } from '../../core/ports.ts';
import { AwsSetupError, callAws } from '../../core/aws-errors.ts';

type Sleep = (ms: number) => Promise<void>;

function requireEni(target: AddressTarget): string {
  const eni = target.host?.eniId;
  if (!eni)
    throw new AwsSetupError(
      `node ${target.nodeId} reports no ENI id; run its agent on EC2 (it reads the ENI from instance metadata) or set aws.eniId in its config`,
    );
  return eni;
}

/** `eip`: re-associate an Elastic IP with the new primary's ENI (or instance), then check it is there. */
export class ElasticIpMover implements AddressMover {
  constructor(
    private readonly ec2: EC2Client,
    private readonly allocationId: string,
    private readonly sleep?: Sleep,
  ) {}

  async moveTo(target: AddressTarget): Promise<void> {
    const eni = target.host?.eniId ?? undefined;
    const instance = target.host?.instanceId ?? undefined;
    if (!eni && !instance)
      throw new AwsSetupError(
        `node ${target.nodeId} reports no instance or ENI id; run its agent on EC2 or set aws.instanceId / aws.eniId in its config`,
      );
    const where = `Elastic IP ${this.allocationId}`;
    const holds = async () => {
      const described = await callAws(
        'ec2:DescribeAddresses',
        where,
        () => this.ec2.send(new DescribeAddressesCommand({ AllocationIds: [this.allocationId] })),
        { sleep: this.sleep },
      );
      const address = described.Addresses?.[0];
      return eni ? address?.NetworkInterfaceId === eni : address?.InstanceId === instance;
    };
    if (await holds()) return;
    await callAws(
      'ec2:AssociateAddress',
      where,
      () =>
        this.ec2.send(
          new AssociateAddressCommand({
            AllocationId: this.allocationId,
            AllowReassociation: true,
            ...(eni ? { NetworkInterfaceId: eni } : { InstanceId: instance }),
          }),
        ),
      { sleep: this.sleep },
    );
    if (!(await holds()))
      throw new Error(
        `${where} is not on ${eni ?? instance} after AssociateAddress; it may have been moved again by someone else`,
      );
  }
}

/** `secondary-ip`: reassign a secondary private IP to the new primary's ENI (same subnet only). */
export class SecondaryIpMover implements AddressMover {
  constructor(
    private readonly ec2: EC2Client,
    private readonly privateIp: string,
    private readonly sleep?: Sleep,
  ) {}

  async moveTo(target: AddressTarget): Promise<void> {
    const eni = requireEni(target);
    const holds = async () => {
      const described = await callAws(
        'ec2:DescribeNetworkInterfaces',
        eni,
        () => this.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eni] })),
        { sleep: this.sleep },
      );
      return (
        described.NetworkInterfaces?.[0]?.PrivateIpAddresses?.some(
          (entry) => entry.PrivateIpAddress === this.privateIp,
        ) ?? false
      );
    };
    if (await holds()) return;
    await callAws(
      'ec2:AssignPrivateIpAddresses',
      `${eni} (address ${this.privateIp})`,
      () =>
        this.ec2.send(
          new AssignPrivateIpAddressesCommand({
            NetworkInterfaceId: eni,
            PrivateIpAddresses: [this.privateIp],
            AllowReassignment: true,
          }),
        ),
      { sleep: this.sleep },
    );
    if (!(await holds())) throw new Error(`${this.privateIp} is not on ${eni} after AssignPrivateIpAddresses`);
  }
}

/** `route-table`: point each route table's route for an overlay address (outside the VPC CIDR) at the new primary's ENI. */
export class RouteTableMover implements AddressMover {
  constructor(
    private readonly ec2: EC2Client,
    private readonly overlayIp: string,
    private readonly routeTableIds: readonly string[],
    private readonly sleep?: Sleep,
  ) {}

  async moveTo(target: AddressTarget): Promise<void> {
    const eni = requireEni(target);
    const destination = this.overlayIp.includes('/') ? this.overlayIp : `${this.overlayIp}/32`;
    for (const routeTableId of this.routeTableIds) {
      const route = async () => {
        const described = await callAws(
          'ec2:DescribeRouteTables',
          routeTableId,
          () => this.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [routeTableId] })),
          { sleep: this.sleep },
        );
        return described.RouteTables?.[0]?.Routes?.find((entry) => entry.DestinationCidrBlock === destination);
      };
      const existing = await route();
      if (existing?.NetworkInterfaceId === eni) continue;
      // The first move ever creates the route; every later one replaces it.
      if (existing) {
        await callAws(
          'ec2:ReplaceRoute',
          routeTableId,
          () =>
            this.ec2.send(
              new ReplaceRouteCommand({
                RouteTableId: routeTableId,
                DestinationCidrBlock: destination,
                NetworkInterfaceId: eni,
              }),
            ),
          { sleep: this.sleep },
        );
      } else {
        await callAws(
          'ec2:CreateRoute',
          routeTableId,
          () =>
            this.ec2.send(
              new CreateRouteCommand({
                RouteTableId: routeTableId,
                DestinationCidrBlock: destination,
                NetworkInterfaceId: eni,
              }),
            ),
          { sleep: this.sleep },
        );
      }
      if ((await route())?.NetworkInterfaceId !== eni)
        throw new Error(`the route for ${destination} in ${routeTableId} does not point at ${eni} after ReplaceRoute`);
    }
  }
}
