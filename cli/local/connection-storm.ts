// A connection storm: another role fills a server's max_connections and keeps it full, as an application's
// pool gone wild does. Every new login of an ordinary role is then refused with SQLSTATE 53300 (the agent's
// check among them, which reports the database UNKNOWN), while sessions already open go on committing and
// the superuser's reserved slots still let the lab's tools in. A freed slot is taken again within a few ms.
// Bounded: it stops by itself after `maxMs`.

import pg from 'pg';
import { superuserQuery, type SqlTarget } from './superuser-sql.ts';

const STORM_ROLE = 'pgf_storm';
const STORM_PASSWORD = 'storm-not-a-secret';
/**
 * How long it waits before trying again once the server is full: often enough to take a freed slot back,
 * seldom enough that its refused attempts (each a backend for a moment) do not use up the superuser's slots.
 */
const REFILL_MS = 25;

export class ConnectionStorm {
  /** The server refused one of this storm's logins because it was full. */
  full = false;
  private readonly clients: pg.Client[] = [];
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly target: SqlTarget,
    private readonly superuserPassword: string,
    private readonly maxMs = 300_000,
  ) {}

  async start(): Promise<void> {
    await superuserQuery(
      this.target,
      this.superuserPassword,
      `DO $$ BEGIN CREATE ROLE ${STORM_ROLE} LOGIN PASSWORD '${STORM_PASSWORD}'; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
    );
    this.running = true;
    const endAt = Date.now() + this.maxMs;
    this.loop = (async () => {
      while (this.running && Date.now() < endAt) {
        const client = new pg.Client({
          ...this.target,
          user: STORM_ROLE,
          password: STORM_PASSWORD,
          database: 'postgres',
          ssl: false,
          connectionTimeoutMillis: 1000,
        });
        client.on('error', () => undefined);
        try {
          await client.connect();
          this.clients.push(client);
        } catch (error) {
          void client.end().catch(() => undefined);
          if ((error as { code?: string }).code === '53300') this.full = true;
          await new Promise((resolve) => setTimeout(resolve, REFILL_MS));
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await Promise.all(this.clients.splice(0).map((client) => client.end().catch(() => undefined)));
  }
}
