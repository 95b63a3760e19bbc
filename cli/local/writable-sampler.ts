// The invariant "never two writable primaries", observed: every database node's server is asked directly
// (through its own Unix socket in the lab, which no network fault touches) every `everyMs` whether it
// accepts writes, and every moment when more than one did is recorded. A node counts as writable when
// it answers and is not in recovery; a paused or stopped one does not answer within the timeout.

import pg from 'pg';
import { sqlTarget, type LocalNode } from './local-cluster.ts';
import type { SqlTarget } from './superuser-sql.ts';

export class WritableSampler {
  samples = 0;
  readonly overlaps: string[] = [];
  /** Every change of the set of writable nodes, with its wall-clock time. */
  readonly changes: { atMs: number; writable: string[] }[] = [];
  private running = false;
  private loop: Promise<void> | undefined;
  private last = '';
  private readonly held = new Map<string, pg.Client>();

  constructor(
    private readonly nodes: readonly LocalNode[],
    private readonly password: string,
    private readonly everyMs = 100,
  ) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const startedAt = Date.now();
        const databases = this.nodes.filter((node) => node.port !== null && node.dataDir !== null);
        const answers = await Promise.all(
          databases.map(async (node) => ((await this.isWritable(sqlTarget(node))) ? node.name : null)),
        );
        const writable = answers.filter((name): name is string => name !== null);
        this.samples++;
        const key = writable.join(',');
        if (key !== this.last) this.changes.push({ atMs: startedAt, writable });
        this.last = key;
        if (writable.length > 1)
          this.overlaps.push(`${new Date(startedAt).toISOString()}: ${writable.join(' and ')} both accept writes`);
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, this.everyMs - (Date.now() - startedAt))));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    const held = [...this.held.values()];
    this.held.clear();
    await Promise.all(held.map((client) => client.end().catch(() => undefined)));
  }

  /**
   * Asked over a connection held from one sample to the next, opened again only once it breaks: a server whose
   * every slot is taken (a connection storm, or commits piling up behind a lost synchronous standby) still
   * answers the sampler, and a session that can still commit is what makes a server writable.
   */
  private async isWritable(target: SqlTarget): Promise<boolean> {
    const key = `${target.host}:${target.port}`;
    let client = this.held.get(key);
    try {
      if (!client) {
        client = new pg.Client({
          ...target,
          user: 'postgres',
          database: 'postgres',
          ssl: false,
          password: this.password,
          connectionTimeoutMillis: 300,
          query_timeout: 300,
        });
        client.on('error', () => undefined);
        this.held.set(key, client);
        await client.connect();
      }
      const rows = (await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery')).rows;
      return rows[0]?.recovery === false;
    } catch {
      this.held.delete(key);
      void client?.end().catch(() => undefined);
      return false;
    }
  }
}
