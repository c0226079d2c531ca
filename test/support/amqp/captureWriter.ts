/**
 * A test fixture: Event Hubs Capture for the emulated hub, writing into Azurite Blob Storage the
 * files Capture writes, in its format and naming (written here from Microsoft's description, not
 * from opsfold's reader): per partition and capture window one Avro object container of record
 * `EventData` (Capture's published schema), codec null ("Avro") or deflate ("AvroDeflate"), named
 * by the name format (default `{Namespace}/{EventHub}/{PartitionId}/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}`)
 * plus `.avro`, with `EnqueuedTimeUtc` as .NET writes it (`2/16/2026 2:30:05 PM`, UTC) and the
 * partition key in `SystemProperties["x-opt-partition-key"]`. An empty file (header only) for a
 * window in which nothing arrived, unless told to skip those as Capture can be. A window closes
 * when the test calls `capture()`; events that left the hub before are never captured.
 *
 * @example
 * const capture = new CaptureWriter({ hub: emu.hub('opsfold-events'), container, namespace: '127.0.0.1', codec: 'deflate' });
 * await capture.capture();             // every partition: what arrived since the last window
 * emu.hub('opsfold-events').expireBefore('0', 100);
 */
import type { ContainerClient } from '@azure/storage-blob';
import { streams, types, Type } from 'avsc';
import type { EmulatedEventHub, StoredEvent } from './eventHubs';

export const CAPTURE_SCHEMA = {
  type: 'record', name: 'EventData', namespace: 'Microsoft.ServiceBus.Messaging',
  fields: [
    { name: 'SequenceNumber', type: 'long' },
    { name: 'Offset', type: 'string' },
    { name: 'EnqueuedTimeUtc', type: 'string' },
    { name: 'SystemProperties', type: { type: 'map', values: ['long', 'double', 'string', 'bytes'] } },
    { name: 'Properties', type: { type: 'map', values: ['long', 'double', 'string', 'bytes'] } },
    { name: 'Body', type: ['null', 'bytes'] },
  ],
};

/** .NET writes longs of 64 bits; avsc's own long type stops at 2^53. */
const LONG64 = types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint | number) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(n));
    return buf;
  },
  fromJSON: (n: number) => BigInt(n),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint' || Number.isInteger(n),
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});
const TYPE = Type.forSchema(CAPTURE_SCHEMA as never, { wrapUnions: true, registry: { long: LONG64 } });

export interface CaptureWriterOptions {
  hub: EmulatedEventHub;
  container: ContainerClient;
  /** `{Namespace}`: the namespace's name (the first label of its host). */
  namespace: string;
  codec?: 'null' | 'deflate';
  nameFormat?: string;
}

export class CaptureWriter {
  /** Per partition, the last sequence number captured. */
  private readonly captured = new Map<string, number>();
  private lastWindowMs = 0;
  /** Every file written, in order. */
  readonly files: { name: string; partitionId: string; sequenceNumbers: number[] }[] = [];

  constructor(private readonly options: CaptureWriterOptions) {}

  /**
   * Closes a capture window: for each partition (all, or those given) one file with the events
   * retained and not captured yet (up to `upTo` when given). Returns the names written.
   */
  async capture(options: { partitions?: string[]; upTo?: number; skipEmpty?: boolean; codec?: 'null' | 'deflate' } = {}): Promise<string[]> {
    const { hub } = this.options;
    // Each window is named after a later second than the one before, as Capture's are.
    const windowMs = Math.max(Math.floor(Date.now() / 1000) * 1000, this.lastWindowMs + 1000);
    this.lastWindowMs = windowMs;
    const names: string[] = [];
    for (const partitionId of options.partitions ?? hub.partitionIds) {
      const after = this.captured.get(partitionId) ?? -1;
      const events = hub.events(partitionId).filter((e) => e.sequenceNumber > after && (options.upTo === undefined || e.sequenceNumber <= options.upTo));
      if (events.length === 0 && options.skipEmpty) continue;
      const name = this.nameOf(partitionId, new Date(windowMs));
      await this.options.container.getBlockBlobClient(name).uploadData(await avroFile(events, options.codec ?? this.options.codec ?? 'null'));
      if (events.length > 0) this.captured.set(partitionId, events[events.length - 1].sequenceNumber);
      this.files.push({ name, partitionId, sequenceNumbers: events.map((e) => e.sequenceNumber) });
      names.push(name);
    }
    return names;
  }

  /** Writes a file of arbitrary records under a partition's next name (for tests of what a reader must refuse or survive). */
  async writeRaw(partitionId: string, records: Record<string, unknown>[], codec: 'null' | 'deflate' = 'null'): Promise<string> {
    const windowMs = Math.max(Math.floor(Date.now() / 1000) * 1000, this.lastWindowMs + 1000);
    this.lastWindowMs = windowMs;
    const name = this.nameOf(partitionId, new Date(windowMs));
    await this.options.container.getBlockBlobClient(name).uploadData(await encode(records, codec));
    return name;
  }

  private nameOf(partitionId: string, t: Date): string {
    const two = (n: number) => String(n).padStart(2, '0');
    const fields: Record<string, string> = {
      Namespace: this.options.namespace, EventHub: this.options.hub.name, PartitionId: partitionId,
      Year: String(t.getUTCFullYear()), Month: two(t.getUTCMonth() + 1), Day: two(t.getUTCDate()),
      Hour: two(t.getUTCHours()), Minute: two(t.getUTCMinutes()), Second: two(t.getUTCSeconds()),
    };
    const format = this.options.nameFormat ?? '{Namespace}/{EventHub}/{PartitionId}/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}';
    return `${format.replace(/\{(\w+)\}/g, (_, field: string) => fields[field])}.avro`;
  }
}

/** .NET's invariant general date and time, as Capture writes EnqueuedTimeUtc: `2/16/2026 2:30:05 PM`. */
export function dotNetTime(t: Date): string {
  const h = t.getUTCHours();
  const two = (n: number) => String(n).padStart(2, '0');
  return `${t.getUTCMonth() + 1}/${t.getUTCDate()}/${t.getUTCFullYear()} ${h % 12 === 0 ? 12 : h % 12}:${two(t.getUTCMinutes())}:${two(t.getUTCSeconds())} ${h < 12 ? 'AM' : 'PM'}`;
}

function avroFile(events: StoredEvent[], codec: 'null' | 'deflate'): Promise<Buffer> {
  return encode(events.map(recordOf), codec);
}

function recordOf(e: StoredEvent): Record<string, unknown> {
  const system: Record<string, unknown> = {};
  if (e.partitionKey !== undefined) system['x-opt-partition-key'] = { string: e.partitionKey };
  const properties = Object.fromEntries(Object.entries(e.properties ?? {}).flatMap(([k, v]): [string, Record<string, unknown>][] => {
    if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) return [[k, { long: v }]];
    if (typeof v === 'number') return [[k, { double: v }]];
    if (typeof v === 'string') return [[k, { string: v }]];
    if (Buffer.isBuffer(v)) return [[k, { bytes: v }]];
    return [];
  }));
  return {
    SequenceNumber: e.sequenceNumber, Offset: e.offset, EnqueuedTimeUtc: dotNetTime(e.enqueuedTime),
    SystemProperties: system, Properties: properties, Body: { bytes: bodyBytes(e) },
  };
}

/** The event's bytes as sent: its data section(s); another body kind as JSON. */
function bodyBytes(e: StoredEvent): Buffer {
  const body = e.message.body as { typecode?: number; content?: unknown; multiple?: boolean } | undefined;
  if (body?.typecode === 0x75) return body.multiple ? Buffer.concat(body.content as Buffer[]) : (body.content as Buffer);
  return Buffer.from(JSON.stringify(body?.typecode === undefined ? body : body.content));
}

function encode(records: Record<string, unknown>[], codec: 'null' | 'deflate'): Promise<Buffer> {
  const encoder = new streams.BlockEncoder(TYPE as never, { codec, writeHeader: 'always' });
  const chunks: Buffer[] = [];
  encoder.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    encoder.on('end', () => resolve(Buffer.concat(chunks)));
    encoder.on('error', reject);
  });
  for (const r of records) encoder.write(r);
  encoder.end();
  return done;
}
