// The local mode's stand-in for an Elastic IP: a TCP endpoint on 127.0.0.1 that forwards every new
// connection to the current primary. Moving it cuts the connections to the old target, as moving an
// IP address does, so clients reconnect and land on the new primary.

import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { parseNodeAddress, type HostPort } from '../../core/node-address.ts';
import type { AddressMover, AddressTarget } from '../../core/ports.ts';

export class LocalAddressForwarder implements AddressMover {
  private target: HostPort | undefined;
  private targetNode: string | undefined;
  private readonly open = new Set<Socket>();
  private server: Server | undefined;

  constructor(private readonly port: number) {}

  async listen(): Promise<void> {
    this.server = createServer((client) => this.forward(client));
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  async moveTo(target: AddressTarget): Promise<void> {
    const next = parseNodeAddress(target.address);
    if (this.targetNode === target.nodeId && this.target?.port === next.port && this.target.host === next.host) return;
    this.target = next;
    this.targetNode = target.nodeId;
    for (const socket of this.open) socket.destroy();
    this.open.clear();
  }

  currentTarget(): string | undefined {
    return this.targetNode;
  }

  async close(): Promise<void> {
    for (const socket of this.open) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private forward(client: Socket): void {
    const target = this.target;
    if (!target) {
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
