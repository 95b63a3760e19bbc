// The members' peer-lease channels over the simulated network: a datagram crosses a link after a latency
// (dropped if the link is cut, or if the addressee has no agent running), and is handled only once the
// addressee's agent is not paused. Messages are not signed here: the signing is tested on its own.

import type { PeerChannel } from '../agent/ports/peer-channel.ts';
import type { PeerMessage } from '../agent/peer/peer-messages.ts';
import { sleepMs } from '../core/deadline.ts';
import type { Network } from './network.ts';

export class PeerHub {
  /** Each host's current agent: its process name and what it listens with. */
  private readonly listening = new Map<string, { process: string; listeners: ((m: PeerMessage) => void)[] }>();

  constructor(private readonly network: Network) {}

  /** The channel of `name`'s agent running as `process` (a restarted agent gets a new one). */
  channelFor(name: string, process: string): PeerChannel {
    const entry = { process, listeners: [] as ((m: PeerMessage) => void)[] };
    this.listening.set(name, entry);
    return {
      send: (nodeId, message) => void this.deliver(name, process, nodeId, message),
      onMessage: (listener) => void entry.listeners.push(listener),
      close: async () => {
        if (this.listening.get(name) === entry) this.listening.delete(name);
      },
    };
  }

  private async deliver(from: string, process: string, to: string, message: PeerMessage): Promise<void> {
    if (this.network.isPaused(process) || !this.network.up(from, to)) return;
    await sleepMs(this.network.latencyMs());
    if (!this.network.up(from, to)) return;
    const target = this.listening.get(to);
    if (!target) return;
    await this.network.gate(target.process);
    // Still the agent it was sent to (not one restarted since, which never heard the ask).
    if (this.listening.get(to) !== target) return;
    for (const listener of target.listeners) listener(message);
  }
}
