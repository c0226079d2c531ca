/** Text written as it is (brackets, commas, a key and its colon). */
class Literal {
  constructor(readonly text: string) {}
}

/**
 * JSON text of a parsed JSON value, cut after `maxChars` characters (with `…`, and never inside a
 * surrogate pair): what
 * `JSON.stringify(value)` gives when that is short, without recursion, so a value nested
 * 10,000 deep (which makes JSON.stringify throw a RangeError) is shown rather than thrown, and a
 * huge one costs `maxChars`, not its size.
 *
 * @example
 * boundedJson({ a: [1, 'x'] }, 100); // '{"a":[1,"x"]}'
 * boundedJson(JSON.parse('['.repeat(10000) + ']'.repeat(10000)), 5); // '[[[[[…'
 */
export function boundedJson(value: unknown, maxChars: number): string {
  let out = '';
  const todo: unknown[] = [value];
  while (todo.length > 0 && out.length <= maxChars) {
    const item = todo.pop();
    if (item instanceof Literal) out += item.text;
    else if (Array.isArray(item)) {
      todo.push(new Literal(']'));
      for (let i = item.length - 1; i >= 0; i--) {
        todo.push(item[i] === undefined || typeof item[i] === 'function' ? null : item[i]);
        if (i > 0) todo.push(new Literal(','));
      }
      out += '[';
    } else if (typeof item === 'object' && item !== null) {
      const entries = Object.entries(item).filter(([, v]) => v !== undefined && typeof v !== 'function');
      todo.push(new Literal('}'));
      for (let i = entries.length - 1; i >= 0; i--) {
        todo.push(entries[i][1], new Literal(`${i > 0 ? ',' : ''}${JSON.stringify(entries[i][0])}:`));
      }
      out += '{';
    } else if (typeof item === 'string') {
      // A long string costs only what is shown (a pair cut in half is escaped, as JSON.stringify escapes a lone surrogate).
      out += item.length > maxChars ? JSON.stringify(item.slice(0, maxChars + 1)).slice(0, -1) : JSON.stringify(item);
    } else if (typeof item === 'number') out += Number.isFinite(item) ? String(item) : 'null';
    else if (typeof item === 'boolean') out += String(item);
    else out += 'null';
  }
  if (out.length <= maxChars) return out;
  // Never half a surrogate pair: the text is kept in ledgers that want well-formed strings.
  const last = out.charCodeAt(maxChars - 1);
  return `${out.slice(0, last >= 0xd800 && last <= 0xdbff ? maxChars - 1 : maxChars)}…`;
}
