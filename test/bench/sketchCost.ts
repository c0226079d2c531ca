/**
 * What a quantile sketch costs a declared projection (a script, not a test: prints figures, asserts nothing).
 *
 *   node dist/test/bench/sketchCost.js [--values 1000000]
 *
 * For three value shapes (CPU percentages, bytes over four decades, latencies with a long tail), it
 * adds N values to one sketch and prints, per value, the time of `accept` beside a baseline loop that
 * only sums them; then merging 100 sketches of N/100 values, the serialised size (what a table row
 * holds, as base64) and the worst relative error of p50/p90/p95/p99 against the exact quantiles.
 * Two candidates with the same bound (1%): DDSketch (@datadog/sketches-js, what opsfold uses) and a
 * base-2 exponential histogram of scale 6 as OpenTelemetry and Prometheus native histograms keep
 * (buckets (2^((i-1)/64), 2^(i/64)], relative error ≤ 0.55%), written here in its plainest form. DDSketch's
 * row is shown twice: as its own protobuf (dense bins, doubles) and as opsfold writes it (sketchCodec.ts).
 */
import { performance } from 'node:perf_hooks';
import { DDSketch } from '@datadog/sketches-js';
import { encodeSketch, SKETCH_ACCURACY } from '../../projections/sketchCodec';

const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--values') + 1] ?? 0) || 1_000_000;
const QUANTILES = [0.5, 0.9, 0.95, 0.99];

/** A deterministic generator (mulberry32), so that runs compare. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SHAPES: Record<string, (r: () => number) => number> = {
  'cpu %': (r) => Math.round(r() * r() * 10000) / 100 + 0.01,
  'bytes': (r) => 10 ** (6 + r() * 4),
  'latency ms': (r) => -Math.log(1 - r()) * 20 + (r() < 0.01 ? 2000 * r() : 0) + 0.1,
};

/** The exponential histogram: positive values only (enough to compare costs), buckets in a Map. */
class ExpHistogram {
  static readonly SCALE = 64;
  readonly buckets = new Map<number, number>();
  count = 0;
  accept(v: number): void {
    const i = Math.ceil(Math.log2(v) * ExpHistogram.SCALE);
    this.buckets.set(i, (this.buckets.get(i) ?? 0) + 1);
    this.count++;
  }
  merge(o: ExpHistogram): void {
    for (const [i, n] of o.buckets) this.buckets.set(i, (this.buckets.get(i) ?? 0) + n);
    this.count += o.count;
  }
  quantile(q: number): number {
    const rank = q * (this.count - 1);
    let seen = 0;
    for (const i of [...this.buckets.keys()].sort((a, b) => a - b)) {
      seen += this.buckets.get(i)!;
      // The bucket's midpoint in relative terms: 2·lo·hi / (lo + hi).
      if (seen > rank) return (2 * 2 ** ((i - 1) / 64) * 2 ** (i / 64)) / (2 ** ((i - 1) / 64) + 2 ** (i / 64));
    }
    return NaN;
  }
  /** Bucket index offset and counts as varint-free 32-bit ints: a dense array like OTel's. */
  serialise(): Buffer {
    const keys = [...this.buckets.keys()];
    const lo = Math.min(...keys);
    const counts = new Uint32Array(Math.max(...keys) - lo + 2);
    counts[0] = lo;
    for (const [i, n] of this.buckets) counts[i - lo + 1] = n;
    return Buffer.from(counts.buffer);
  }
}

interface Candidate {
  name: string;
  make(): { accept(v: number): void };
  merge(into: unknown, from: unknown): void;
  quantile(s: unknown, q: number): number;
  bytes(s: unknown): number;
}

const candidates: Candidate[] = [
  {
    name: 'DDSketch (1%)',
    make: () => new DDSketch({ relativeAccuracy: SKETCH_ACCURACY }),
    merge: (into, from) => (into as DDSketch).merge(from as DDSketch),
    quantile: (s, q) => (s as DDSketch).getValueAtQuantile(q),
    bytes: (s) => Buffer.from((s as DDSketch).toProto()).toString('base64').length,
  },
  {
    name: 'DDSketch, opsfold\'s codec',
    make: () => new DDSketch({ relativeAccuracy: SKETCH_ACCURACY }),
    merge: (into, from) => (into as DDSketch).merge(from as DDSketch),
    quantile: (s, q) => (s as DDSketch).getValueAtQuantile(q),
    bytes: (s) => encodeSketch(s as DDSketch).length,
  },
  {
    name: 'exp. histogram (scale 6)',
    make: () => new ExpHistogram(),
    merge: (into, from) => (into as ExpHistogram).merge(from as ExpHistogram),
    quantile: (s, q) => (s as ExpHistogram).quantile(q),
    bytes: (s) => (s as ExpHistogram).serialise().toString('base64').length,
  },
];

function worstError(values: Float64Array, quantile: (q: number) => number): number {
  const sorted = Float64Array.from(values).sort();
  let worst = 0;
  for (const q of QUANTILES) {
    const rank = q * (sorted.length - 1);
    const [lo, hi] = [sorted[Math.floor(rank)], sorted[Math.ceil(rank)]];
    const v = quantile(q);
    const error = v < lo ? (lo - v) / lo : v > hi ? (v - hi) / hi : 0;
    worst = Math.max(worst, error);
  }
  return worst;
}

function main(): void {
  console.log(`sketch cost per value, ${N.toLocaleString('en')} values per shape (node ${process.version})`);
  for (const [shape, next] of Object.entries(SHAPES)) {
    const r = random(7);
    const values = new Float64Array(N);
    for (let i = 0; i < N; i++) values[i] = next(r);
    let t = 0;
    let sum = 0;
    let baselineNs = Infinity;
    for (let run = 0; run < 3; run++) {
      t = performance.now();
      for (let i = 0; i < N; i++) sum += values[i];
      baselineNs = Math.min(baselineNs, ((performance.now() - t) * 1e6) / N);
    }
    console.log(`\n${shape}: baseline (a sum) ${baselineNs.toFixed(1)} ns/value${sum > 0 ? '' : ' '}`);
    for (const c of candidates) {
      // The best of three runs: the machine is shared, and the first run also warms the JIT.
      let one = c.make();
      let acceptNs = Infinity;
      for (let run = 0; run < 3; run++) {
        one = c.make();
        t = performance.now();
        for (let i = 0; i < N; i++) one.accept(values[i]);
        acceptNs = Math.min(acceptNs, ((performance.now() - t) * 1e6) / N);
      }
      const parts = Array.from({ length: 100 }, () => c.make());
      for (let i = 0; i < N; i++) parts[i % 100].accept(values[i]);
      const merged = c.make();
      t = performance.now();
      for (const p of parts) c.merge(merged, p);
      const mergeUs = ((performance.now() - t) * 1000) / parts.length;
      const error = worstError(values, (q) => c.quantile(one, q));
      const mergedError = worstError(values, (q) => c.quantile(merged, q));
      console.log(`  ${c.name.padEnd(26)} accept ${acceptNs.toFixed(1).padStart(6)} ns/value | merge ${mergeUs.toFixed(1).padStart(6)} µs/sketch | row ${String(c.bytes(one)).padStart(6)} chars base64 | worst error ${(error * 100).toFixed(3)}% (merged ${(mergedError * 100).toFixed(3)}%)`);
    }
  }
}

main();
