import type { MinuteWindow } from './minuteBlocks';
import type { FleetFigures } from './topVms';

/** One minute of every VM's window of a key: indexed by the VM's id. */
interface Column {
  start: number;
  /** 0: the VM has no window in this minute. */
  count: Float64Array;
  sum: Float64Array;
  /** min, max and revision of the windows that are not one value at revision 1 (of one value they are the sum and 1), and the sketch's bytes of one of three values or more. */
  other: Map<number, Other>;
}

type Other = [min: number, max: number, revision: number, sketch?: Uint8Array];

/** VMs gone from the span before the ids are compacted: at least this many, and half of them. */
const MIN_STALE_TO_COMPACT = 64;

/**
 * The per-VM minute windows of one counter key over a sliding span of `minutes` back from the
 * newest window any VM has: a column of every VM's values per minute (VMs by a dense id), in a
 * ring indexed by minute. The hottest VMs of a range are then a walk down a few typed arrays, and
 * a VM costs 16 bytes a minute (two doubles) besides its id. VMs that have no window left in the
 * span give up their ids now and then (`compact`), so memory stays bounded by the fleet that
 * reports now, not by every VM ever seen.
 */
export class VmColumns {
  readonly ids = new Map<string, number>();
  private tenants: string[] = [];
  private vms: string[] = [];
  /** Per id: the start of its newest window. */
  private newestOf = new Float64Array(0);
  /** The newest window start of any VM. */
  newest = -Infinity;
  private readonly columns: (Column | undefined)[];
  private capacity = 0;

  constructor(readonly minutes: number) {
    this.columns = new Array<Column | undefined>(minutes);
  }

  /** The oldest window start the span holds: ranges from here on can be answered. */
  get boundary(): number {
    return this.newest - (this.minutes - 1) * 60;
  }

  get size(): number {
    return this.ids.size;
  }

  /** The id of a VM, given one when it has none (ids change only in `set`, when a minute enters the span). */
  private idOf(tenant: string, vm: string): number {
    const name = `${tenant}\u0000${vm}`;
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.ids.size;
      if (id >= this.capacity) this.grow(Math.max(16, this.capacity * 2));
      this.ids.set(name, id);
      this.tenants[id] = tenant;
      this.vms[id] = vm;
      this.newestOf[id] = -Infinity;
    }
    return id;
  }

  find(tenant: string, vm: string): number | undefined {
    return this.ids.get(`${tenant}\u0000${vm}`);
  }

  tenantOf(id: number): string {
    return this.tenants[id];
  }

  vmOf(id: number): string {
    return this.vms[id];
  }

  /** The start of a VM's newest window, as far as this span knows (-Infinity for one it does not hold). */
  newestOfVm(tenant: string, vm: string): number {
    const id = this.find(tenant, vm);
    return id === undefined ? -Infinity : this.newestOf[id];
  }

  /** A VM's newest window known from elsewhere (the catalog); one before the span is not kept. */
  noteNewest(tenant: string, vm: string, windowStart: number): void {
    if (windowStart > this.newest) this.newest = windowStart;
    if (windowStart < this.boundary) return;
    const id = this.idOf(tenant, vm);
    if (windowStart > this.newestOf[id]) this.newestOf[id] = windowStart;
  }

  has(tenant: string, vm: string, windowStart: number): boolean {
    const id = this.find(tenant, vm);
    const col = this.columns[this.indexOf(windowStart)];
    return id !== undefined && col !== undefined && col.start === windowStart && col.count[id] !== 0;
  }

  /** Holds a VM's window (replacing what it held of that minute); a window before the span is not held. */
  set(tenant: string, vm: string, windowStart: number, count: number, sum: number, min: number, max: number, revision: number, sketch?: Uint8Array): void {
    if (windowStart > this.newest) this.newest = windowStart;
    if (windowStart < this.boundary) return;
    const i = this.indexOf(windowStart);
    let col = this.columns[i];
    if (col === undefined || col.start !== windowStart) col = this.freshColumn(i, windowStart);
    const id = this.idOf(tenant, vm);
    if (windowStart > this.newestOf[id]) this.newestOf[id] = windowStart;
    col.count[id] = count;
    col.sum[id] = sum;
    if (count === 1 && revision === 1) col.other.delete(id);
    else col.other.set(id, sketch === undefined ? [min, max, revision] : [min, max, revision, sketch]);
  }

  /** One VM's windows whose start lies in [from, to], ascending (`from` within the span). */
  windowsOf(id: number, from: number, to: number): MinuteWindow[] {
    const out: MinuteWindow[] = [];
    this.forEach(from, to, (at, windowStart, count, sum, min, max, revision, sketch) => {
      if (at !== id) return;
      const w: MinuteWindow = { windowStart, count, sum, min, max, revision };
      if (sketch !== undefined) w.sketch = sketch;
      out.push(w);
    }, id);
    return out;
  }

  /**
   * Every VM's windows whose start lies in [from, to] (`from` within the span), minute by minute
   * ascending; of one VM only, when `only` is given.
   */
  forEach(from: number, to: number, visit: (id: number, windowStart: number, count: number, sum: number, min: number, max: number, revision: number, sketch?: Uint8Array) => void, only?: number): void {
    const last = Math.min(to, from + (this.minutes - 1) * 60);
    for (let ws = from; ws <= last; ws += 60) {
      const col = this.columns[this.indexOf(ws)];
      if (col === undefined || col.start !== ws) continue;
      const first = only ?? 0;
      const end = only === undefined ? this.ids.size : only + 1;
      for (let id = first; id < end; id++) {
        const count = col.count[id];
        if (count === 0) continue;
        const sum = col.sum[id];
        const other = col.other.size === 0 ? undefined : col.other.get(id);
        if (other === undefined) visit(id, ws, count, sum, sum, sum, 1);
        else visit(id, ws, count, sum, other[0], other[1], other[2], other[3]);
      }
    }
  }

  /** Every VM's windows whose start lies in [from, to] (`from` within the span), added to `figures` by id, minute by minute ascending. */
  addTo(figures: FleetFigures, from: number, to: number): void {
    const last = Math.min(to, from + (this.minutes - 1) * 60);
    const ids = this.ids.size;
    for (let ws = from; ws <= last; ws += 60) {
      const col = this.columns[this.indexOf(ws)];
      if (col === undefined || col.start !== ws) continue;
      const { count, sum, other } = col;
      for (let id = 0; id < ids; id++) {
        const c = count[id];
        if (c === 0) continue;
        const o = other.size === 0 ? undefined : other.get(id);
        if (o === undefined) figures.add(id, c, sum[id], sum[id], sum[id]);
        else figures.add(id, c, sum[id], o[0], o[1], o[3]);
      }
    }
  }

  private indexOf(windowStart: number): number {
    const i = (windowStart / 60) % this.minutes;
    return i < 0 ? i + this.minutes : i;
  }

  /** The cell of a minute that enters the span: the one it replaces is emptied (or a new one made). */
  private freshColumn(i: number, windowStart: number): Column {
    this.compactIfStale();
    let col = this.columns[i];
    if (col === undefined) {
      col = { start: windowStart, count: new Float64Array(this.capacity), sum: new Float64Array(this.capacity), other: new Map() };
      this.columns[i] = col;
    } else {
      col.start = windowStart;
      col.count.fill(0);
      col.other.clear();
    }
    return col;
  }

  private grow(capacity: number): void {
    const newestOf = new Float64Array(capacity).fill(-Infinity);
    newestOf.set(this.newestOf);
    this.newestOf = newestOf;
    for (const col of this.columns) {
      if (!col) continue;
      const count = new Float64Array(capacity);
      count.set(col.count);
      const sum = new Float64Array(capacity);
      sum.set(col.sum);
      col.count = count;
      col.sum = sum;
    }
    this.capacity = capacity;
  }

  /** Gives new, dense ids to the VMs that still have a window in the span, when many have none. */
  private compactIfStale(): void {
    const boundary = this.boundary;
    let stale = 0;
    for (let id = 0; id < this.ids.size; id++) if (this.newestOf[id] < boundary) stale++;
    if (stale < MIN_STALE_TO_COMPACT || stale * 2 < this.ids.size) return;
    const keep: number[] = [];
    for (let id = 0; id < this.ids.size; id++) if (this.newestOf[id] >= boundary) keep.push(id);
    const capacity = Math.max(16, keep.length * 2);
    const newestOf = new Float64Array(capacity).fill(-Infinity);
    keep.forEach((old, id) => (newestOf[id] = this.newestOf[old]));
    for (const col of this.columns) {
      if (!col) continue;
      const count = new Float64Array(capacity);
      const sum = new Float64Array(capacity);
      const other = new Map<number, Other>();
      keep.forEach((old, id) => {
        count[id] = col.count[old];
        sum[id] = col.sum[old];
        const o = col.other.get(old);
        if (o) other.set(id, o);
      });
      Object.assign(col, { count, sum, other });
    }
    this.tenants = keep.map((old) => this.tenants[old]);
    this.vms = keep.map((old) => this.vms[old]);
    this.ids.clear();
    keep.forEach((_, id) => this.ids.set(`${this.tenants[id]}\u0000${this.vms[id]}`, id));
    this.newestOf = newestOf;
    this.capacity = capacity;
  }
}
