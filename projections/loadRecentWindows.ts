import type { Row } from '../src/core/ports';
import { mapConcurrently } from '../src/core/mapConcurrently';
import { WINDOW_SECONDS } from '../src/core/windowMath';
import { decodeBlock, slotStartOf } from './minuteBlocks';
import { EXPECTED_SECONDS } from './KeyPresence';
import { readVmCatalog } from './vmCatalog';
import type { WindowFolder } from './WindowFolder';
import type { WindowsTables } from './windowsProjection';

/** VMs (and keys) whose blocks are read at once. */
const READS_IN_FLIGHT = 16;

/**
 * What a fold that goes on from a checkpoint needs before its first record, so that the VM counts
 * of every window that can still change are exact: which VMs reported each key in the minutes
 * those windows look back on (an hour before the oldest; read from the blocks of every VM the
 * catalog lists since, one range read each), and each key's cross-tenant blocks from the oldest
 * such window on (one range read a key), whose counts are then made again from that presence.
 * Records folded again after the checkpoint add what the VMs' open windows held.
 */
export async function loadRecentWindows(folder: WindowFolder, tables: Pick<WindowsTables, 'minute' | 'vmMinute'>, catalog: readonly Row[]): Promise<void> {
  // With no watermark yet, every record is folded again: everything stored is read.
  const from = Math.max(0, folder.changeableFrom);
  const presenceFrom = Math.max(0, from - EXPECTED_SECONDS - WINDOW_SECONDS);
  const keys = new Set<string>();
  const vms: { tenant: string; vm: string }[] = [];
  for (const row of catalog) if (row.partition[0] === 'key' && Number(row.fields.newest) >= presenceFrom) keys.add(String(row.fields.key));
  for (const [tenant, tenantVms] of readVmCatalog(catalog)) {
    for (const [vm, newest] of tenantVms) if (Math.max(...newest.values()) >= presenceFrom) vms.push({ tenant, vm });
  }
  await mapConcurrently(vms, READS_IN_FLIGHT, async ({ tenant, vm }) => {
    const blocks = await tables.vmMinute.readRange([tenant, vm], slotStartOf(presenceFrom), Number.MAX_SAFE_INTEGER);
    for (const block of blocks) {
      for (const [key, windows] of decodeBlock(block)) {
        keys.add(key);
        for (const w of windows) if (w.windowStart >= presenceFrom) folder.notePresence(key, tenant, vm, w.windowStart);
      }
    }
    folder.perVm.loadFrom([tenant, vm], slotStartOf(from), blocks);
  });
  await mapConcurrently([...keys], READS_IN_FLIGHT, async (key) => {
    folder.loadKeyFrom(key, slotStartOf(from), await tables.minute.readRange([key], slotStartOf(from), Number.MAX_SAFE_INTEGER));
  });
}
