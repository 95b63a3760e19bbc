// Silent faults for the tests, with the real kernel: packets dropped by iptables (no FIN, no RST: the
// connections hang until some timeout, as in a real partition), processes paused with SIGSTOP. Every
// rule lives in one chain of its own, which remove() deletes, also when the test fails.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { sqlTarget } from '../../cli/local/local-cluster.ts';
import type { SqlTarget } from '../../cli/local/superuser-sql.ts';
import type { ClusterContext } from './local-cluster.ts';

const run = promisify(execFile);

/** A chain hooked into OUTPUT for loopback traffic; each cut drops a TCP port's packets both ways. */
export class LoopbackCut {
  private readonly chain = `PGF-TEST-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  private installed = false;

  static async available(): Promise<boolean> {
    try {
      await run('iptables', ['-S', 'OUTPUT']);
      return true;
    } catch {
      return false;
    }
  }

  private async iptables(...args: string[]): Promise<void> {
    await run('iptables', ['-w', ...args]);
  }

  /** Drops, silently, every packet to or from these loopback ports (the links a node is reached by). */
  async cut(ports: number[]): Promise<void> {
    if (!this.installed) {
      await this.iptables('-N', this.chain);
      this.installed = true;
      await this.iptables('-I', 'OUTPUT', '-o', 'lo', '-j', this.chain);
    }
    for (const port of ports) {
      await this.iptables('-A', this.chain, '-p', 'tcp', '--dport', String(port), '-j', 'DROP');
      await this.iptables('-A', this.chain, '-p', 'tcp', '--sport', String(port), '-j', 'DROP');
    }
  }

  async heal(): Promise<void> {
    if (this.installed) await this.iptables('-F', this.chain);
  }

  async remove(): Promise<void> {
    if (!this.installed) return;
    await this.iptables('-D', 'OUTPUT', '-o', 'lo', '-j', this.chain).catch(() => undefined);
    await this.iptables('-F', this.chain).catch(() => undefined);
    await this.iptables('-X', this.chain).catch(() => undefined);
    this.installed = false;
  }
}

export function pause(pid: number): void {
  process.kill(pid, 'SIGSTOP');
}

export function resume(pid: number): void {
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    // Gone meanwhile.
  }
}

/**
 * Samples every database node's server directly (its socket or own port, never through a cut link) every
 * `everyMs`, and records each moment when more than one of them accepted writes. A node counts as
 * writable when it answers and is not in recovery; a paused or stopped one does not answer.
 */
export class WritableSampler {
  samples = 0;
  readonly overlaps: string[] = [];
  readonly writableSeen = new Set<string>();
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly cluster: ClusterContext,
    private readonly password: string,
    private readonly everyMs = 100,
  ) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const startedAt = Date.now();
        const nodes = this.cluster.state.nodes.filter((node) => node.port !== null);
        const writable = (await Promise.all(nodes.map(async (node) => ((await this.isWritable(sqlTarget(node))) ? node.name : null)))).filter((name): name is string => name !== null);
        this.samples++;
        for (const name of writable) this.writableSeen.add(name);
        if (writable.length > 1) this.overlaps.push(`${new Date(startedAt).toISOString()}: ${writable.join(' and ')} both accept writes`);
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, this.everyMs - (Date.now() - startedAt))));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async isWritable(target: SqlTarget): Promise<boolean> {
    const client = new pg.Client({ ...target, user: 'postgres', database: 'postgres', password: this.password, connectionTimeoutMillis: 300, query_timeout: 300 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const rows = (await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery')).rows;
      return rows[0]?.recovery === false;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
