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
  const entries = [...vms]
    .filter(([, newest]) => newest.size > 0)
    .flatMap(([vm, newest]) => vmEntries(vm, newest))
    .sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
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
 * One VM's `"vm":{"key":newest,…}` entries: one, unless its keys would pass a row's size (a VM with
 * many long counter keys); then its keys are split over several entries, each within a row. The
 * JSON is written here, not by JSON.stringify of an object made for it: a rebuild's flush writes the
 * catalog of every VM whose newest window moved, and an object per VM (in dictionary mode, its keys
 * being any text) cost it more than the rest (cold, as a 1M-metric fold's last flush runs it: 2,000
 * VMs of 25 keys in 47 → 27 ms, warm 18 → 4.5 ms).
 */
function vmEntries(vm: string, newest: ReadonlyMap<string, number>): { vm: string; text: string }[] {
  const name = quoted(vm);
  let whole = `${name}:{`;
  let first = true;
  for (const [key, windowStart] of newest) {
    whole += `${first ? '' : ','}${quoted(key)}:${windowStart}`;
    first = false;
  }
  whole += '}';
  if (whole.length <= MAX_ROW_CHARS - 2) return [{ vm, text: whole }];
  const entries: { vm: string; text: string }[] = [];
  let keys: string[] = [];
  let chars = name.length + 3;
  const close = (): void => {
    entries.push({ vm, text: `${name}:{${keys.join(',')}}` });
    keys = [];
    chars = name.length + 3;
  };
  for (const [key, windowStart] of newest) {
    const part = `${quoted(key)}:${windowStart}`;
    if (keys.length > 0 && chars + 1 + part.length > MAX_ROW_CHARS - 2) close();
    keys.push(part);
    chars += part.length + 1;
  }
  close();
  return entries;
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
