import type { MinuteWindow } from './minuteBlocks';
import type { TopBy, TopVm } from './topVms';

/**
 * What the read API asks of the windows projection's active version. Two implementations answer
 * alike: TableWindowReads from the tables, RecentWindows from memory where it holds the range (and
 * from the tables where it does not). Window starts are epoch seconds; a range is the windows whose
 * start lies in [end − (minutes − 1)·60, end].
 */
export interface WindowReads {
  /** The start of the key's newest cross-tenant window; undefined for a key with none. */
  newestOfKey(key: string): Promise<number | undefined>;
  /** The start of one VM's newest window of the key; undefined when it has none. */
  newestOfVm(tenant: string, vm: string, key: string): Promise<number | undefined>;
  /** The key's cross-tenant windows of the range, ascending. */
  crossTenant(key: string, end: number, minutes: number): Promise<MinuteWindow[]>;
  /**
   * Where the answer of `crossTenant` is held in memory: a stamp that changes whenever that answer
   * would (so that an answer made from it can be kept until then); undefined where it is not.
   */
  crossTenantStamp?(key: string, end: number, minutes: number): number | undefined;
  /** One VM's windows of the key over the range, ascending. */
  perVm(tenant: string, vm: string, key: string, end: number, minutes: number): Promise<MinuteWindow[]>;
  /** The `n` VMs with the highest figure for the key over the range (see VmFigure), highest first. */
  top(key: string, end: number, minutes: number, by: TopBy, n: number): Promise<TopVm[]>;
}

/** The start of a range's oldest window. */
export function rangeFrom(end: number, minutes: number): number {
  return end - (minutes - 1) * 60;
}
