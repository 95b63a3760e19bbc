// The port to the agent's own host: its database (check, promote, repoint, fence, demote, rejoin), its peers'
// databases, its site hooks and its interface's address. The real adapter is agent/node-ops.ts.

import type { ProbeOutcome } from '../../core/local-health.ts';
import type { ProbeResult } from '../database-probe.ts';
import type { HookResult, HookRun } from '../hooks.ts';
import type { RejoinOutcome } from '../rejoin.ts';

/** What the agent does to its own server; the real one is agent/node-ops.ts. */
export interface NodeOps {
  /** Checks the local database; absent on a witness. */
  probe?: (timeoutMs: number) => Promise<ProbeResult>;
  /** Makes this stopped database a standby of the primary at `primaryAddress` (agent/rejoin.ts). */
  rejoin(primaryAddress: string): Promise<RejoinOutcome>;
  /** Does the database at `address` answer at all? */
  checkPeer(address: string, timeoutMs: number): Promise<ProbeOutcome>;
  /** Reads the role and WAL positions of the database at `address`, as `probe` does for the local one. */
  probePeer(address: string, timeoutMs: number): Promise<ProbeResult>;
  /**
   * Holds an idle connection to the local database (`address` undefined) or to the one at `address`,
   * and resolves true once it breaks, false when it could not be opened or `signal` aborted. Only a hint to check again now: a server that dies
   * closes it at once, where the next periodic check might be a second away. A silent fault leaves it
   * hanging, which the checks' own timeouts cover. Optional: without it the checks keep their period.
   */
  watch?(address: string | undefined, signal: AbortSignal): Promise<boolean>;
  promote(): Promise<void>;
  repoint(primaryConninfo: string): Promise<void>;
  /** Stops the local server at once and makes it come back only as a standby. */
  fence(primaryConninfo: string | null): Promise<void>;
  runHook(run: HookRun): Promise<HookResult>;
  /** What to put in primary_conninfo to follow the server at `address`. */
  conninfoFor(address: string): string;
  /** standby.signal is in the data directory: whatever restarts the server brings it back as a standby. */
  markedStandby(): boolean;
  /** Someone (pgfailover rejoin, local heal) holds the data directory's rejoin lock. */
  rejoinUnderWay(): boolean;
  /**
   * Planned switchover: stop cleanly (every byte reaches the connected standbys first), call `stopped` with
   * the WAL position the server stopped at once it has exited, then restart as a standby of `primaryConninfo`;
   * returns that position.
   */
  demote(primaryConninfo: string, stopped: (stoppedAtLsn: string) => Promise<void>): Promise<string>;
  /** secondary-ip clusters: bring the address up on / take it off this host's interface. Idempotent. */
  holdAddress(ip: string, hold: boolean): Promise<void>;
}
