import { isFinal, WINDOW_SECONDS } from '../src/core/windowMath';

/**
 * Marks each bucket of a range `final` when every minute of it that lies in the range is final
 * (ends by `finalThrough`): its windows cannot be revised and no window can still appear in it, so
 * its figures are the last. A bucket whose minutes are not all final yet may still change, also
 * when each window it has so far is final (a minute without data yet may get some).
 *
 * @example
 * withFinal([{ timestamp: 600, value: 1 }], { aggregationInterval: 5, end: 840 }, 900); // [{ timestamp: 600, value: 1, final: true }]
 */
export function withFinal<B extends { timestamp: number }>(
  buckets: readonly B[], range: { aggregationInterval: number; end: number }, finalThrough: number,
): (B & { final: boolean })[] {
  return buckets.map((b) => {
    const lastMinute = Math.min(b.timestamp + (range.aggregationInterval - 1) * WINDOW_SECONDS, range.end);
    return { ...b, final: isFinal(lastMinute, finalThrough) };
  });
}
