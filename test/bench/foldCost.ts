/**
 * What the windows fold costs alone (a script, not a test: prints figures, asserts nothing).
 *
 *   node dist/test/bench/foldCost.js [--metrics 1000000] [--late 0.1] [--runs 5]
 *
 * The simulator's fleet (200 tenants × 10 VMs × 25 keys, one metric per VM, key and minute, one
 * record per tenant and minute; with --late, that fraction of the records arrives 15 minutes late)
 * is decoded into records in memory first; then, timed, WindowFolder folds them as a rebuild does
 * (no window events, fresh blocks): the blocks of each 15-minute slot the watermark leaves are taken
 * (encoded, as written) and let go, and every 2,000 records (a rebuild's 5 s flush) all dirty blocks
 * are taken and what the lateness has passed let go. Prints each run's time, ns per metric and
 * the best run, in wall-clock time and in the process's CPU time (steadier on a busy machine);
 * nothing touches a disk or Table Storage.
 */
import { performance } from 'node:perf_hooks';
import { simulateSpoc } from '../../src/adapters/simulator/spocSimulator';
import type { Metric } from '../../src/core/metric';
import { MinuteBlocks, slotStartOf } from '../../projections/minuteBlocks';
import { WindowFolder, type MetricRecord } from '../../projections/WindowFolder';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const METRICS = arg('metrics', 1_000_000);
const LATE = arg('late', 0);
const RUNS = arg('runs', 5);
const PER_MINUTE = 200 * 10 * 25;
const START_SECONDS = 1_699_999_200;
const OPTIONS = { outOfOrderSeconds: 60, idleCloseSeconds: 5, allowedLatenessSeconds: 1800, maxFutureSeconds: 300 };

function buildRecords(): MetricRecord[] {
  const records: MetricRecord[] = [];
  const strings = new Map<string, string>();
  const intern = (s: string): string => strings.get(s) ?? (strings.set(s, s), s);
  const appendedFrom = (START_SECONDS + 3600) * 1000;
  let position = 0;
  for (const message of simulateSpoc({
    tenants: 200, vmsPerTenant: 10, keys: 25, startSeconds: START_SECONDS, minutes: Math.ceil(METRICS / PER_MINUTE),
    lateFraction: LATE, lateMinutes: 15, seed: 42,
  })) {
    const metrics: Metric[] = message.metrics.map((m) => ({
      t: m.timestamp as number, tenant: intern(m.MaskedTenantId as string), vm: intern(m.MaskedVMName as string),
      key: intern(`${m.PerfType as string}.${m.PerfName as string}`), value: m.PerfValue as number,
    }));
    // Appended 2 ms apart, as a fast ingest does: windows close by the watermark and by idleness alike.
    records.push({ position, next: position + 1, appendedAtMs: appendedFrom + records.length * 2, metrics });
    position++;
  }
  return records;
}

function foldOnce(records: readonly MetricRecord[]): { ms: number; cpuMs: number } {
  const folder = new WindowFolder(OPTIONS, new MinuteBlocks('minute', true), new MinuteBlocks('vmMinute', true));
  folder.events = false;
  const cpu = process.cpuUsage();
  const started = performance.now();
  let blocks = 0;
  let sealed = -Infinity;
  for (let i = 0; i < records.length; i++) {
    folder.step(records[i]);
    const slot = slotStartOf(folder.watermark);
    if (slot > sealed) {
      sealed = slot;
      blocks += folder.cross.takeDirty(i, slot).length + folder.perVm.takeDirty(i, slot).length;
      folder.cross.evict(slot);
      folder.perVm.evict(slot);
    }
    if (i % 2000 === 1999) {
      blocks += folder.cross.takeDirty(i).length + folder.perVm.takeDirty(i).length;
      const before = folder.watermark - OPTIONS.allowedLatenessSeconds;
      folder.cross.evict(before);
      folder.perVm.evict(before);
    }
  }
  folder.closeAll();
  blocks += folder.cross.takeDirty(records.length).length + folder.perVm.takeDirty(records.length).length;
  if (blocks === 0) throw new Error('nothing was folded');
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { ms, cpuMs: (used.user + used.system) / 1000 };
}

const records = buildRecords();
const metrics = records.reduce((n, r) => n + r.metrics.length, 0);
console.log(`fold of ${metrics.toLocaleString('en')} metrics in ${records.length} records (late fraction ${LATE}):`);
const perMetric = (ms: number): string => `${((ms * 1e6) / metrics).toFixed(0)} ns a metric`;
const times: { ms: number; cpuMs: number }[] = [];
for (let run = 0; run < RUNS; run++) {
  const t = foldOnce(records);
  times.push(t);
  console.log(`  run ${run + 1}: ${t.ms.toFixed(0)} ms (${perMetric(t.ms)}), CPU ${t.cpuMs.toFixed(0)} ms (${perMetric(t.cpuMs)})`);
}
const best = Math.min(...times.map((t) => t.ms));
const bestCpu = Math.min(...times.map((t) => t.cpuMs));
console.log(`  best: ${best.toFixed(0)} ms (${perMetric(best)}), CPU ${bestCpu.toFixed(0)} ms (${perMetric(bestCpu)})`);
