// TCP forwarders on 127.0.0.1 that stand in for the network in the local mode.
// - The cluster's address (the stand-in for an Elastic IP) forwards every new connection to the current
//   primary; moving it cuts the connections to the old target, as moving an IP address does.
// - Each node's links (its database as peers see it, and its way to the state store) can be cut, which is
//   how a drill isolates a node from the cluster while its database keeps running.

import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { parseNodeAddress, type HostPort } from '../../core/node-address.ts';
import type { AddressMover, AddressTarget } from '../../core/ports.ts';

export class TcpForwarder {
  private target: HostPort | undefined;
  private isCut = false;
  private readonly open = new Set<Socket>();
  private server: Server | undefined;

  constructor(
    readonly port: number,
    target?: HostPort,
  ) {
    this.target = target;
  }

  async listen(): Promise<void> {
    this.server = createServer((client) => this.forward(client));
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  /** Points new connections elsewhere and drops the ones open to the old target. */
  retarget(target: HostPort): void {
    if (this.target?.host === target.host && this.target.port === target.port) return;
    this.target = target;
    this.dropAll();
  }

  /** Cut: every open connection is dropped and new ones are closed at once (a partition). */
  setCut(cut: boolean): void {
    if (cut && !this.isCut) this.dropAll();
    this.isCut = cut;
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private dropAll(): void {
    for (const socket of this.open) socket.destroy();
    this.open.clear();
  }

  private forward(client: Socket): void {
    const target = this.target;
    if (!target || this.isCut) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: target.host, port: target.port });
    for (const socket of [client, upstream]) {
      this.open.add(socket);
      socket.on('close', () => this.open.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/** The `local` address mover: the cluster address follows the primary. */
export class LocalAddressForwarder implements AddressMover {
  private targetNode: string | undefined;

  constructor(private readonly forwarder: TcpForwarder) {}

  async moveTo(target: AddressTarget): Promise<void> {
    this.forwarder.retarget(parseNodeAddress(target.address));
    this.targetNode = target.nodeId;
  }

  currentTarget(): string | undefined {
    return this.targetNode;
  }
}
