/**
 * The README's tested examples: fenced blocks whose info string is `sh tested` (a new session: a
 * fresh directory, and the service its `npx opsfold start … &` line starts) or `sh tested continued`
 * (the same session as the tested block before it). In a block, a command is a line that is not a
 * comment (with its continuation lines: an open single quote, a trailing `\`, a here-document); the
 * `# ` lines right under it are what it prints. `# 202 {…}`: the status, then the body curl prints
 * (no status: 200). `# stderr: TEXT`: a line it writes on stderr. `…` stands for what depends on the
 * clock or the run: a JSON value, the rest of a JSON object (`,…}`), or any text inside a string or line.
 */
export interface ReadmeStep {
  /** The command as written (continuation lines included). */
  command: string;
  /** The `# ` lines under it, without the `# `. */
  shown: string[];
  /** 1-based line of the command in the README. */
  line: number;
}

export interface ReadmeBlock {
  line: number;
  continued: boolean;
  steps: ReadmeStep[];
}

const TESTED = /^```sh tested( continued)?\s*$/;

/** The tested blocks of `readme`, in order. */
export function readmeBlocks(readme: string): ReadmeBlock[] {
  const lines = readme.split('\n');
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = TESTED.exec(lines[i]);
    if (!open) continue;
    const block: ReadmeBlock = { line: i + 1, continued: open[1] !== undefined, steps: [] };
    let j = i + 1;
    for (; j < lines.length && lines[j] !== '```'; j++) {
      const text = lines[j];
      if (text.trim() === '') continue;
      if (text.startsWith('#')) {
        const step = block.steps.at(-1);
        if (!step) throw new Error(`README.md:${j + 1}: output shown before any command`);
        step.shown.push(text === '#' ? '' : text.replace(/^# /, ''));
        continue;
      }
      const start = j;
      let command = text;
      const heredoc = /<<-?'?(\w+)'?/.exec(text)?.[1];
      if (heredoc) {
        while (j + 1 < lines.length && lines[j + 1] !== heredoc) command += `\n${lines[++j]}`;
        command += `\n${lines[++j]}`;
      } else {
        while ((openQuote(command) || command.endsWith('\\')) && j + 1 < lines.length && lines[j + 1] !== '```') command += `\n${lines[++j]}`;
      }
      block.steps.push({ command, shown: [], line: start + 1 });
    }
    if (j >= lines.length) throw new Error(`README.md:${i + 1}: the block is not closed`);
    blocks.push(block);
    i = j;
  }
  return blocks;
}

/** Whether a single-quoted string is still open at the end of `text` (double quotes outside them respected). */
function openQuote(text: string): boolean {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === undefined) {
      if (c === '#' && (i === 0 || /\s/.test(text[i - 1]))) {
        // A comment runs to the end of its line.
        const end = text.indexOf('\n', i);
        if (end < 0) return false;
        i = end;
      } else if (c === "'" || c === '"') quote = c;
      else if (c === '\\') i++;
    } else if (c === quote) quote = undefined;
    else if (quote === '"' && c === '\\') i++;
  }
  return quote !== undefined;
}

const ANY = '\u0000any';
const REST = '\u0000rest';

/** The shown JSON with its `…` placeholders turned into markers: `…` as a value is any value, `,…}` any further members. */
export function parseShownJson(text: string): unknown {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i];
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    if (c !== '…') {
      out += c;
      continue;
    }
    const before = out.trimEnd().at(-1);
    const after = text.slice(i + 1).trimStart()[0];
    out += (before === '{' || before === ',') && after === '}' && insideObject(out) ? `${JSON.stringify(REST)}:0` : JSON.stringify(ANY);
  }
  return JSON.parse(out);
}

/** Whether the innermost open bracket of `json` (outside strings) is an object's. */
function insideObject(json: string): boolean {
  const open: string[] = [];
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') open.push(c);
    else if (c === '}' || c === ']') open.pop();
  }
  return open.at(-1) === '{';
}

/** `…` in a shown line or string: any text there. */
function pattern(shown: string): RegExp {
  return new RegExp(`^${shown.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[\\s\\S]*')}$`);
}

/**
 * Where `actual` differs from the shown `expected` (from parseShownJson), or undefined when it is
 * as shown: the same members in the same order, the same values, placeholders aside.
 */
export function jsonDifference(expected: unknown, actual: unknown, path = '$'): string | undefined {
  if (expected === ANY) return actual === undefined ? `${path}: missing` : undefined;
  if (typeof expected === 'string' && expected.includes('…')) {
    return typeof actual === 'string' && pattern(expected).test(actual) ? undefined : `${path}: ${JSON.stringify(actual)} is not ${JSON.stringify(expected)}`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: ${JSON.stringify(actual)} is not an array`;
    if (actual.length !== expected.length) return `${path}: ${actual.length} items, shown ${expected.length}: ${JSON.stringify(actual)}`;
    for (let i = 0; i < expected.length; i++) {
      const d = jsonDifference(expected[i], actual[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return `${path}: ${JSON.stringify(actual)} is not an object`;
    const shownKeys = Object.keys(expected).filter((k) => k !== REST);
    const actualKeys = Object.keys(actual).filter((k) => shownKeys.includes(k) || !(REST in expected));
    if (actualKeys.join() !== shownKeys.join()) return `${path}: members ${JSON.stringify(Object.keys(actual))}, shown ${JSON.stringify(shownKeys)}${REST in expected ? ' and more' : ''}`;
    for (const k of shownKeys) {
      const d = jsonDifference((expected as Record<string, unknown>)[k], (actual as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
    return undefined;
  }
  return Object.is(expected, actual) ? undefined : `${path}: ${JSON.stringify(actual)}, shown ${JSON.stringify(expected)}`;
}

/** Where the printed lines differ from the shown ones (`…` any text within a line), or undefined. */
export function linesDifference(shown: string[], printed: string[]): string | undefined {
  if (shown.length !== printed.length) return `${printed.length} lines, shown ${shown.length}:\n${printed.join('\n')}`;
  const i = shown.findIndex((s, k) => !pattern(s).test(printed[k]));
  return i < 0 ? undefined : `line ${i + 1}: ${JSON.stringify(printed[i])}, shown ${JSON.stringify(shown[i])}`;
}

/** Where the printed head of an answer (`curl -i`) lacks a shown line: its status line first, then the shown headers among its headers, in order. */
export function headDifference(shown: string[], printed: string[]): string | undefined {
  if (printed[0] !== shown[0]) return `status line ${JSON.stringify(printed[0])}, shown ${JSON.stringify(shown[0])}`;
  let at = 1;
  for (const line of shown.slice(1)) {
    while (at < printed.length && printed[at] !== line) at++;
    if (at === printed.length) return `no header line ${JSON.stringify(line)} (in this order) among:\n${printed.join('\n')}`;
    at++;
  }
  return undefined;
}
