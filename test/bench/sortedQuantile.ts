/**
 * The q-quantile (0..1) of ascending values by nearest rank: the smallest value that at least q of
 * them are at or under (NaN of none). The benches' latency percentiles, all made the same way.
 */
export function quantileOfSorted(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
