import { isFinal, WINDOW_SECONDS } from '../src/core/windowMath';

/**
 * Marks each bucket of a range `final` when every minute of it that lies in the range is final
 * (ends by `finalThrough`): its windows cannot be revised and no window can still appear in it, so
 * its figures are the last. A bucket whose minutes are not all final yet may still change, also
 * when each window it has so far is final (a minute without data yet may get some).
 * The buckets are marked in place and returned (a read's own fresh buckets: a copy of each cost a
 * tenth of a cached get-data's time).
 *
 * @example
 * withFinal([{ timestamp: 600, value: 1 }], { aggregationInterval: 5, end: 840 }, 900); // [{ timestamp: 600, value: 1, final: true }]
 */
export function withFinal<B extends { timestamp: number }>(
  buckets: B[], range: { aggregationInterval: number; end: number }, finalThrough: number,
): (B & { final: boolean })[] {
  const marked = buckets as (B & { final: boolean })[];
  for (const b of marked) {
    const lastMinute = Math.min(b.timestamp + (range.aggregationInterval - 1) * WINDOW_SECONDS, range.end);
    b.final = isFinal(lastMinute, finalThrough);
  }
  return marked;
}
