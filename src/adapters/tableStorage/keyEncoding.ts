import { InvalidInputError } from '../../core/errors';
import { KEY_ESCAPED_CHAR, MAX_TABLE_KEY_CHARS } from '../../core/tableKeyLength';

/**
 * Reversible encoding of ids into PartitionKey / RowKey values.
 *
 * Table Storage refuses `/ \ # ?` and control characters (U+0000–U+001F, U+007F–U+009F) in keys.
 * Those are written as `%XX` escapes of their UTF-8 bytes, and so are `%` (the escape itself),
 * `|` (the separator of partition components) and `'` (OData quoting; the SDK would cope, but
 * keys then read the same in URLs, filters and logs). Everything else, including unicode,
 * passes through unchanged, so typical ids (`wYAVC3oWQU+ozhgAAg5f/w==63784…`) stay readable.
 *
 * Note: the encoding does not preserve string order for keys that contain escaped characters
 * (`%` sorts below `+`, `/` does not): the table orders rows by their encoded keys.
 *
 * @example
 * encodeKeyPart('a/b#c'); // 'a%2Fb%23c'
 * encodePartition(['wYAV/w==', 'vm1']); // 'wYAV%2Fw==|vm1'
 */

/** Table Storage keys may be at most 1 KiB; Azurite counts 512 UTF-16 characters. */
export const MAX_KEY_LENGTH = MAX_TABLE_KEY_CHARS;

/** Separator of partition components in a PartitionKey; escaped inside components. */
export const PARTITION_SEPARATOR = '|';

// One definition of what is escaped, shared with the gate that bounds the ids' encoded length.
const NEEDS_ESCAPE = new RegExp(KEY_ESCAPED_CHAR.source, 'g');
const HAS_ESCAPE = KEY_ESCAPED_CHAR;
const ESCAPE_RUN = /(?:%[0-9A-Fa-f]{2})+/g;

const escapeChar = (char: string): string => {
  let out = '';
  for (const byte of Buffer.from(char, 'utf8')) {
    out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
};

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Encodes one id component so that it is a valid key (part) and contains no `|`. Text that is not
 * well-formed UTF-16 (a lone surrogate) cannot be a key at all: the request could not even be sent.
 */
export function encodeKeyPart(raw: string): string {
  if (typeof raw !== 'string') {
    throw new InvalidInputError(`a key part must be a string, got ${typeof raw}`);
  }
  if (LONE_SURROGATE.test(raw)) throw new InvalidInputError(`key part ${JSON.stringify(raw)} is not well-formed Unicode (it holds a lone surrogate)`);
  return HAS_ESCAPE.test(raw) ? raw.replace(NEEDS_ESCAPE, escapeChar) : raw;
}

/** Inverse of `encodeKeyPart`; throws `InvalidInputError` on text it could not have produced. */
export function decodeKeyPart(encoded: string): string {
  if (!encoded.includes('%')) return encoded;
  if (/%(?![0-9A-Fa-f]{2})/.test(encoded)) {
    throw new InvalidInputError(`key part ${JSON.stringify(encoded)} has a '%' that starts no %XX escape`);
  }
  return encoded.replace(ESCAPE_RUN, (run) => {
    const bytes = Buffer.from(run.replace(/%/g, ''), 'hex');
    const text = bytes.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(bytes)) {
      throw new InvalidInputError(`key part ${JSON.stringify(encoded)} has escapes that are not UTF-8`);
    }
    return text;
  });
}

/** Joins the encoded components of a partition id with `|`. At least one component is required. */
export function encodePartition(parts: readonly string[]): string {
  if (!Array.isArray(parts) || parts.length === 0) {
    throw new InvalidInputError('a partition needs at least one id component');
  }
  return parts.map(encodeKeyPart).join(PARTITION_SEPARATOR);
}

/** Inverse of `encodePartition`. */
export function decodePartition(encoded: string): string[] {
  return encoded.split(PARTITION_SEPARATOR).map(decodeKeyPart);
}

/** Throws a clear `InvalidInputError` when an encoded key is longer than Table Storage allows. */
export function assertKeyLength(key: string, what: string): void {
  if (key.length > MAX_KEY_LENGTH) {
    throw new InvalidInputError(
      `${what} is ${key.length} characters once encoded; Table Storage allows at most ${MAX_KEY_LENGTH}`,
    );
  }
}

/**
 * The storage partition of `key` among `buckets` (`b00`…`b31` for 32): FNV-1a of its UTF-16 code
 * units. Part of a stored layout: changing it makes the blocks written before unreadable.
 */
export function bucketKey(key: string, buckets: number): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return 'b' + String((hash >>> 0) % buckets).padStart(String(buckets - 1).length, '0');
}
