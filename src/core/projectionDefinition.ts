import { InvalidInputError } from './errors';
import type { Metric } from './metric';

/** The fields a declared projection may filter and group by (DESIGN §7). */
export const GROUP_FIELDS = ['key', 'PerfType', 'PerfName', 'tenant', 'vm', 'Region', 'MachineSize', 'ResourcePoolName', 'SiteName'] as const;
export type GroupField = (typeof GROUP_FIELDS)[number];

/** Window sizes, in seconds: tumbling, aligned to epoch multiples (UTC). */
export const WINDOW_SECONDS = { '1m': 60, '5m': 300, '15m': 900, '1h': 3600, '1d': 86_400 } as const;
export type WindowName = keyof typeof WINDOW_SECONDS;

export const AGGREGATES = ['count', 'sum', 'avg', 'min', 'max', 'p50', 'p90', 'p95', 'p99', 'vms'] as const;
export type Aggregate = (typeof AGGREGATES)[number];

/** The quantile each `pNN` aggregate asks for. */
export const QUANTILES: Partial<Record<Aggregate, number>> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

/** The built-in projections' names: a declared projection may not take them. */
export const BUILT_IN_PROJECTIONS = ['windows', 'rejects', 'backlog'] as const;

const NAME = /^[a-z][a-z0-9_]{0,47}$/;
const MAX_GROUP_BY = 4;
const MAX_WHERE_VALUES = 1000;

/** A projection an analyst declared (DESIGN §7), as validated. */
export interface ProjectionDefinition {
  name: string;
  /** Field → the values a metric's field must have one of; absent: every metric. */
  where?: Partial<Record<GroupField, string[]>>;
  groupBy: GroupField[];
  window: WindowName;
  aggregates: Aggregate[];
}

const fail = (parameter: string, message: string): never => {
  throw new InvalidInputError(`${parameter}: ${message}`, { code: 'invalid_definition', parameter });
};

const oneOf = (values: readonly string[]): string => values.join(', ');

/**
 * Validates a projection definition (parsed JSON) and returns it in its canonical form; every
 * refusal is an InvalidInputError whose message starts with the field it is about
 * (`groupBy[2]: "Zone" is not a field; one of key, PerfType, …`).
 */
export function parseDefinition(input: unknown): ProjectionDefinition {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) fail('definition', 'must be a JSON object with name, groupBy, window and aggregates');
  const o = input as Record<string, unknown>;
  for (const field of Object.keys(o)) {
    if (!['name', 'where', 'groupBy', 'window', 'aggregates'].includes(field)) fail(field, 'is not a field of a projection definition; the fields are name, where, groupBy, window and aggregates');
  }
  if (typeof o.name !== 'string') fail('name', 'is missing or not a string');
  const name = o.name as string;
  if (!NAME.test(name)) fail('name', `${JSON.stringify(name)} must be a lower-case letter, then up to 47 lower-case letters, digits or _`);
  if ((BUILT_IN_PROJECTIONS as readonly string[]).includes(name)) fail('name', `"${name}" is a built-in projection's name`);

  if (!Array.isArray(o.groupBy)) fail('groupBy', `is missing or not a list; a list of up to ${MAX_GROUP_BY} of ${oneOf(GROUP_FIELDS)} ([] for one group)`);
  const groupBy = o.groupBy as unknown[];
  if (groupBy.length > MAX_GROUP_BY) fail('groupBy', `has ${groupBy.length} fields; at most ${MAX_GROUP_BY}`);
  groupBy.forEach((field, i) => {
    if (!(GROUP_FIELDS as readonly unknown[]).includes(field)) fail(`groupBy[${i}]`, `${JSON.stringify(field)} is not a field; one of ${oneOf(GROUP_FIELDS)}`);
    if (groupBy.indexOf(field) !== i) fail(`groupBy[${i}]`, `"${String(field)}" is already grouped by`);
  });

  if (typeof o.window !== 'string' || !(o.window in WINDOW_SECONDS)) fail('window', `${JSON.stringify(o.window ?? null)} is not a window; one of ${oneOf(Object.keys(WINDOW_SECONDS))}`);

  if (!Array.isArray(o.aggregates) || o.aggregates.length === 0) fail('aggregates', `is missing or empty; a list of ${oneOf(AGGREGATES)}`);
  const aggregates = o.aggregates as unknown[];
  aggregates.forEach((a, i) => {
    if (!(AGGREGATES as readonly unknown[]).includes(a)) fail(`aggregates[${i}]`, `${JSON.stringify(a)} is not an aggregate; one of ${oneOf(AGGREGATES)}`);
    if (aggregates.indexOf(a) !== i) fail(`aggregates[${i}]`, `"${String(a)}" is already listed`);
  });

  let where: ProjectionDefinition['where'];
  if (o.where !== undefined) {
    if (typeof o.where !== 'object' || o.where === null || Array.isArray(o.where)) fail('where', 'must be an object of field → list of values');
    where = {};
    for (const [field, values] of Object.entries(o.where as Record<string, unknown>)) {
      if (!(GROUP_FIELDS as readonly string[]).includes(field)) fail(`where.${field}`, `is not a field; one of ${oneOf(GROUP_FIELDS)}`);
      if (!Array.isArray(values) || values.length === 0) fail(`where.${field}`, 'must be a non-empty list of values');
      const list = values as unknown[];
      if (list.length > MAX_WHERE_VALUES) fail(`where.${field}`, `has ${list.length} values; at most ${MAX_WHERE_VALUES}`);
      list.forEach((v, i) => {
        if (typeof v !== 'string') fail(`where.${field}[${i}]`, `${JSON.stringify(v)} must be a string`);
      });
      where[field as GroupField] = [...new Set(list as string[])];
    }
  }
  return { name, ...(where ? { where } : {}), groupBy: groupBy as GroupField[], window: o.window as WindowName, aggregates: aggregates as Aggregate[] };
}

/**
 * A metric's value of a field: `PerfType` is its key up to the first `.`, `PerfName` the rest
 * (the log keeps `PerfType.PerfName` as one key); null when the metric lacks the field.
 */
export function fieldOf(metric: Metric, field: GroupField): string | null {
  switch (field) {
    case 'key':
      return metric.key;
    case 'PerfType': {
      const dot = metric.key.indexOf('.');
      return dot < 0 ? metric.key : metric.key.slice(0, dot);
    }
    case 'PerfName': {
      const dot = metric.key.indexOf('.');
      return dot < 0 ? null : metric.key.slice(dot + 1);
    }
    case 'tenant':
      return metric.tenant;
    case 'vm':
      return metric.vm;
    case 'Region':
      return metric.region ?? null;
    case 'MachineSize':
      return metric.machineSize ?? null;
    case 'ResourcePoolName':
      return metric.resourcePoolName ?? null;
    case 'SiteName':
      return metric.siteName ?? null;
  }
}

/** Whether a metric passes the definition's `where`. */
export function matches(definition: Pick<ProjectionDefinition, 'where'>, metric: Metric): boolean {
  if (!definition.where) return true;
  for (const [field, values] of Object.entries(definition.where) as [GroupField, string[]][]) {
    const v = fieldOf(metric, field);
    if (v === null || !values.includes(v)) return false;
  }
  return true;
}
