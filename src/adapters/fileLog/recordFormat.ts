import { InvalidInputError } from '../../core/errors';
import { crc32 } from './crc32';

/**
 * The on-disk record, little-endian, a fixed 20-byte header then the payload:
 *
 * | offset | size | field                                                          |
 * | ------ | ---- | -------------------------------------------------------------- |
 * | 0      | 4    | CRC-32 of bytes 4 .. 20+length (every header field + payload)  |
 * | 4      | 1    | magic 0xC7                                                     |
 * | 5      | 1    | format version 1                                               |
 * | 6      | 2    | flags: 0, or 1 for padding (see below)                         |
 * | 8      | 4    | payload length (uint32)                                        |
 * | 12     | 8    | appendedAtMs (float64, epoch ms)                               |
 * | 20     | n    | payload                                                        |
 *
 * The checksum leads so that it covers one contiguous range: one native CRC call per record.
 *
 * A **padding** record (flags 1) stands where damaged bytes were moved aside (by a repair on open or
 * `opsfold log salvage`): it has the damaged bytes' exact length, so every later record keeps its
 * position and the projections' checkpoints (positions) stay valid. Readers skip it; its payload is a
 * note of where the bytes went, then zeros.
 */
export const HEADER_BYTES = 20;
export const MAGIC = 0xc7;
export const VERSION = 1;
/** Larger payloads are refused on append, and a larger length on disk is corruption. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024 * 1024;
export const FLAG_PADDING = 1;

/** Why the bytes at an offset are not a whole, valid record. */
export type RecordFault = 'short header' | 'bad header' | 'short payload' | 'bad checksum';

/** Encodes `payloads` as consecutive records into `target` from `offset`; returns the offset after them. */
export function encodeRecords(payloads: readonly Uint8Array[], appendedAtMs: number, target: Buffer, offset: number): number {
  let o = offset;
  for (const payload of payloads) {
    target[o + 4] = MAGIC;
    target[o + 5] = VERSION;
    target.writeUInt16LE(0, o + 6);
    target.writeUInt32LE(payload.length, o + 8);
    target.writeDoubleLE(appendedAtMs, o + 12);
    target.set(payload, o + HEADER_BYTES);
    const next = o + HEADER_BYTES + payload.length;
    target.writeUInt32LE(crc32(target, o + 4, next), o);
    o = next;
  }
  return o;
}

/** Whether the header at `o` has the magic, version and flags of this format. */
export function hasValidHeader(buf: Buffer, o: number): boolean {
  return buf[o + 4] === MAGIC && buf[o + 5] === VERSION && buf[o + 6] <= FLAG_PADDING && buf[o + 7] === 0
    && buf.readUInt32LE(o + 8) <= MAX_PAYLOAD_BYTES;
}

/** Whether the (already validated) record at `o` is padding, which readers skip. */
export function isPadding(buf: Buffer, o: number): boolean {
  return buf[o + 6] === FLAG_PADDING;
}

/**
 * One padding record of exactly `bytes` bytes (at least HEADER_BYTES): `note` (cut to fit) then zeros.
 * It stands in for damaged bytes moved aside, so that later records keep their positions.
 */
export function encodePadding(bytes: number, note: string, appendedAtMs: number): Buffer {
  if (bytes < HEADER_BYTES) throw new InvalidInputError(`a padding record needs at least ${HEADER_BYTES} bytes, not ${bytes}`, { parameter: 'bytes' });
  const record = Buffer.alloc(bytes);
  record[4] = MAGIC;
  record[5] = VERSION;
  record.writeUInt16LE(FLAG_PADDING, 6);
  record.writeUInt32LE(bytes - HEADER_BYTES, 8);
  record.writeDoubleLE(appendedAtMs, 12);
  record.write(note, HEADER_BYTES, bytes - HEADER_BYTES, 'utf8');
  record.writeUInt32LE(crc32(record, 4, bytes), 0);
  return record;
}

/** Payload length stored in the (already validated) header at `o`. */
export function payloadLength(buf: Buffer, o: number): number {
  return buf.readUInt32LE(o + 8);
}

/**
 * Checks the record at `o` within `buf[o, end)`: undefined when it is whole and its checksum
 * matches, else what is wrong with it.
 */
export function recordFault(buf: Buffer, o: number, end: number): RecordFault | undefined {
  if (end - o < HEADER_BYTES) return 'short header';
  if (!hasValidHeader(buf, o)) return 'bad header';
  const next = o + HEADER_BYTES + payloadLength(buf, o);
  if (next > end) return 'short payload';
  return checksumMatches(buf, o, next) ? undefined : 'bad checksum';
}

export function checksumMatches(buf: Buffer, o: number, next: number): boolean {
  return crc32(buf, o + 4, next) === buf.readUInt32LE(o);
}

const HEADER_MARK = Buffer.from([MAGIC, VERSION]);

/** The first offset in `(after, end)` where a whole valid record starts, or -1: resynchronisation after damage. */
export function findNextValidRecord(buf: Buffer, after: number, end: number): number {
  let i = buf.indexOf(HEADER_MARK, after + 5);
  while (i !== -1 && i - 4 + HEADER_BYTES <= end) {
    if (recordFault(buf, i - 4, end) === undefined) return i - 4;
    i = buf.indexOf(HEADER_MARK, i + 1);
  }
  return -1;
}
