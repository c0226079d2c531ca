import { CorruptLogError } from './errors';
import type { MetricsReceived, OpsEvent, IngestSource } from './events';
import type { Metric, MetricColumns } from './metric';
import { decodeBacklog, encodeBacklog, TYPE_BACKLOG } from './backlogCodec';

/**
 * Binary encoding of log payloads. Metrics are the bulk of the log and of every replay, so
 * they are stored columnar-ish: a string dictionary per record (tenants, VMs and keys repeat
 * within a message) and a fixed 44-byte row per metric, decoded without JSON.parse.
 * The first byte of every payload is its record type: 1 metrics, 2 backlog samples (backlogCodec.ts).
 */
const TYPE_METRICS = 1;
const VERSION = 1;
const ABSENT = 0xffffffff;
const NULL = 0xfffffffe;
const ROW_BYTES = 16 + 4 * 7;
const SOURCES: readonly IngestSource[] = ['http', 'cli', 'servicebus', 'simulator'];

export function encodeEvent(event: OpsEvent): Buffer {
  switch (event.type) {
    case 'MetricsReceived':
      return encodeMetrics(event);
    case 'BacklogSampled':
      return encodeBacklog(event);
  }
}

export function decodeEvent(payload: Buffer): OpsEvent {
  switch (payload[0]) {
    case TYPE_METRICS:
      try {
        return decodeMetrics(payload);
      } catch (error) {
        throw unreadable(error);
      }
    case TYPE_BACKLOG:
      return decodeBacklog(payload) as OpsEvent;
    default:
      // A reader older than the writer meets a type it does not know: say so rather than guess.
      throw new CorruptLogError(`unknown event type ${payload[0]} in log payload (written by a newer opsfold?)`);
  }
}

/** A short or garbled payload makes Buffer reads throw RangeError and JSON.parse SyntaxError: a CorruptLogError saying so. */
function unreadable(error: unknown): CorruptLogError {
  if (error instanceof CorruptLogError) return error;
  return new CorruptLogError(`unreadable metrics record: ${(error as Error).message}`, { cause: error });
}

/** The rejections and reception facts of a metrics record, without decoding its metrics. */
export function decodeRejections(payload: Buffer): Pick<MetricsReceived, 'source' | 'receivedAtMs' | 'rejected' | 'idempotencyKey'> & { accepted: number } | undefined {
  if (payload[0] !== TYPE_METRICS) return undefined;
  const headerBytes = payload.readUInt32LE(2);
  const header = JSON.parse(payload.toString('utf8', 6, 6 + headerBytes)) as { s: number; r: number; k?: string; x: MetricsReceived['rejected'] };
  return { source: SOURCES[header.s] ?? 'http', receivedAtMs: header.r, rejected: header.x, idempotencyKey: header.k, accepted: payload.readUInt32LE(6 + headerBytes) };
}

function encodeMetrics(event: MetricsReceived): Buffer {
  const dict = new Map<string, number>();
  const strings: string[] = [];
  const id = (s: string | null | undefined): number => {
    if (s === undefined) return ABSENT;
    if (s === null) return NULL;
    let i = dict.get(s);
    if (i === undefined) {
      i = strings.length;
      dict.set(s, i);
      strings.push(s);
    }
    return i;
  };
  const rows = Buffer.allocUnsafe(event.metrics.length * ROW_BYTES);
  let o = 0;
  for (const m of event.metrics) {
    rows.writeDoubleLE(m.t, o);
    rows.writeDoubleLE(m.value, o + 8);
    rows.writeUInt32LE(id(m.tenant), o + 16);
    rows.writeUInt32LE(id(m.vm), o + 20);
    rows.writeUInt32LE(id(m.key), o + 24);
    rows.writeUInt32LE(id(m.siteName), o + 28);
    rows.writeUInt32LE(id(m.resourcePoolName), o + 32);
    rows.writeUInt32LE(id(m.region), o + 36);
    rows.writeUInt32LE(id(m.machineSize), o + 40);
    o += ROW_BYTES;
  }
  const header = JSON.stringify({
    s: SOURCES.indexOf(event.source),
    r: event.receivedAtMs,
    k: event.idempotencyKey,
    g: event.gate,
    d: strings,
    x: event.rejected,
  });
  const headerBytes = Buffer.byteLength(header);
  const out = Buffer.allocUnsafe(2 + 4 + headerBytes + 4 + rows.length);
  out[0] = TYPE_METRICS;
  out[1] = VERSION;
  out.writeUInt32LE(headerBytes, 2);
  out.write(header, 6, 'utf8');
  out.writeUInt32LE(event.metrics.length, 6 + headerBytes);
  rows.copy(out, 10 + headerBytes);
  return out;
}

/** A metrics record's header, its dictionary interned, and where its rows are (their length checked). */
function metricsLayout(payload: Buffer): {
  header: { s: number; r: number; k?: string; g?: number; x: MetricsReceived['rejected'] }; dict: string[]; n: number; base: number; rows: DataView;
} {
  if (payload[1] !== VERSION) throw new CorruptLogError(`unsupported metrics record version ${payload[1]}`);
  const headerBytes = payload.readUInt32LE(2);
  const header = JSON.parse(payload.toString('utf8', 6, 6 + headerBytes)) as {
    s: number; r: number; k?: string; g?: number; d: string[]; x: MetricsReceived['rejected'];
  };
  const dict = header.d;
  for (let i = 0; i < dict.length; i++) dict[i] = interned(dict[i]);
  const n = payload.readUInt32LE(6 + headerBytes);
  const base = 10 + headerBytes;
  if (base + n * ROW_BYTES !== payload.length) throw new CorruptLogError('metrics record length does not match its row count');
  // A DataView's reads are compiled inline (Buffer's readDoubleLE and readUInt32LE are calls with their own
  // bounds checks): a third of the time for a replay's million metrics. The rows' length was checked above.
  return { header, dict, n, base, rows: new DataView(payload.buffer, payload.byteOffset, payload.length) };
}

function decodeMetrics(payload: Buffer): MetricsReceived {
  const { header, dict, n, base, rows } = metricsLayout(payload);
  const metrics: Metric[] = new Array(n);
  for (let i = 0, o = base; i < n; i++, o += ROW_BYTES) {
    const m: Metric = {
      t: rows.getFloat64(o, true),
      value: rows.getFloat64(o + 8, true),
      tenant: dict[rows.getUint32(o + 16, true)],
      vm: dict[rows.getUint32(o + 20, true)],
      key: dict[rows.getUint32(o + 24, true)],
    };
    const site = rows.getUint32(o + 28, true);
    if (site !== ABSENT) m.siteName = site === NULL ? null : dict[site];
    const pool = rows.getUint32(o + 32, true);
    if (pool !== ABSENT) m.resourcePoolName = pool === NULL ? null : dict[pool];
    const region = rows.getUint32(o + 36, true);
    if (region !== ABSENT) m.region = region === NULL ? null : dict[region];
    const size = rows.getUint32(o + 40, true);
    if (size !== ABSENT) m.machineSize = size === NULL ? null : dict[size];
    metrics[i] = m;
  }
  const event: MetricsReceived = {
    type: 'MetricsReceived',
    source: SOURCES[header.s] ?? 'http',
    receivedAtMs: header.r,
    metrics,
    rejected: header.x,
  };
  if (header.k !== undefined) event.idempotencyKey = header.k;
  if (header.g !== undefined) event.gate = header.g;
  return event;
}

/** What the windows fold reads of a metrics record: its metrics as columns, the gate it passed and its reception time. */
export interface MetricsRecordColumns {
  columns: MetricColumns;
  /** The metric gate's version at ingest (0: before the gate; see METRIC_GATE_VERSION). */
  gate: number;
  receivedAtMs: number;
}

/**
 * A metrics record's metrics as columns (see MetricColumns), without an object per metric;
 * undefined for a record of another type. Throws CorruptLogError where decodeEvent would.
 */
export function decodeMetricColumns(payload: Buffer): MetricsRecordColumns | undefined {
  if (payload[0] !== TYPE_METRICS) return undefined;
  try {
    const { header, dict, n, base, rows } = metricsLayout(payload);
    // Made at their length (arrays grown by push were half of what decoding allocated); the numbers unboxed.
    const t = new Array<number>(n);
    const value = new Array<number>(n);
    const tenant = new Array<string>(n);
    const vm = new Array<string>(n);
    const key = new Array<string>(n);
    for (let i = 0, o = base; i < n; i++, o += ROW_BYTES) {
      t[i] = rows.getFloat64(o, true);
      value[i] = rows.getFloat64(o + 8, true);
      tenant[i] = dict[rows.getUint32(o + 16, true)];
      vm[i] = dict[rows.getUint32(o + 20, true)];
      key[i] = dict[rows.getUint32(o + 24, true)];
    }
    return { columns: { length: n, t, value, tenant, vm, key }, gate: header.g ?? 0, receivedAtMs: header.r };
  } catch (error) {
    throw unreadable(error);
  }
}

/**
 * The one copy of each tenant, VM and counter key string the decoder has met: every record's
 * dictionary is parsed into new strings, and the fold looks each metric's up in Maps keyed by the
 * first copy seen. The same object compares at once; another copy is hashed and compared char by char.
 * Cleared when it holds more than INTERNED_MAX (a fleet's ids are far fewer).
 */
const internedStrings = new Map<string, string>();
const INTERNED_MAX = 200_000;

function interned(s: string): string {
  const known = internedStrings.get(s);
  if (known !== undefined) return known;
  if (internedStrings.size >= INTERNED_MAX) internedStrings.clear();
  internedStrings.set(s, s);
  return s;
}

/** Whether the payload is of a record type this version writes (metrics or backlog samples); not whether it decodes. */
export function isKnownRecordType(payload: Buffer): boolean {
  return payload[0] === TYPE_METRICS || payload[0] === TYPE_BACKLOG;
}
