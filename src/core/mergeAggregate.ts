import type { Aggregate } from './windowMath';

/** An aggregate of nothing: what any share merges into. */
export function emptyAggregate(): Aggregate {
  return { count: 0, sum: 0, min: Infinity, max: -Infinity };
}

/**
 * Merges `share` into `into` (which it changes and returns): counts and sums add, min and max
 * combine. The one merge of mergeable aggregates, wherever shares of one whole meet: log
 * partitions' shares of a cross-tenant window, the minutes of a bucket, the scopes of a block.
 *
 * @example
 * mergeAggregate({ count: 2, sum: 5, min: 1, max: 4 }, { count: 1, sum: 9, min: 9, max: 9 }); // { count: 3, sum: 14, min: 1, max: 9 }
 */
export function mergeAggregate<A extends Aggregate>(into: A, share: Aggregate): A {
  into.count += share.count;
  into.sum += share.sum;
  if (share.min < into.min) into.min = share.min;
  if (share.max > into.max) into.max = share.max;
  return into;
}
