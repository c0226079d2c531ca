import type { MinuteWindow } from './minuteBlocks';

/** Per minute: start, count, sum, min, max, revision. */
const FIELDS = 6;

/**
 * One series' minute windows (a key's cross-tenant windows) over a sliding span of `minutes`, in a
 * ring indexed by minute: a new minute takes the cell of the one `minutes` before it. The caller
 * keeps the span (writes nothing older than its newest window minus the span), so that every
 * minute of the span has a cell of its own.
 */
export class SeriesRing {
  private readonly cells: Float64Array;

  constructor(readonly minutes: number) {
    this.cells = new Float64Array(minutes * FIELDS).fill(NaN);
  }

  private offsetOf(windowStart: number): number {
    const i = (windowStart / 60) % this.minutes;
    return (i < 0 ? i + this.minutes : i) * FIELDS;
  }

  has(windowStart: number): boolean {
    return this.cells[this.offsetOf(windowStart)] === windowStart;
  }

  set(windowStart: number, count: number, sum: number, min: number, max: number, revision: number): void {
    const o = this.offsetOf(windowStart);
    const c = this.cells;
    c[o] = windowStart;
    c[o + 1] = count;
    c[o + 2] = sum;
    c[o + 3] = min;
    c[o + 4] = max;
    c[o + 5] = revision;
  }

  /** The windows held whose start lies in [from, to], ascending; at most `minutes` of them. */
  windows(from: number, to: number): MinuteWindow[] {
    const out: MinuteWindow[] = [];
    const last = Math.min(to, from + (this.minutes - 1) * 60);
    for (let ws = from; ws <= last; ws += 60) {
      const o = this.offsetOf(ws);
      const c = this.cells;
      if (c[o] === ws) out.push({ windowStart: ws, count: c[o + 1], sum: c[o + 2], min: c[o + 3], max: c[o + 4], revision: c[o + 5] });
    }
    return out;
  }
}
