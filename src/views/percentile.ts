/**
 * Exact percentiles by the nearest-rank method: the p-th percentile of n values is the value of rank
 * ceil(p/100 × n) in ascending order (rank 1 for p = 0). Always one of the values (no interpolation): p50 of
 * [1, 2, 3, 4] is 2, p99 of 100 values is the 99th smallest, p99 of fewer than 100 values is the largest.
 */

/** The p-th percentile (0..100) of `values` (any order; not modified), or null when there are none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  return percentileOfSorted([...values].sort((a, b) => a - b), p);
}

/** The same for values already sorted ascending. */
export function percentileOfSorted(sorted: readonly number[], p: number): number | null {
  const n = sorted.length;
  if (n === 0) return null;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: p must be 0..100, got ${p}`);
  // p * n is exact for the integers and simple decimals used here; / 100 after, so 99 × 100 / 100 is 99, not 99.000…1
  const rank = Math.max(1, Math.ceil((p * n) / 100));
  return sorted[rank - 1]!;
}
