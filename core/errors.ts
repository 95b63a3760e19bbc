// Domain errors: each says what is wrong and what to do about it, and carries the data a caller needs.

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`${source} is not valid:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** A conditional write lost: someone else changed the item first. `current` is the item as it is now. */
export class StoreConflictError<T> extends Error {
  constructor(
    readonly what: string,
    readonly current: T | undefined,
  ) {
    super(`${what}: the record changed underneath this write (conditional check failed)`);
    this.name = 'StoreConflictError';
  }
}

export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** Bad input from a person (a CLI argument, a membership change): the message is the whole story. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
