import { Type, streams, types, type Schema } from 'avsc';
import type { Readable } from 'node:stream';
import { CorruptLogError } from '../../core/errors';

/** One event as Event Hubs Capture wrote it (record `EventData` of its published Avro schema). */
export interface CapturedEvent {
  sequenceNumber: number;
  offset: string;
  /** Capture keeps whole seconds (`M/d/yyyy h:mm:ss AM`, UTC). */
  enqueuedTimeMs: number;
  /** From `SystemProperties["x-opt-partition-key"]`, when the event had one. */
  partitionKey?: string;
  properties: Record<string, unknown>;
  systemProperties: Record<string, unknown>;
  /** The event's bytes as sent; empty when Capture wrote a null body. */
  body: Buffer;
}

const REQUIRED_FIELDS = ['SequenceNumber', 'Offset', 'EnqueuedTimeUtc', 'Body'];

/**
 * Longs as bigint while decoding: a property value beyond 2^53 (anyone may send one) must not make
 * a whole file unreadable, as avsc's own number-based long type would.
 */
const BIG_LONG = types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint | number) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(n));
    return buf;
  },
  fromJSON: (n: number | string) => BigInt(n),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint' || Number.isInteger(n),
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

/**
 * Reads one Capture file, an Avro object container with codec null or deflate (Capture's "Avro"
 * and "AvroDeflate"), as batches of at most `batchSize` events in file order, streaming: a file of
 * hundreds of MB is never held whole. A file with a header and no block (Capture writes one when
 * nothing arrived in its window) yields nothing. Anything else (not Avro, another schema, a codec
 * other than these) is a CorruptLogError naming `name`.
 */
export async function* readCaptureFile(source: Readable, name: string, batchSize = 500): AsyncGenerator<CapturedEvent[]> {
  const decoder = new streams.BlockDecoder({
    parseHook: (schema: Schema) => Type.forSchema(schema, { wrapUnions: true, registry: { long: BIG_LONG } }),
    codecs: streams.BlockDecoder.defaultCodecs(),
  });
  const refuse = (why: string, cause?: unknown) => new CorruptLogError(`Capture file ${name}: ${why}`, { cause });
  decoder.on('metadata', (type: Type, codec: string) => {
    const fields = ((type as unknown as { fields?: { name: string }[] }).fields ?? []).map((f) => f.name);
    const missing = REQUIRED_FIELDS.filter((f) => !fields.includes(f));
    if (missing.length > 0) decoder.destroy(refuse(`not Capture's EventData schema (no ${missing.join(', ')}; codec ${codec})`));
  });
  source.on('error', (error) => decoder.destroy(error));
  source.pipe(decoder);
  let batch: CapturedEvent[] = [];
  try {
    for await (const record of decoder as AsyncIterable<Record<string, unknown>>) {
      batch.push(capturedEvent(record, name));
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
    }
  } catch (error) {
    if (error instanceof CorruptLogError) throw error;
    throw refuse((error as Error).message, error);
  } finally {
    source.unpipe(decoder);
    source.destroy();
    decoder.destroy();
  }
  if (batch.length > 0) yield batch;
}

function capturedEvent(record: Record<string, unknown>, name: string): CapturedEvent {
  const systemProperties = unwrapMap(record.SystemProperties);
  const key = systemProperties['x-opt-partition-key'];
  const enqueuedTimeMs = parseCaptureTime(String(record.EnqueuedTimeUtc));
  if (enqueuedTimeMs === undefined) throw new CorruptLogError(`Capture file ${name}: EnqueuedTimeUtc ${JSON.stringify(record.EnqueuedTimeUtc)} is not a time`);
  const body = unwrap(record.Body);
  return {
    sequenceNumber: Number(record.SequenceNumber as bigint),
    offset: String(record.Offset),
    enqueuedTimeMs,
    ...(typeof key === 'string' ? { partitionKey: key } : {}),
    properties: unwrapMap(record.Properties),
    systemProperties,
    body: Buffer.isBuffer(body) ? body : Buffer.alloc(0),
  };
}

/** A union value as avsc wraps it (`{ string: "x" }`), unwrapped; longs as numbers when they fit. */
function unwrap(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return value;
  const inner = Object.values(value as Record<string, unknown>)[0];
  return typeof inner === 'bigint' && inner >= Number.MIN_SAFE_INTEGER && inner <= Number.MAX_SAFE_INTEGER ? Number(inner) : inner;
}

function unwrapMap(map: unknown): Record<string, unknown> {
  if (map === null || typeof map !== 'object') return {};
  return Object.fromEntries(Object.entries(map as Record<string, unknown>).map(([k, v]) => [k, unwrap(v)]));
}

/**
 * Capture writes `EnqueuedTimeUtc` in .NET's invariant general format, `M/d/yyyy h:mm:ss AM`
 * (UTC); an ISO 8601 time (as IoT Hub's routing writes) is read too.
 */
export function parseCaptureTime(text: string): number | undefined {
  const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2}):(\d{2}) ([AP]M)$/.exec(text.trim());
  if (m) {
    const [, month, day, year, hour12, minute, second, half] = m;
    const hour = (Number(hour12) % 12) + (half === 'PM' ? 12 : 0);
    return Date.UTC(Number(year), Number(month) - 1, Number(day), hour, Number(minute), Number(second));
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text.trim())) {
    const ms = Date.parse(text.trim().replace(/(\.\d{3})\d+/, '$1'));
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}
