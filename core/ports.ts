// The evaluator's side effects, one small port each. Adapters take their clients and names through
// their constructors: the local mode's live in cli/local/, AWS's in lambdas/.

import type { Notice } from './notices.ts';
import type { HeartbeatRecord } from './records.ts';

export interface AddressTarget {
  cluster: string;
  nodeId: string;
  /** The node's allowed address ("host[:port]"). */
  address: string;
  /** Host facts from its last heartbeat (instance and ENI ids on EC2), when known. */
  host: HeartbeatRecord['host'] | null;
}

/** Moves the cluster's address (EIP, secondary IP, route, or the local forwarder) to a node. Idempotent. */
export interface AddressMover {
  moveTo(target: AddressTarget): Promise<void>;
}

/**
 * Stops a node from outside it, as powering its instance off does (fencing "ec2-stop"): the evaluator's
 * fence for a primary (or a candidate) whose own agent may be frozen or dead. Idempotent: each call asks
 * again and says whether the node is stopped yet.
 */
export interface NodeFencer {
  stop(target: AddressTarget): Promise<'stopped' | 'stopping'>;
}

export interface Notifier {
  notify(cluster: string, notice: Notice): Promise<void>;
}

/** For clusters that manage no address. */
export const noAddressMover: AddressMover = {
  async moveTo() {
    // Nothing to move: the cluster's address mode is "none".
  },
};
