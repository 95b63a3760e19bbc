// The exit codes every pgfailover program uses, as the README states them.

export const EXIT = {
  /** Done (cluster-status: healthy). */
  ok: 0,
  /** The command ran and found problems (cluster-status, check-config, a drill or nemesis that failed), or a followed role change did not complete. */
  problems: 1,
  /** Bad input or a refused change: the message says what to fix, and nothing was changed. */
  usage: 2,
  /** Any other failure (the store unreachable, a permission missing, ...). */
  failure: 3,
  /** Interrupted (SIGINT/SIGTERM) after cleaning up, as shells report a signal. */
  interrupted: 130,
} as const;

/** 0 when `ok`, else 1: for commands whose outcome is a verdict. */
export function verdictExit(ok: boolean): number {
  return ok ? EXIT.ok : EXIT.problems;
}
