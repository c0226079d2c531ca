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
  /** Cross-tenant windows: the distinct (tenant, VM) pairs with a metric in the window. */
  vms?: number;
  /** Cross-tenant windows: the distinct pairs that reported the key in the 60 minutes before the window starts. */
  expectedVms?: number;
  /**
   * The window's values as a sketch (the bytes of projections/sketchCodec.ts), when it holds three
   * or more: for in-process readers (the read cache's percentiles). Not enumerable, so never in an
   * event's JSON or on the Event Hub.
   */
  readonly sketch?: Uint8Array;
  /**
   * True on a window's final notice: the watermark has passed its end plus the allowed lateness, no
   * revision can follow, and these are its last values (see isFinal). Absent (false) on revisions.
   */
  final?: boolean;
}

/**
 * What an emitted revision carries besides its aggregate, handed to a WindowRecorder in one object
 * the emitter reuses (a recorder copies what it keeps): the VM counts of a cross-tenant window,
 * and the sketch's bytes of a window of three values or more when events are built.
 */
export interface WindowExtras {
  vms?: number;
  expectedVms?: number;
  sketch?: Uint8Array;
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
    count: number, sum: number, min: number, max: number, revision: number, extras?: WindowExtras): void;
}

/** A recorder that collects WindowEvent objects into `out`. */
export function eventCollector(out: WindowEvent[]): WindowRecorder {
  return {
    record: (key, tenant, vm, windowStart, count, sum, min, max, revision, extras) => {
      out.push(withExtras(windowEvent({ count, sum, min, max }, key, windowStart, revision, tenant, vm), extras));
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

/** The event with what `extras` holds: VM counts as fields, the sketch's bytes as a property JSON leaves out. */
export function withExtras(event: WindowEvent, extras: WindowExtras | undefined): WindowEvent {
  if (extras === undefined) return event;
  if (extras.vms !== undefined) event.vms = extras.vms;
  if (extras.expectedVms !== undefined) event.expectedVms = extras.expectedVms;
  if (extras.sketch !== undefined) Object.defineProperty(event, 'sketch', { value: extras.sketch, enumerable: false });
  return event;
}
