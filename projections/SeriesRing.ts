import type { MinuteWindow } from './minuteBlocks';

/** Per minute: start, count, sum, min, max, revision, vms and expected VMs (NaN: not known). */
const FIELDS = 8;

/**
 * One series' minute windows (a key's cross-tenant windows) over a sliding span of `minutes`, in a
 * ring indexed by minute: a new minute takes the cell of the one `minutes` before it. The caller
 * keeps the span (writes nothing older than its newest window minus the span), so that every
 * minute of the span has a cell of its own.
 */
export class SeriesRing {
  private readonly cells: Float64Array;
  /** Per minute: the sketch's bytes of a window of three values or more. */
  private readonly sketches: (Uint8Array | undefined)[];

  constructor(readonly minutes: number) {
    this.cells = new Float64Array(minutes * FIELDS).fill(NaN);
    this.sketches = new Array<Uint8Array | undefined>(minutes);
  }

  private offsetOf(windowStart: number): number {
    const i = (windowStart / 60) % this.minutes;
    return (i < 0 ? i + this.minutes : i) * FIELDS;
  }

  has(windowStart: number): boolean {
    return this.cells[this.offsetOf(windowStart)] === windowStart;
  }

  /** Holds a window (a MinuteWindow's fields), replacing what the minute's cell held. */
  set(w: MinuteWindow): void {
    const o = this.offsetOf(w.windowStart);
    const c = this.cells;
    c[o] = w.windowStart;
    c[o + 1] = w.count;
    c[o + 2] = w.sum;
    c[o + 3] = w.min;
    c[o + 4] = w.max;
    c[o + 5] = w.revision;
    c[o + 6] = w.vms ?? NaN;
    c[o + 7] = w.expectedVms ?? NaN;
    this.sketches[o / FIELDS] = w.sketch;
  }

  /** The windows held whose start lies in [from, to], ascending; at most `minutes` of them. */
  windows(from: number, to: number): MinuteWindow[] {
    const out: MinuteWindow[] = [];
    const last = Math.min(to, from + (this.minutes - 1) * 60);
    for (let ws = from; ws <= last; ws += 60) {
      const o = this.offsetOf(ws);
      const c = this.cells;
      if (c[o] !== ws) continue;
      const w: MinuteWindow = { windowStart: ws, count: c[o + 1], sum: c[o + 2], min: c[o + 3], max: c[o + 4], revision: c[o + 5] };
      if (!Number.isNaN(c[o + 6])) {
        w.vms = c[o + 6];
        w.expectedVms = c[o + 7];
      }
      const sketch = this.sketches[o / FIELDS];
      if (sketch !== undefined) w.sketch = sketch;
      out.push(w);
    }
    return out;
  }
}
