import type { Row } from '../src/core/ports';

/**
 * The catalog's per-VM part: the VMs of each tenant and the newest window start of each of their
 * counter keys (where /v1/get-tenant-data ends by default). A tenant's VMs share its rows, logical
 * partition ['vms', tenant], rows '0000', '0001', …: field `vms` holds `{ vm: { key: newest } }` as
 * JSON, the VMs in a fixed order, a new row begun before a row's JSON would pass MAX_ROW_CHARS. A row per VM
 * made a rebuild end by writing a row per VM of the fleet; now it is one per tenant or so.
 *
 * Readers merge every row of a tenant and keep each key's largest value: a rewrite that needs fewer
 * rows than before (it cannot, as VMs and keys only come, but it costs nothing to be sure) leaves
 * older rows behind whose values are only smaller.
 */
export const VM_CATALOG_PARTITION = 'vms';

/** A string property holds at most 32K UTF-16 characters; stay below. */
const MAX_ROW_CHARS = 30_000;

/** VM → its newest window start by counter key, of one tenant. */
export type TenantVms = Map<string, Map<string, number>>;

/**
 * The catalog rows of one tenant from all its VMs and their newest windows by key; VMs without a
 * closed window yet are left out (no rows at all when none has one).
 *
 * @example
 * vmCatalogRows('t1', [['vm1', new Map([['cpu', 1700000040]])]]);
 * // [{ partition: ['vms', 't1'], row: '0000', fields: { vms: '{"vm1":{"cpu":1700000040}}' } }]
 */
export function vmCatalogRows(tenant: string, vms: Iterable<readonly [vm: string, newest: ReadonlyMap<string, number>]>): Row[] {
  return catalogRowsOf(tenant, [...vms].map(([vm, newest]) => ({ vm, keys: [...newest.keys()], newest: [...newest.values()] })));
}

/** A VM's newest closed windows as the fold holds them: its keys by column and each one's newest window start (-Infinity: none yet). */
export interface VmNewest {
  vm: string;
  keys: readonly string[];
  newest: readonly number[];
}

/**
 * `vmCatalogRows` from the fold's own arrays (BlockPartition's `subs` and `newestAt`): a flush
 * writes the catalog of every tenant whose VMs' newest windows moved, and a Map per VM made for
 * it cost that flush more than its JSON.
 */
export function catalogRowsOf(tenant: string, vms: readonly VmNewest[]): Row[] {
  const entries: { vm: string; text: string }[] = [];
  for (const v of vms) vmEntries(v, entries);
  entries.sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
  const rows: Row[] = [];
  let parts: string[] = [];
  let chars = 2;
  let lastVm: string | undefined;
  const flush = (): void => {
    rows.push({ partition: [VM_CATALOG_PARTITION, tenant], row: String(rows.length).padStart(4, '0'), fields: { vms: `{${parts.join(',')}}` } });
    parts = [];
    chars = 2;
    lastVm = undefined;
  };
  for (const entry of entries) {
    // A VM split into several entries (they sort together) has them in different rows: one JSON object holds a name once.
    if (parts.length > 0 && (chars + 1 + entry.text.length > MAX_ROW_CHARS || entry.vm === lastVm)) flush();
    parts.push(entry.text);
    chars += entry.text.length + 1;
    lastVm = entry.vm;
  }
  if (parts.length > 0) flush();
  return rows;
}

/**
 * Adds one VM's `"vm":{"key":newest,…}` entries to `out`: none when no key has a newest window; one,
 * unless its keys would pass a row's size (a VM with many long counter keys); then its keys are
 * split over several entries, each within a row. The JSON is written here, not by JSON.stringify
 * of an object made for it (an object per VM, in dictionary mode, its keys being any text): the
 * catalog of 2,000 VMs of 25 keys in 47 → 27 ms cold, 18 → 4.5 ms warm.
 */
function vmEntries({ vm, keys, newest }: VmNewest, out: { vm: string; text: string }[]): void {
  const parts: string[] = [];
  for (let c = 0; c < keys.length; c++) if (newest[c] > -Infinity) parts.push(`${quoted(keys[c])}:${newest[c]}`);
  if (parts.length === 0) return;
  const name = quoted(vm);
  const whole = `${name}:{${parts.join(',')}}`;
  if (whole.length <= MAX_ROW_CHARS - 2) {
    out.push({ vm, text: whole });
    return;
  }
  let from = 0;
  let chars = name.length + 3;
  for (let i = 0; i < parts.length; i++) {
    if (i > from && chars + 1 + parts[i].length > MAX_ROW_CHARS - 2) {
      out.push({ vm, text: `${name}:{${parts.slice(from, i).join(',')}}` });
      from = i;
      chars = name.length + 3;
    }
    chars += parts[i].length + 1;
  }
  out.push({ vm, text: `${name}:{${parts.slice(from).join(',')}}` });
}

/** Counter keys and VM names as JSON strings, kept: the same few dozen keys come for every VM at every flush. */
const QUOTED_KEPT = 100_000;
const quotedText = new Map<string, string>();

function quoted(text: string): string {
  let json = quotedText.get(text);
  if (json === undefined) {
    if (quotedText.size >= QUOTED_KEPT) quotedText.clear();
    quotedText.set(text, (json = JSON.stringify(text)));
  }
  return json;
}

/**
 * Tenants, their VMs and the VMs' newest windows from catalog rows of any tenants, in any order
 * (rows of other partitions are skipped). A VM found in several rows keeps each key's largest value.
 */
export function readVmCatalog(rows: Iterable<Row>): Map<string, TenantVms> {
  const tenants = new Map<string, TenantVms>();
  for (const row of rows) {
    if (row.partition[0] !== VM_CATALOG_PARTITION || row.partition.length !== 2) continue;
    const parsed = parseVms(row.fields.vms);
    if (parsed === undefined) continue;
    let vms = tenants.get(row.partition[1]);
    if (!vms) tenants.set(row.partition[1], (vms = new Map()));
    for (const [vm, newest] of Object.entries(parsed)) {
      if (!newest || typeof newest !== 'object') continue;
      let known = vms.get(vm);
      if (!known) vms.set(vm, (known = new Map()));
      for (const [key, windowStart] of Object.entries(newest as Record<string, unknown>)) {
        if (typeof windowStart === 'number' && Number.isFinite(windowStart) && !(known.get(key)! >= windowStart)) known.set(key, windowStart);
      }
    }
  }
  return tenants;
}

function parseVms(raw: unknown): Record<string, unknown> | undefined {
  if (typeof raw !== 'string') return undefined;
  try {
    const parsed = JSON.parse(raw) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
