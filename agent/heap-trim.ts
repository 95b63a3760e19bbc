// A full garbage collection once a minute, when node runs with --expose-gc (AGENT_NODE_FLAGS). At rest the
// agent's live heap is about 17 MB, but V8 lets the old generation grow by at least 8 MB of garbage before it
// collects it on its own (more as the process ages), so the resident set wandered between 70 and 80 MB from
// one run to the next. A collection of so small a heap takes a few milliseconds, well inside the lease's
// fence lead (150 ms) and no different from the collections V8 makes by itself.

/** How often the heap is collected in full. */
export const HEAP_TRIM_PERIOD_MS = 60_000;

/**
 * Collects the heap in full every `periodMs` with `collect` (node's `gc`, present only with --expose-gc);
 * does nothing without it. Returns the function that stops it. The timer never keeps the process alive.
 */
export function startHeapTrim(
  collect: (() => void) | undefined = globalThis.gc,
  periodMs = HEAP_TRIM_PERIOD_MS,
): () => void {
  if (typeof collect !== 'function') return () => undefined;
  const timer = setInterval(() => collect(), periodMs);
  timer.unref();
  return () => clearInterval(timer);
}
