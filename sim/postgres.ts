// Simulated PostgreSQL servers in streaming replication: what the protocol can observe and break. A
// server's WAL is a list of records (a commit's id, or a marker a promotion or a clean stop writes); a
// standby streams only while its WAL is a prefix of its upstream's (else it has diverged and needs a
// rewind), promotion forks a new timeline with a record of its own, and with synchronous replication a
// commit is acknowledged only once a standby streaming from its primary has received it.

import { formatLsn } from '../core/lsn.ts';
import type { DatabaseFacts } from '../agent/database-facts.ts';
import type { Network } from './network.ts';

const WAL_BASE = 0x3000000n;
const RECORD_BYTES = 0x100n;

export function lsnAt(records: number): string {
  return formatLsn(WAL_BASE + BigInt(records) * RECORD_BYTES);
}

function isPrefix(shorter: readonly number[], longer: readonly number[]): boolean {
  if (shorter.length > longer.length) return false;
  for (let i = 0; i < shorter.length; i++) if (shorter[i] !== longer[i]) return false;
  return true;
}

interface PendingCommit {
  id: number;
  position: number;
  ack: (acknowledged: boolean) => void;
}

export class SimServer {
  running = true;
  inRecovery: boolean;
  timeline = 1;
  wal: number[] = [];
  standbySignal: boolean;
  /** The node this server streams from (primary_conninfo), when a standby. */
  upstream: string | null;
  streaming = false;
  pending: PendingCommit[] = [];

  constructor(
    readonly name: string,
    readonly address: string,
    primary: string,
  ) {
    this.inRecovery = name !== primary;
    this.standbySignal = this.inRecovery;
    this.upstream = this.inRecovery ? primary : null;
  }

  get writable(): boolean {
    return this.running && !this.inRecovery;
  }

  /** Every commit waiting on it fails: the server stopped or stopped being the primary. */
  failPending(): void {
    for (const commit of this.pending.splice(0)) commit.ack(false);
  }
}

export class SimPostgres {
  readonly servers: SimServer[];
  private nextTimeline = 2;
  private nextMarker = -1;

  constructor(
    names: readonly string[],
    addressOf: (name: string) => string,
    private readonly network: Network,
    private readonly synchronous: boolean,
  ) {
    const primary = names[0] as string;
    this.servers = names.map((name) => new SimServer(name, addressOf(name), primary));
  }

  server(name: string): SimServer {
    const found = this.servers.find((server) => server.name === name);
    if (!found) throw new Error(`no server ${name}`);
    return found;
  }

  byAddress(address: string): SimServer | undefined {
    return this.servers.find((server) => server.address === address);
  }

  writable(): SimServer[] {
    return this.servers.filter((server) => server.writable);
  }

  /** A commit on `server`: resolves true once acknowledged, false if refused or failed before that. */
  commit(server: SimServer, id: number): Promise<boolean> {
    if (!server.writable) return Promise.resolve(false);
    server.wal.push(id);
    if (!this.synchronous) return Promise.resolve(true);
    return new Promise((ack) => {
      server.pending.push({ id, position: server.wal.length, ack });
      this.acknowledge(server);
    });
  }

  /** One round of streaming: every running standby takes what its upstream has, if it can reach it. */
  replicate(): void {
    for (const standby of this.servers) {
      if (!standby.running || !standby.inRecovery || standby.upstream === null) {
        standby.streaming = false;
        continue;
      }
      const source = this.server(standby.upstream);
      const reachable =
        source.running &&
        this.network.up(standby.name, source.name) &&
        this.network.up(source.name, standby.name) &&
        !this.network.isPaused(`${source.name}:postgres`);
      standby.streaming = reachable && isPrefix(standby.wal, source.wal);
      if (standby.streaming) {
        standby.wal = [...source.wal];
        standby.timeline = source.timeline;
      }
    }
    for (const server of this.servers) if (server.writable) this.acknowledge(server);
  }

  private acknowledge(primary: SimServer): void {
    const received = Math.max(
      0,
      ...this.servers
        .filter((s) => s.streaming && s.upstream === primary.name && isPrefix(s.wal, primary.wal))
        .map((s) => s.wal.length),
    );
    primary.pending = primary.pending.filter((commit) => {
      if (commit.position > received) return true;
      commit.ack(true);
      return false;
    });
  }

  promote(server: SimServer): void {
    if (!server.running) throw new Error(`${server.name} is not running`);
    if (!server.inRecovery) return;
    server.inRecovery = false;
    server.standbySignal = false;
    server.upstream = null;
    server.streaming = false;
    server.timeline = this.nextTimeline++;
    server.wal.push(this.nextMarker--);
  }

  /** An immediate stop (or a crash): nothing more is written. */
  stop(server: SimServer): void {
    server.running = false;
    server.streaming = false;
    server.failPending();
  }

  /** A clean stop (switchover): a shutdown checkpoint ends the WAL. Returns where it ended. */
  stopCleanly(server: SimServer): string {
    if (server.running && !server.inRecovery) server.wal.push(this.nextMarker--);
    this.stop(server);
    return lsnAt(server.wal.length);
  }

  /** Started as a standby of `upstream` (standby.signal written). */
  startAsStandby(server: SimServer, upstream: string | null): void {
    server.standbySignal = true;
    if (upstream !== null) server.upstream = upstream;
    server.inRecovery = true;
    server.running = true;
  }

  /** pg_rewind from `source`: back to the history both share, then a standby of it. */
  rewind(server: SimServer, source: SimServer): void {
    let common = 0;
    while (common < server.wal.length && server.wal[common] === source.wal[common]) common++;
    server.wal = server.wal.slice(0, common);
    this.startAsStandby(server, source.name);
    server.timeline = source.timeline;
  }

  facts(server: SimServer): DatabaseFacts {
    const position = lsnAt(server.wal.length);
    const upstream = server.upstream ? this.server(server.upstream) : undefined;
    const followers = this.servers.filter((s) => s.streaming && s.upstream === server.name);
    return {
      inRecovery: server.inRecovery,
      timeline: server.timeline,
      currentLsn: server.inRecovery ? null : position,
      receivedLsn: server.inRecovery ? position : null,
      replayedLsn: server.inRecovery ? position : null,
      replayLagMs: server.inRecovery ? 0 : null,
      replication: server.inRecovery
        ? []
        : followers.map((s) => ({
            applicationName: s.name,
            clientAddr: s.address,
            state: 'streaming',
            syncState: this.synchronous ? 'quorum' : 'async',
            sentLsn: lsnAt(s.wal.length),
            flushLsn: lsnAt(s.wal.length),
            replayLsn: lsnAt(s.wal.length),
            replyAgeMs: 0,
          })),
      upstream: server.streaming && upstream ? `${upstream.address}:5432` : null,
      syncCommits:
        server.inRecovery || !this.synchronous
          ? null
          : { required: true, waiting: server.pending.length, longestWaitMs: null },
    };
  }
}
