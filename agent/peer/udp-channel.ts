// The peer channel over UDP: a datagram per message, so that a partition drops it as it would drop a
// packet (no connection to hang on, no retransmission to arrive late), and a lost one is simply asked again
// next round. Messages are signed (peer-messages.ts); those from a node not listed in peerLeases.peers,
// badly signed or addressed elsewhere are dropped and said once in the log.

import { createSocket, type Socket } from 'node:dgram';
import { parseNodeAddress } from '../../core/node-address.ts';
import type { PeerChannel } from '../ports/peer-channel.ts';
import { decodeMessage, encodeMessage, type PeerMessage } from './peer-messages.ts';
import { sayOnce } from './say-once.ts';

export interface UdpChannelOptions {
  cluster: string;
  nodeId: string;
  key: string;
  listen: string;
  /** host:port of every other member's agent. */
  peers: Record<string, string>;
  warn: (message: string) => void;
}

export class UdpChannel implements PeerChannel {
  private readonly listeners: ((message: PeerMessage) => void)[] = [];
  private closed = false;
  /** Said once per distinct line: a sender can repeat a bad datagram many times a second. */
  private readonly warnOnce: (line: string) => void;

  private constructor(
    private readonly socket: Socket,
    private readonly options: UdpChannelOptions,
  ) {
    this.warnOnce = sayOnce(options.warn);
    socket.on('message', (datagram, sender) => this.receive(datagram, `${sender.address}:${sender.port}`));
    // A send to an unreachable peer surfaces here on some systems: the round simply goes unanswered.
    socket.on('error', (error) => this.warnOnce(`peer channel: ${error.message}`));
  }

  /** Binds the listening socket; fails (EADDRINUSE, EACCES) before the agent starts rather than mid-outage. */
  static async open(options: UdpChannelOptions): Promise<UdpChannel> {
    const { host, port } = parseNodeAddress(options.listen);
    const socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new UdpChannel(socket, options);
  }

  send(nodeId: string, message: PeerMessage): void {
    const address = this.options.peers[nodeId];
    // An answer whose withdrawal outlived the agent's stop has nowhere to go: dropped, as a lost datagram.
    if (!address || this.closed) return;
    const { host, port } = parseNodeAddress(address);
    this.socket.send(encodeMessage(this.options.key, message), port, host, (error) => {
      if (error) this.warnOnce(`peer channel: cannot send to ${nodeId} at ${address}: ${error.message}`);
    });
  }

  onMessage(listener: (message: PeerMessage) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private receive(datagram: Buffer, sender: string): void {
    const decoded = decodeMessage(this.options.key, datagram, this.options);
    if (!decoded.ok) {
      this.warnOnce(`peer channel: dropped a message from ${sender}: ${decoded.problem}`);
      return;
    }
    if (!(decoded.message.from in this.options.peers)) {
      this.warnOnce(
        `peer channel: dropped a message from ${decoded.message.from} at ${sender}: not in peerLeases.peers; add it on every member`,
      );
      return;
    }
    for (const listener of this.listeners) listener(decoded.message);
  }
}
