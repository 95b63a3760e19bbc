// The lab's address mover: what the EC2 API does for a secondary IP (AssignPrivateIpAddresses with
// AllowReassignment), the router does here: traffic for the cluster address goes to the new holder's
// link only, from this moment, whatever the old holder's interface still carries. The agent brings the
// address up on its own interface (agent/node-ops.ts holdAddress), the same code path as on EC2.

import { parseNodeAddress } from '../../core/node-address.ts';
import type { AddressMover, AddressTarget } from '../../core/ports.ts';
import { addressHolderIp, routeAddressTo } from './lab-network.ts';

export class LabAddressMover implements AddressMover {
  constructor(
    private readonly routerNetns: string,
    private readonly address: string,
  ) {}

  async moveTo(target: AddressTarget): Promise<void> {
    const { host } = parseNodeAddress(target.address);
    await routeAddressTo(this.routerNetns, this.address, host);
    // Verify, as the EC2 movers describe the address after moving it.
    const holder = await addressHolderIp(this.routerNetns, this.address);
    if (holder !== host)
      throw new Error(
        `the lab router sends ${this.address} to ${holder ?? 'nobody'}, not to ${target.nodeId} (${host})`,
      );
  }
}
