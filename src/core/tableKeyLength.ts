/**
 * A character a table key cannot hold as it is, or that the key encoding reserves: Table Storage
 * refuses `/ \ # ?` and control characters (U+0000–U+001F, U+007F–U+009F); `%` is the escape
 * itself, `|` separates partition components and `'` quotes OData. The encoding
 * (src/adapters/tableStorage/keyEncoding.ts) writes each as `%XX` per UTF-8 byte; the gate
 * (metricRejection) counts the same, so both read this one definition.
 */
export const KEY_ESCAPED_CHAR = /[\u0000-\u001f\u007f-\u009f/\\#?%|']/;

/** The largest PartitionKey or RowKey: 1 KiB, which Table Storage and Azurite count as 512 UTF-16 code units. */
export const MAX_TABLE_KEY_CHARS = 512;

/**
 * How many characters `id` takes in a table key once encoded (UTF-16 code units, as the key
 * limit counts them), or -1 when it holds a lone UTF-16 surrogate, which no key can hold (nor
 * UTF-8, nor `encodeURIComponent`). One pass, no allocation: the fold calls it for every metric.
 *
 * @example
 * tableKeyLength('a/b'); // 5 ('a%2Fb')
 * tableKeyLength('v\ud800'); // -1
 */
export function tableKeyLength(id: string): number {
  let n = id.length;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c < 0xa0) n += EXTRA[c];
    else if (c >= 0xd800 && c <= 0xdfff) {
      const low = id.charCodeAt(i + 1); // NaN past the end
      if (c >= 0xdc00 || !(low >= 0xdc00 && low <= 0xdfff)) return -1;
      i++;
    }
  }
  return n;
}

/** What an escaped character adds to its one code unit: 2 for `%XX`, 5 for U+0080–U+009F (two UTF-8 bytes, `%C2%XX`). */
const EXTRA = new Uint8Array(0xa0).map((_, c) => (KEY_ESCAPED_CHAR.test(String.fromCharCode(c)) ? (c < 0x80 ? 2 : 5) : 0));
