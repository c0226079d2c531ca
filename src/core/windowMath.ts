/** Tumbling event-time windows of one minute, aligned to UTC minutes. */
export const WINDOW_SECONDS = 60;

/** Start (epoch seconds) of the window a metric with event time `t` belongs to. */
export function windowStartOf(t: number): number {
  return Math.floor(t / WINDOW_SECONDS) * WINDOW_SECONDS;
}

/** Mergeable aggregate of one window. */
export interface Aggregate {
  count: number;
  sum: number;
  min: number;
  max: number;
}

/** A closed window, as emitted to subscribers and upserted into the projections. */
export interface WindowEvent extends Aggregate {
  key: string;
  /** Present on per-VM windows, absent on cross-tenant ones. */
  tenant?: string;
  vm?: string;
  windowStart: number;
  avg: number;
  /** 1 when first emitted, then 2, 3… for corrections by late data. */
  revision: number;
  /**
   * True on a window's final notice: the watermark has passed its end plus the allowed lateness, no
   * revision can follow, and these are its last values (see isFinal). Absent (false) on revisions.
   */
  final?: boolean;
}

/**
 * Whether the window starting at `windowStart` is final once windows ending by `finalThrough` are:
 * the watermark minus the allowed lateness. A metric for it would then go to the late ledger.
 */
export function isFinal(windowStart: number, finalThrough: number): boolean {
  return windowStart + WINDOW_SECONDS <= finalThrough;
}

/** The windows of one window start that became final together, in their fixed order (see MinuteBlocks.closedOf). */
export interface FinalMinute {
  windowStart: number;
  /** Cross-tenant windows by key, then per-VM windows by tenant, VM and key; each with `final: true`. */
  windows: WindowEvent[];
}

/** A metric that arrived later than the allowed lateness, kept in the late-events ledger. */
export interface LateMetric {
  /** Log position of the record that held it, and its index there. */
  position: number;
  index: number;
  key: string;
  tenant: string;
  vm: string;
  t: number;
  value: number;
  /** The watermark when it arrived. */
  watermark: number;
}

/**
 * Receives emitted window revisions as plain fields, so a consumer that packs them (a rebuild's
 * event history) needs no object per window. `tenant` and `vm` are undefined on a cross-tenant window.
 */
export interface WindowRecorder {
  record(key: string, tenant: string | undefined, vm: string | undefined, windowStart: number,
    count: number, sum: number, min: number, max: number, revision: number): void;
}

/** A recorder that collects WindowEvent objects into `out`. */
export function eventCollector(out: WindowEvent[]): WindowRecorder {
  return {
    record: (key, tenant, vm, windowStart, count, sum, min, max, revision) => {
      out.push(windowEvent({ count, sum, min, max }, key, windowStart, revision, tenant, vm));
    },
  };
}

export function windowEvent(agg: Aggregate, key: string, windowStart: number, revision: number, tenant?: string, vm?: string): WindowEvent {
  const event: WindowEvent = { key, windowStart, count: agg.count, sum: agg.sum, min: agg.min, max: agg.max, avg: agg.sum / agg.count, revision };
  if (tenant !== undefined) {
    event.tenant = tenant;
    event.vm = vm;
  }
  return event;
}
