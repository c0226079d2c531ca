import type { BlockTable, RowTable } from '../src/core/ports';
import { mapConcurrently } from '../src/core/mapConcurrently';
import type { MinuteWindow } from './minuteBlocks';
import { readWindows, readWindowsBetween } from './minuteQueries';
import { readVmCatalog, VM_CATALOG_PARTITION, type TenantVms } from './vmCatalog';
import { FleetFigures, type TopBy, type TopVm } from './topVms';
import { rangeFrom, type WindowReads } from './WindowReads';

/** The active windows version's tables, opened at each read (a rebuild may switch the version). */
export interface WindowTables {
  minute(): Promise<BlockTable>;
  vmMinute(): Promise<BlockTable>;
  catalog(): Promise<RowTable>;
}

/** One VM's windows of one key. */
export interface VmWindows {
  tenant: string;
  vm: string;
  /** The start of the VM's newest window of the key, as the catalog says. */
  newest: number;
  windows: MinuteWindow[];
}

/** VMs whose blocks are read at once (one range query each). */
const VM_READS_IN_FLIGHT = 16;

/**
 * WindowReads from the tables: cross-tenant blocks by key, a VM's blocks by tenant and VM, and the
 * catalog for where a range ends by default and for which VMs reported a key (the per-VM blocks are
 * keyed by VM, so the hottest VMs of a key take a read per VM that reported it in the range).
 */
export class TableWindowReads implements WindowReads {
  constructor(readonly tables: WindowTables) {}

  async newestOfKey(key: string): Promise<number | undefined> {
    const row = await (await this.tables.catalog()).get(['key'], key);
    return minuteOf(row?.fields.newest);
  }

  async newestOfVm(tenant: string, vm: string, key: string): Promise<number | undefined> {
    const rows = await (await this.tables.catalog()).list({ partition: [VM_CATALOG_PARTITION, tenant] });
    return minuteOf(readVmCatalog(rows).get(tenant)?.get(vm)?.get(key));
  }

  async crossTenant(key: string, end: number, minutes: number): Promise<MinuteWindow[]> {
    return readWindows(await this.tables.minute(), [key], '', end, minutes);
  }

  async perVm(tenant: string, vm: string, key: string, end: number, minutes: number): Promise<MinuteWindow[]> {
    return readWindows(await this.tables.vmMinute(), [tenant, vm], key, end, minutes);
  }

  async top(key: string, end: number, minutes: number, by: TopBy, n: number): Promise<TopVm[]> {
    const vms = await this.vmWindowsOfKey(key, rangeFrom(end, minutes), end);
    const figures = new FleetFigures(by);
    vms.forEach(({ windows }, id) => {
      for (const w of windows) figures.add(id, w.count, w.sum, w.min, w.max, w.sketch);
    });
    return figures.top(n, (id) => vms[id].tenant, (id) => vms[id].vm);
  }

  /** Each counter key's newest cross-tenant window start. */
  async keyCatalog(): Promise<Map<string, number>> {
    const rows = await (await this.tables.catalog()).list({ partition: ['key'] });
    const out = new Map<string, number>();
    for (const row of rows) {
      const newest = minuteOf(row.fields.newest);
      if (newest !== undefined) out.set(row.row, newest);
    }
    return out;
  }

  /** Every tenant's VMs with their newest window by key. */
  async vmCatalog(): Promise<Map<string, TenantVms>> {
    return readVmCatalog(await (await this.tables.catalog()).list());
  }

  /**
   * The windows of `key` in [from, to] (`to` may be Infinity) of every VM whose newest window of the
   * key, as the catalog (read now, or given) says, is not before `from` (a VM may have none in the range: `windows` is then empty).
   */
  async vmWindowsOfKey(key: string, from: number, to: number, catalog?: Map<string, TenantVms>): Promise<VmWindows[]> {
    const candidates: { tenant: string; vm: string; newest: number }[] = [];
    for (const [tenant, vms] of catalog ?? (await this.vmCatalog())) {
      for (const [vm, keys] of vms) {
        const newest = keys.get(key);
        if (newest !== undefined && newest >= from) candidates.push({ tenant, vm, newest });
      }
    }
    const table = await this.tables.vmMinute();
    return mapConcurrently(candidates, VM_READS_IN_FLIGHT, async (c) => ({ ...c, windows: await readWindowsBetween(table, [c.tenant, c.vm], key, from, to) }));
  }
}

/** A catalog value as a window start, or undefined when it is none. */
function minuteOf(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? Math.floor(value / 60) * 60 : undefined;
}
