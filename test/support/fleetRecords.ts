import fc from 'fast-check';
import type { Metric } from '../../src/core/metric';
import type { TestRecord } from './metricBuilders';

/** 2022-03-30T11:00:00Z, an hour (and a 15-minute slot) start. */
export const T0 = 1648638000;

const TENANTS = ['T0+a/1==', 'T1/b+2=', "T2'#?"];
const VMS = ['vm/0+', 'vm=1'];
const KEYS = ['win_cpu.percent', 'win_mem.used'];

/**
 * A small fleet as SPOC sends it, over three hours and a half: each tenant's VMs report some keys
 * in some minutes (runs with gaps, so VMs come, go and come back), one metric per VM, key and
 * minute (sometimes a second); each tenant sends its minutes in batches of 15, and a batch
 * arrives 0 to 25 minutes after its last minute (so tenants are late for each other, as pushes
 * every 15 minutes are), or the metrics arrive in a wholly random order. Records are appended
 * 0–8 s apart in processing time, so idle closes happen too. Values are whole numbers (sums are exact in any order).
 */
export function fleetRecordsArb(): fc.Arbitrary<TestRecord[]> {
  const series = fc.record({
    tenant: fc.nat({ max: TENANTS.length - 1 }),
    vm: fc.nat({ max: VMS.length - 1 }),
    key: fc.nat({ max: KEYS.length - 1 }),
    from: fc.integer({ min: 0, max: 200 }),
    length: fc.integer({ min: 1, max: 90 }),
    every: fc.constantFrom(1, 1, 1, 2, 7),
    twice: fc.boolean(),
  });
  const delays = fc.array(fc.integer({ min: 0, max: 25 }), { minLength: 16, maxLength: 16 });
  return fc.tuple(fc.array(series, { minLength: 1, maxLength: 8 }), delays, fc.boolean(), fc.array(fc.integer({ min: 0, max: 8000 }), { minLength: 1, maxLength: 64 }), fc.integer({ min: 0, max: 1000 }))
    .map(([all, lateness, shuffled, gaps, seed]) => {
      const sent: { m: Metric; arrives: number; batch: string }[] = [];
      let n = seed;
      for (const s of all) {
        for (let minute = s.from; minute < s.from + s.length; minute += s.every) {
          const batch = Math.floor(minute / 15);
          const arrives = (batch + 1) * 15 + lateness[(batch + s.tenant) % lateness.length];
          const m = (second: number): Metric => ({ t: T0 + minute * 60 + second, tenant: TENANTS[s.tenant], vm: VMS[s.vm], key: KEYS[s.key], value: (n = (n * 7 + 3) % 101) - 20 });
          sent.push({ m: m(n % 60), arrives, batch: `${s.tenant}/${batch}` });
          if (s.twice && minute % 3 === 0) sent.push({ m: m((n + 17) % 60), arrives, batch: `${s.tenant}/${batch}` });
        }
      }
      if (shuffled) sent.sort((a, b) => ((a.m.value * 31 + a.m.t) % 17) - ((b.m.value * 31 + b.m.t) % 17));
      else sent.sort((a, b) => a.arrives - b.arrives || (a.batch < b.batch ? -1 : a.batch > b.batch ? 1 : a.m.t - b.m.t));
      const records: TestRecord[] = [];
      let at = 1_000_000;
      for (const [i, s] of sent.entries()) {
        const last = records[records.length - 1];
        if (last && !shuffled && sent[i - 1].batch === s.batch) last.metrics.push(s.m);
        else if (last && shuffled && i % 5 !== 0) last.metrics.push(s.m);
        else {
          at += gaps[records.length % gaps.length];
          records.push({ position: records.length * 10, next: records.length * 10 + 10, appendedAtMs: at, metrics: [s.m] });
        }
      }
      return records;
    });
}

/**
 * The metrics too late by the rule of DESIGN §2, computed without the fold, as `position:index`:
 * a record is judged against the watermark before it (largest earlier event time minus the
 * tolerance); a metric is too late when its window ends at or before watermark − allowed lateness.
 */
export function lateByRule(recs: readonly TestRecord[], outOfOrderSeconds: number, allowedLatenessSeconds: number): Set<string> {
  const out = new Set<string>();
  let maxT = -Infinity;
  for (const r of recs) {
    const watermark = maxT - outOfOrderSeconds;
    r.metrics.forEach((m, i) => {
      if (Math.floor(m.t / 60) * 60 + 60 <= watermark - allowedLatenessSeconds) out.add(`${r.position}:${i}`);
    });
    for (const m of r.metrics) maxT = Math.max(maxT, m.t);
  }
  return out;
}
