// What a member has promised and how it has voted, kept on disk so that a restarted agent neither forgets a
// promise (and votes the primary down while the primary still counts its vouch) nor vouches again without
// withdrawing a down vote (the model's FORGETFUL counterexample, docs/peer-leases.md). Promise ends are on
// CLOCK_MONOTONIC: the file carries the boot id, and a promise from another boot is over (the primary
// counted it on a clock that has run on since). A bound vote is kept across boots: a vote in the store
// does not end with a reboot.

import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * What peer leases need of the goal and the membership, kept so that an agent restarted while the store is
 * away can still vouch, and a primary's still ask: exactly what the agent knew before its restart.
 */
export interface PeerView {
  term: number;
  primaryNodeId: string | null;
  peerLeases: boolean;
  leaseDurationMs: number;
  /** Every voting member, this one included. */
  voters: string[];
}

export interface VouchState {
  /** The primary this member promised not to vote down, and until when (monotonic, this boot). */
  promise: { primaryNodeId: string; term: number; promiseMs: number; endMonoMs: number } | null;
  /**
   * One of this member's heartbeats voted `primaryNodeId` down in `term` (for a primary: said its own database
   * was DOWN), and no withdrawal has followed. "*": any primary (a file that could not be read).
   */
  bound: { primaryNodeId: string; term: number } | null;
  /** The goal and membership as last read, or null before the first read. */
  view: PeerView | null;
}

export interface VouchMemory {
  /** What was kept, with a promise made in another boot running for a whole promise from `nowMonoMs`. */
  load(nowMonoMs: number): VouchState;
  save(state: VouchState): void;
}

export const NO_VOUCH_STATE: VouchState = { promise: null, bound: null, view: null };

const fileSchema = z.looseObject({
  bootId: z.string(),
  promise: z
    .object({ primaryNodeId: z.string(), term: z.number(), promiseMs: z.number(), endMonoMs: z.number() })
    .nullable(),
  bound: z.object({ primaryNodeId: z.string(), term: z.number() }).nullable(),
  view: z
    .looseObject({
      term: z.number(),
      primaryNodeId: z.string().nullable(),
      peerLeases: z.boolean(),
      leaseDurationMs: z.number(),
      voters: z.array(z.string()),
    })
    .nullable()
    .default(null),
});

/** An unreadable file could have said anything: bound (withdraw before vouching) and no promise to count on. */
const UNREADABLE: VouchState = { promise: null, bound: { primaryNodeId: '*', term: 0 }, view: null };

export class VouchFile implements VouchMemory {
  constructor(
    private readonly path: string,
    private readonly bootId: string,
    private readonly warn: (message: string) => void,
  ) {}

  load(nowMonoMs: number): VouchState {
    if (!existsSync(this.path)) return NO_VOUCH_STATE;
    try {
      const parsed = fileSchema.safeParse(JSON.parse(readFileSync(this.path, 'utf8')));
      if (!parsed.success) {
        this.warn(`${this.path} is not a vouch file (${parsed.error.message}); this member withdraws before vouching`);
        return UNREADABLE;
      }
      const { bootId, promise, bound, view } = parsed.data;
      // A promise from another boot: its end was on a monotonic clock that has since restarted. It is kept
      // as running for a whole promise from now, the safe side for the votes it blocks.
      if (promise && bootId !== this.bootId)
        return { promise: { ...promise, endMonoMs: nowMonoMs + promise.promiseMs }, bound, view };
      return { promise, bound, view };
    } catch (error) {
      this.warn(`${this.path} cannot be read (${String(error)}); this member withdraws before vouching`);
      return UNREADABLE;
    }
  }

  save(state: VouchState): void {
    if (state.promise === null && state.bound === null && state.view === null) {
      rmSync(this.path, { force: true });
      return;
    }
    const temporary = `${this.path}.tmp`;
    writeFileSync(temporary, `${JSON.stringify({ bootId: this.bootId, ...state })}\n`);
    renameSync(temporary, this.path);
  }
}

/** For tests and a member without a state file: memory only. */
export class VouchInMemory implements VouchMemory {
  constructor(private state: VouchState = NO_VOUCH_STATE) {}
  load(): VouchState {
    return this.state;
  }
  save(state: VouchState): void {
    this.state = state;
  }
}
