// The port to the other members' agents (peer leases): signed datagrams, one per ask or answer. The real
// adapter is agent/peer/udp-channel.ts; the tests and the simulation wire their own.

import type { PeerMessage } from '../peer/peer-messages.ts';

export interface PeerChannel {
  /** Sends `message` to `nodeId`'s agent; a message that cannot leave is dropped, as the network would. */
  send(nodeId: string, message: PeerMessage): void;
  /** Every verified message addressed to this node. */
  onMessage(listener: (message: PeerMessage) => void): void;
  close(): Promise<void>;
}
