import { InvalidInputError } from './errors';

/** Event Hubs Capture's own default: one folder level per field, the file named after the second. */
export const DEFAULT_CAPTURE_NAME_FORMAT = '{Namespace}/{EventHub}/{PartitionId}/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}';

const FIELDS = ['Namespace', 'EventHub', 'PartitionId', 'Year', 'Month', 'Day', 'Hour', 'Minute', 'Second'] as const;
type Field = (typeof FIELDS)[number];
const TIME_FIELDS = ['Year', 'Month', 'Day', 'Hour', 'Minute', 'Second'] as const;

/** Which hub's and partition's files a name format is expanded for. */
export interface CaptureSource {
  namespace: string;
  eventHub: string;
  partitionId: string;
}

/**
 * A Capture file name format, as set on the hub (`archiveNameFormat`): the nine fields in any
 * order, each exactly once, with or without delimiters; Capture adds `.avro`. Years have four
 * digits, the other time fields two, all in UTC.
 *
 * @example
 * const format = parseCaptureNameFormat(DEFAULT_CAPTURE_NAME_FORMAT);
 * format.prefix({ namespace: 'ns', eventHub: 'hub', partitionId: '0' });          // 'ns/hub/0/'
 * format.timeOf('ns/hub/0/2026/02/16/14/30/00.avro', { namespace: 'ns', eventHub: 'hub', partitionId: '0' }); // Date.UTC(2026, 1, 16, 14, 30)
 */
export class CaptureNameFormat {
  private constructor(readonly text: string, private readonly parts: readonly (string | { field: Field })[]) {}

  static parse(text: string, where = 'CAPTURE_NAME_FORMAT'): CaptureNameFormat {
    const parts: (string | { field: Field })[] = [];
    const seen = new Set<string>();
    for (const piece of text.split(/(\{[^{}]*\})/)) {
      if (piece === '') continue;
      const m = /^\{([^{}]*)\}$/.exec(piece);
      if (!m) {
        if (/[{}]/.test(piece)) throw new InvalidInputError(`${where} has an unmatched brace in ${JSON.stringify(text)}`, { parameter: where });
        parts.push(piece);
        continue;
      }
      if (!(FIELDS as readonly string[]).includes(m[1])) {
        throw new InvalidInputError(`${where} has an unknown field ${piece} (the fields are ${FIELDS.map((f) => `{${f}}`).join(', ')}), in ${JSON.stringify(text)}`, { parameter: where });
      }
      if (seen.has(m[1])) throw new InvalidInputError(`${where} has ${piece} twice, in ${JSON.stringify(text)}`, { parameter: where });
      seen.add(m[1]);
      parts.push({ field: m[1] as Field });
    }
    const missing = FIELDS.filter((f) => !seen.has(f));
    if (missing.length > 0) {
      throw new InvalidInputError(`${where} must contain every field, as Capture requires; ${missing.map((f) => `{${f}}`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing in ${JSON.stringify(text)}`, { parameter: where });
    }
    return new CaptureNameFormat(text, parts);
  }

  /** The part of every file name of `source` before its first time field: what a listing can start from. */
  prefix(source: CaptureSource): string {
    let out = '';
    for (const part of this.parts) {
      if (typeof part === 'string') out += part;
      else if ((TIME_FIELDS as readonly string[]).includes(part.field)) break;
      else out += valueOf(part.field, source);
    }
    return out;
  }

  /** The time a file of `source` is named after (epoch ms, UTC), or undefined when `name` is not one of its files. */
  timeOf(name: string, source: CaptureSource): number | undefined {
    const pattern = this.parts.map((part) => (typeof part === 'string' ? escape(part)
      : part.field === 'Year' ? '(\\d{4})' : (TIME_FIELDS as readonly string[]).includes(part.field) ? '(\\d{2})' : escape(valueOf(part.field, source)))).join('');
    const m = new RegExp(`^${pattern}\\.avro$`).exec(name);
    if (!m) return undefined;
    const order = this.parts.flatMap((p) => (typeof p !== 'string' && (TIME_FIELDS as readonly string[]).includes(p.field) ? [p.field] : []));
    const t: Record<string, number> = {};
    order.forEach((field, i) => (t[field] = Number(m[i + 1])));
    const ms = Date.UTC(t.Year, t.Month - 1, t.Day, t.Hour, t.Minute, t.Second);
    // A name whose fields are out of range (month 13) is nobody's file.
    const back = new Date(ms);
    return back.getUTCMonth() === t.Month - 1 && back.getUTCDate() === t.Day && back.getUTCHours() === t.Hour && back.getUTCMinutes() === t.Minute && back.getUTCSeconds() === t.Second ? ms : undefined;
  }
}

function valueOf(field: Field, source: CaptureSource): string {
  return field === 'Namespace' ? source.namespace : field === 'EventHub' ? source.eventHub : source.partitionId;
}

function escape(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
