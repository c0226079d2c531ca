import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Row } from '../../src/core/ports';
import type { LateMetric } from '../../src/core/windowMath';
import { decodeLatePage, LateLedger, PAGE_MAX_METRICS } from '../../projections/lateLedger';
import { MemoryRowTable } from '../support/memoryTableStore';
import { TENANT_A, TENANT_B, VM_1, VM_2 } from '../support/metricBuilders';

const late = (position: number, index: number, fields: Partial<LateMetric> = {}): LateMetric => ({
  position, index, key: 'win_cpu.percent', tenant: TENANT_A, vm: VM_1, t: 1_700_000_000 + index, value: index / 4, watermark: 1_700_009_940, ...fields,
});

const decodeAll = (rows: readonly Row[]): LateMetric[] => rows.flatMap(decodeLatePage);

describe('the late-events ledger, packed into pages', () => {
  it('keeps each late metric with its key, tenant, VM, time, value, the watermark it met, and its log position and index', () => {
    // Given late metrics from two records, the second of another tenant, VM and key.
    const ledger = new LateLedger(1000);
    ledger.add({ position: 10, index: 0, key: 'win_cpu.percent', tenant: TENANT_A, vm: VM_1, t: 1_700_000_007, value: 41.5, watermark: 1_700_009_940 });
    ledger.add({ position: 10, index: 3, key: 'win_cpu.percent', tenant: TENANT_A, vm: VM_2, t: 1_700_000_061.5, value: -2, watermark: 1_700_009_940 });
    ledger.add({ position: 52, index: 1, key: "win_disk.free'/space", tenant: TENANT_B, vm: 'vm "x"', t: 1_699_990_000, value: 1e-7, watermark: 1_700_010_000 });

    // When the ledger is taken for writing
    const rows = ledger.take();

    // Then it is one page, keyed by its first metric, and it reads back as written.
    assert.deepEqual(rows.map((r) => [r.partition, r.row, r.fields.n]), [[['000000000000'], '0000000000000010-000000', 3]]);
    assert.deepEqual(decodeAll(rows), [
      { position: 10, index: 0, key: 'win_cpu.percent', tenant: TENANT_A, vm: VM_1, t: 1_700_000_007, value: 41.5, watermark: 1_700_009_940 },
      { position: 10, index: 3, key: 'win_cpu.percent', tenant: TENANT_A, vm: VM_2, t: 1_700_000_061.5, value: -2, watermark: 1_700_009_940 },
      { position: 52, index: 1, key: "win_disk.free'/space", tenant: TENANT_B, vm: 'vm "x"', t: 1_699_990_000, value: 1e-7, watermark: 1_700_010_000 },
    ]);
  });

  it('begins a page where the log enters another span, where a page is full, and puts 256 spans in a storage partition', () => {
    const ledger = new LateLedger(100);
    // Given metrics at positions 10 and 50 (span 0), 120 (span 1), PAGE_MAX_METRICS + 1 at 130, and one in span 256.
    ledger.add(late(10, 0));
    ledger.add(late(50, 0));
    ledger.add(late(120, 4));
    for (let i = 0; i <= PAGE_MAX_METRICS; i++) ledger.add(late(130, i));
    ledger.add(late(25_600, 0));

    // Then the pages are: [10, 50], [120 and the first 1,999 of 130], [the last two of 130], [25,600].
    const rows = ledger.take();
    assert.deepEqual(rows.map((r) => [r.partition[0], r.row, r.fields.n]), [
      ['000000000000', '0000000000000010-000000', 2],
      ['000000000000', '0000000000000120-000004', 2000],
      ['000000000000', '0000000000000130-001999', 2],
      ['000000000001', '0000000000025600-000000', 1],
    ]);
    assert.equal(decodeAll(rows).length, 2 + 1 + PAGE_MAX_METRICS + 1 + 1);
  });

  it('closes a page before its JSON passes about 60,000 characters, and cuts the JSON into fields a table can hold', () => {
    // Given metrics whose ids are 256 characters long, each different.
    const ledger = new LateLedger(1_000_000);
    const long = (c: string, i: number) => `${c}${i}`.padEnd(256, c);
    for (let i = 0; i < 200; i++) ledger.add(late(0, i, { key: long('k', i), tenant: long('t', i), vm: long('v', i) }));

    // Then each page holds fewer than 80 of them (3 × 258 characters each), no field passes 30,000 characters, and none is lost.
    const rows = ledger.take();
    assert.ok(rows.length >= 3, `${rows.length} pages`);
    for (const row of rows) {
      assert.ok(Number(row.fields.n) < 80, `${row.fields.n} metrics in a page`);
      for (const [name, value] of Object.entries(row.fields)) if (name !== 'n') assert.ok(String(value).length <= 30_000, `${name}: ${String(value).length}`);
      assert.equal(typeof row.fields.d1, 'string', 'a page of ~60,000 characters takes two fields');
    }
    assert.deepEqual(decodeAll(rows).map((m) => m.index), Array.from({ length: 200 }, (_, i) => i));
  });

  it('counts the characters of a page as its JSON has them (to within the two commas a first string and record lack)', () => {
    const id = fc.constantFrom('a', 'b', 'win_cpu.percent', 'ü"\\/', TENANT_A);
    fc.assert(fc.property(
      fc.array(fc.record({ gap: fc.nat({ max: 3 }), key: id, tenant: id, vm: id, t: fc.double({ noNaN: true, noDefaultInfinity: true }), value: fc.double({ noNaN: true, noDefaultInfinity: true }) }), { minLength: 1, maxLength: 40 }),
      (spec) => {
        const ledger = new LateLedger(1_000_000);
        let position = 0;
        spec.forEach(({ gap, key, tenant, vm, t, value }, index) => {
          position += gap;
          ledger.add({ position, index, key, tenant, vm, t, value, watermark: position % 2 ? 1.5 : 1_700_009_940 });
        });
        const counted = ledger.pendingChars;
        const [row] = ledger.take();
        let json = '';
        for (let i = 0; typeof row.fields[`d${i}`] === 'string'; i++) json += row.fields[`d${i}`] as string;
        assert.ok(counted - json.length >= 0 && counted - json.length <= 2, `counted ${counted}, JSON ${json.length}`);
      },
    ), { numRuns: 300 });
  });

  it('hands the open page out again only when it changed, and counts what waits to be written', () => {
    const ledger = new LateLedger(1000);
    assert.equal(ledger.pendingChars, 0);
    ledger.add(late(10, 0));
    const waiting = ledger.pendingChars;
    assert.ok(waiting > 0);
    assert.equal(ledger.take().length, 1);
    assert.equal(ledger.pendingChars, 0);
    assert.deepEqual(ledger.take(), [], 'nothing new: nothing to write');
    ledger.add(late(10, 1));
    const again = ledger.take();
    assert.deepEqual(again.map((r) => [r.row, r.fields.n]), [['0000000000000010-000000', 2]], 'the same page, with both');
  });

  it('after a restart inside a span, goes on from the stored pages and neither doubles nor loses a metric, wherever the crash came', async () => {
    // A writer that flushes (takes and writes its pages) now and then and checkpoints after some flushes, then
    // crashes: its last flush wrote a prefix of each storage partition's pages, or all of them without the checkpoint.
    // A new writer resumes at a position at or before the last checkpoint (an open window's first record) and is
    // given every late metric from there again, as the fold gives them.
    const metricsArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 5 }), fc.boolean()), { minLength: 1, maxLength: 60 });
    await fc.assert(fc.asyncProperty(
      metricsArb, fc.constantFrom(1, 3, 50, 1_000_000), fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }), fc.nat(), fc.nat(), fc.nat(),
      async (recordsSpec, span, flushes, crashAt, partial, resumePick) => {
        // Records at growing positions, each with 1-5 late metrics (some with long ids, so pages also fill by size).
        const all: LateMetric[] = [];
        let position = 0;
        for (const [gap, n, long] of recordsSpec) {
          position += gap + 1;
          for (let index = 0; index < n; index++) {
            all.push(late(position, index, long ? { vm: `vm-${position}-${index}`.padEnd(240, '/'), value: position * 10 + index } : { value: position * 10 + index }));
          }
        }
        const positions = [...new Set(all.map((m) => m.position))];
        const table = new MemoryRowTable();
        const first = new LateLedger(span);
        const crashRecord = crashAt % positions.length;
        let checkpoint: number | undefined;
        for (let r = 0; r <= crashRecord; r++) {
          for (const m of all.filter((x) => x.position === positions[r])) first.add(m);
          if (r === crashRecord) {
            // The crash: this flush writes, per storage partition, a prefix of its pages; no checkpoint.
            const rows = first.take();
            const byPartition = new Map<string, Row[]>();
            for (const row of rows) byPartition.set(row.partition[0], [...(byPartition.get(row.partition[0]) ?? []), row]);
            for (const part of byPartition.values()) await table.upsert(part.slice(0, partial % (part.length + 1)));
          } else if (flushes[r]) {
            await table.upsert(first.take());
            checkpoint = positions[r + 1];
          }
        }
        // The new writer: fresh (from the start) without a checkpoint, else from a record at or before it.
        const second = new LateLedger(span);
        let from = 0;
        if (checkpoint !== undefined) {
          const candidates = positions.filter((p) => p <= checkpoint!);
          from = candidates[resumePick % candidates.length];
          second.resume(await table.list(second.spanQuery(from)));
        }
        for (const m of all.filter((x) => x.position >= from)) second.add(m);
        await table.upsert(second.take());

        const stored = decodeAll(await table.list());
        assert.deepEqual(stored.map((m) => `${m.position}:${m.index}`), all.map((m) => `${m.position}:${m.index}`));
        assert.deepEqual(stored, all);
      },
    ), { numRuns: 300 });
  });
});
