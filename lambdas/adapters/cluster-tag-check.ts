// Before the evaluator moves an address to a node or stops its instance, it checks that the ENI (or the
// instance) it would act on is tagged as the cluster's own. The ENI and instance ids come from the node's
// heartbeat, which its host writes: without this, the credentials of any database host could have the
// evaluator move a cluster's address to any interface in the account, or stop any tagged instance.

import { DescribeInstancesCommand, DescribeNetworkInterfacesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { AwsSetupError, callAws } from '../../core/aws-errors.ts';
import { notClustersOwn } from '../../core/cluster-tag.ts';
import type { AddressMover, AddressTarget, NodeFencer } from '../../core/ports.ts';

export class NotClustersOwnError extends AwsSetupError {
  constructor(message: string) {
    super(message);
    this.name = 'NotClustersOwnError';
  }
}

export class ClusterTagCheck {
  constructor(
    private readonly ec2: EC2Client,
    private readonly sleep?: (ms: number) => Promise<void>,
  ) {}

  /** Throws NotClustersOwnError unless what the action would touch is tagged with `target.cluster`. */
  async requireOwn(target: AddressTarget, use: 'eni-or-instance' | 'instance'): Promise<void> {
    const eni = use === 'eni-or-instance' ? target.host?.eniId : undefined;
    const instance = target.host?.instanceId;
    if (eni) {
      const described = await callAws(
        'ec2:DescribeNetworkInterfaces',
        eni,
        () => this.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eni] })),
        { sleep: this.sleep },
      );
      const problem = notClustersOwn(
        `ENI ${eni} of node ${target.nodeId}`,
        described.NetworkInterfaces?.[0]?.TagSet,
        target.cluster,
      );
      if (problem) throw new NotClustersOwnError(problem);
      return;
    }
    // No id at all: the mover or the fencer refuses it with its own message.
    if (!instance) return;
    const described = await callAws(
      'ec2:DescribeInstances',
      instance,
      () => this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instance] })),
      { sleep: this.sleep },
    );
    const problem = notClustersOwn(
      `instance ${instance} of node ${target.nodeId}`,
      described.Reservations?.[0]?.Instances?.[0]?.Tags,
      target.cluster,
    );
    if (problem) throw new NotClustersOwnError(problem);
  }

  /** `mover`, acting only on the cluster's own ENIs and instances. */
  guardMover(mover: AddressMover): AddressMover {
    return {
      moveTo: async (target) => {
        await this.requireOwn(target, 'eni-or-instance');
        return mover.moveTo(target);
      },
    };
  }

  /** `fencer`, stopping only the cluster's own instances. */
  guardFencer(fencer: NodeFencer): NodeFencer {
    return {
      stop: async (target) => {
        await this.requireOwn(target, 'instance');
        return fencer.stop(target);
      },
    };
  }
}
