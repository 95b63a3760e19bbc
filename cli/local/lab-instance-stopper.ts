// The lab's stand-in for stopping an EC2 instance (fencing "ec2-stop"): every process inside the node's
// network namespace is killed at once (its agent, its watchdog, its PostgreSQL), as a forced power-off
// would, and the node counts as stopped once none is left. The namespace itself stays, as a stopped
// instance keeps its ENI; `local heal` and a rejoin bring the node back.

import { signalAll } from '../../agent/server-control.ts';
import type { AddressTarget, NodeFencer } from '../../core/ports.ts';
import { pidsInNetns } from './lab-network.ts';
import type { LocalClusterState } from './local-cluster.ts';

export class LabInstanceStopper implements NodeFencer {
  constructor(private readonly state: LocalClusterState) {}

  async stop(target: AddressTarget): Promise<'stopped' | 'stopping'> {
    const netns = this.state.nodes.find((node) => node.name === target.nodeId)?.netns;
    if (!netns) throw new Error(`node ${target.nodeId} has no namespace in this lab`);
    signalAll(await pidsInNetns(netns), 'SIGKILL');
    return (await pidsInNetns(netns)).length === 0 ? 'stopped' : 'stopping';
  }
}
