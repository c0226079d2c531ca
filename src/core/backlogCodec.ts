import { CorruptLogError } from './errors';
import type { BacklogSample, BacklogSampled, BacklogSource } from './events';

/**
 * Log payload of backlog samples (record type 2): `[2][version 1][compact JSON]`. Samples are
 * few (one per team a day) but a CSV import carries years of them in one record, so team names
 * and queries are stored once per record and each sample is `[team index, epoch ms, count, query index?]`.
 */
export const TYPE_BACKLOG = 2;
const VERSION = 1;
const SOURCES: readonly BacklogSource[] = ['servicenow', 'csv'];

interface Wire {
  s: BacklogSource;
  r: number;
  o?: string;
  t: string[];
  q: string[];
  x: number[][];
}

export function encodeBacklog(event: BacklogSampled): Buffer {
  const teams = new Map<string, number>();
  const queries = new Map<string, number>();
  const index = (map: Map<string, number>, value: string): number => {
    let i = map.get(value);
    if (i === undefined) map.set(value, (i = map.size));
    return i;
  };
  const x = event.samples.map((s) => {
    const row = [index(teams, s.team), s.sampledAtMs, s.count];
    if (s.query !== undefined) row.push(index(queries, s.query));
    return row;
  });
  const wire: Wire = { s: event.source, r: event.recordedAtMs, t: [...teams.keys()], q: [...queries.keys()], x };
  if (event.origin !== undefined) wire.o = event.origin;
  const json = Buffer.from(JSON.stringify(wire), 'utf8');
  const out = Buffer.allocUnsafe(2 + json.length);
  out[0] = TYPE_BACKLOG;
  out[1] = VERSION;
  json.copy(out, 2);
  return out;
}

/** The backlog samples of a payload, or undefined when the payload is another type of record. */
export function decodeBacklog(payload: Buffer): BacklogSampled | undefined {
  if (payload[0] !== TYPE_BACKLOG) return undefined;
  if (payload[1] !== VERSION) throw new CorruptLogError(`unsupported backlog record version ${payload[1]}`);
  let wire: Wire;
  try {
    wire = JSON.parse(payload.toString('utf8', 2)) as Wire;
  } catch (error) {
    throw new CorruptLogError(`unreadable backlog record: ${(error as Error).message}`, { cause: error });
  }
  const bad = (what: string): never => {
    throw new CorruptLogError(`unreadable backlog record: ${what}`);
  };
  if (wire === null || typeof wire !== 'object') return bad('not an object');
  if (!SOURCES.includes(wire.s)) bad(`unknown source ${JSON.stringify(wire.s)}`);
  if (!Number.isFinite(wire.r)) bad('no recording time');
  if (!Array.isArray(wire.t) || !Array.isArray(wire.q) || !Array.isArray(wire.x)) bad('missing teams, queries or samples');
  const samples = wire.x.map((row): BacklogSample => {
    if (!Array.isArray(row) || row.length < 3 || row.length > 4) return bad('a sample is not [team, time, count, query?]');
    const [ti, at, count, qi] = row;
    const team = wire.t[ti];
    if (typeof team !== 'string' || !Number.isFinite(at) || !Number.isSafeInteger(count)) return bad('a sample has a bad team, time or count');
    const sample: BacklogSample = { team, sampledAtMs: at, count };
    if (row.length === 4) {
      if (typeof wire.q[qi] !== 'string') return bad('a sample has a bad query index');
      sample.query = wire.q[qi];
    }
    return sample;
  });
  const event: BacklogSampled = { type: 'BacklogSampled', source: wire.s, recordedAtMs: wire.r, samples };
  if (wire.o !== undefined) event.origin = wire.o;
  return event;
}
