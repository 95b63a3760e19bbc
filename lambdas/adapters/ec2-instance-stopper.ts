// fencing "ec2-stop": the evaluator's fence for a node whose own agent may be frozen or dead, as
// Pacemaker's fence_aws does it: a forced stop of the node's instance (no clean shutdown: the point is
// that the old primary stops accepting writes now), confirmed by describing the instance until it is
// stopped. Idempotent: every evaluation round asks again until the instance reports stopped.

import { DescribeInstancesCommand, StopInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { AwsSetupError, callAws } from '../../core/aws-errors.ts';
import type { AddressTarget, NodeFencer } from '../../core/ports.ts';

export class Ec2InstanceStopper implements NodeFencer {
  constructor(
    private readonly ec2: EC2Client,
    private readonly sleep?: (ms: number) => Promise<void>,
  ) {}

  async stop(target: AddressTarget): Promise<'stopped' | 'stopping'> {
    const instanceId = target.host?.instanceId;
    if (!instanceId)
      throw new AwsSetupError(
        `node ${target.nodeId} reports no instance id, so it cannot be stopped from outside; run its agent on EC2 (it reads the id from instance metadata) or set aws.instanceId in its config`,
      );
    const described = await callAws(
      'ec2:DescribeInstances',
      instanceId,
      () => this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })),
      { sleep: this.sleep },
    );
    const state = described.Reservations?.[0]?.Instances?.[0]?.State?.Name;
    // A stopped or terminated instance runs no database.
    if (state === 'stopped' || state === 'terminated') return 'stopped';
    if (state !== 'stopping') {
      await callAws(
        'ec2:StopInstances',
        instanceId,
        () => this.ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId], Force: true })),
        { sleep: this.sleep },
      );
    }
    return 'stopping';
  }
}
