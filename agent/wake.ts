// Ends one of the agent's waits early: a check when a watched connection breaks, a heartbeat when a verdict
// changes, the lease watch when a lease is taken.

/** A signal that ends one loop's current wait early; a wake while nobody waits ends the next wait at once. */
export class Wake {
  private pending = false;
  private resolve: (() => void) | undefined;

  wake(): void {
    const waiting = this.resolve;
    this.resolve = undefined;
    if (waiting) waiting();
    else this.pending = true;
  }

  next(): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.resolve = resolve));
  }

  /** The wait ended some other way: a later wake belongs to the next wait. */
  stopWaiting(): void {
    this.resolve = undefined;
  }
}
