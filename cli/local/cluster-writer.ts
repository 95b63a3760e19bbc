// Clients that commit numbered rows and remember which commits were acknowledged: the drills' and the
// nemesis' measure of write availability and of lost writes. On loopback the writer runs in this
// process; in the lab it runs inside the client namespace (cli/local/lab-client.ts), so that it reaches
// the cluster only over the lab's network, as an application would.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { inNetns } from './lab-network.ts';
import { clusterAddress, type LocalClusterState } from './local-cluster.ts';
import { nodeArgsFor } from './processes.ts';
import type { SqlTarget } from './superuser-sql.ts';
import { writeRows } from './row-writer.ts';

const LAB_CLIENT = fileURLToPath(new URL('./lab-client.ts', import.meta.url));

export interface Ack {
  id: number;
  atMs: number;
}

export interface ClusterWriter {
  readonly acked: Ack[];
  start(): void;
  stop(): Promise<void>;
}

/** Writes through the cluster address (or, with `to`, straight to one "host:port" of the lab). */
export function clusterWriter(
  state: LocalClusterState,
  dir: string,
  table: string,
  password: string,
  options: { to?: string; firstId?: number } = {},
): ClusterWriter {
  if (state.lab) {
    const [host, port] = (options.to ?? clusterAddress(state)).split(':') as [string, string];
    return new LabWriter(
      state.lab.appNetns,
      host,
      Number(port),
      join(dir, 'secrets', 'superuser.password'),
      table,
      options.firstId ?? 1,
    );
  }
  return new InProcessWriter(
    { host: '127.0.0.1', port: state.addressPort ?? 0 },
    password,
    table,
    options.firstId ?? 1,
  );
}

/**
 * A writer inside a lab namespace committing to `hosts` ("ip:port", comma-separated): whichever accepts.
 * The benchmark's writer for other failover managers' clusters, the same client as pgfailover's.
 */
export function labWriter(netns: string, hosts: string[], passwordFile: string, table: string): ClusterWriter {
  return new LabWriter(netns, hosts.join(','), 5432, passwordFile, table, 1);
}

class InProcessWriter implements ClusterWriter {
  readonly acked: Ack[] = [];
  private running = true;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly target: SqlTarget,
    private readonly password: string,
    private readonly table: string,
    private readonly next: number,
  ) {}

  start(): void {
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  private async loop(): Promise<void> {
    await writeRows({
      target: this.target,
      password: this.password,
      table: this.table,
      firstId: this.next,
      running: () => this.running,
      onAck: (id, atMs) => this.acked.push({ id, atMs }),
    });
  }
}

class LabWriter implements ClusterWriter {
  readonly acked: Ack[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly netns: string,
    private readonly host: string,
    private readonly port: number,
    private readonly passwordFile: string,
    private readonly table: string,
    private readonly firstId: number,
  ) {}

  start(): void {
    const [bin, args] = inNetns(
      this.netns,
      process.execPath,
      nodeArgsFor(LAB_CLIENT, [this.host, String(this.port), this.passwordFile, this.table, String(this.firstId)]),
    );
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const ack = JSON.parse(line) as { id?: unknown; atMs?: unknown };
        if (typeof ack.id === 'number' && typeof ack.atMs === 'number') this.acked.push({ id: ack.id, atMs: ack.atMs });
      } catch {
        // Not one of ours.
      }
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(killer);
  }
}
