// Summary statistics for the benchmark's samples: nearest-rank percentiles, as a reader would count them.

export interface Summary {
  runs: number;
  medianMs: number | null;
  p95Ms: number | null;
  maxMs: number | null;
}

/** The nearest-rank percentile `p` (0 to 100) of `values`, or null when there are none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? null;
}

/** The median as the mean of the middle two for an even count. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? null)
    : Math.round(((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2);
}

export function summarize(values: readonly number[]): Summary {
  return {
    runs: values.length,
    medianMs: median(values),
    p95Ms: percentile(values, 95),
    maxMs: values.length ? Math.max(...values) : null,
  };
}
