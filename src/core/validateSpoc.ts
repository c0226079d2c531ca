import { boundedJson } from './boundedJson';
import { InvalidInputError } from './errors';
import type { Metric, RejectedMetric } from './metric';
import { MAX_ID_CHARS, METRIC_GATE_VERSION, metricRejection, type GateLimits } from './metricRejection';

/** Largest SPOC message accepted, as on the Service Bus queue. */
export const MAX_SPOC_MESSAGE_BYTES = 256 * 1024;
/** A rejected metric is kept as this much of its JSON text at most. */
export const MAX_RAW_CHARS = 2048;

export interface ValidatedMessage {
  metrics: Metric[];
  rejected: RejectedMetric[];
  /** The gate that admitted `metrics` (METRIC_GATE_VERSION); absent: not judged by it (the fold will). */
  gate?: number;
}

const ID_FIELDS = ['MaskedTenantId', 'MaskedVMName', 'PerfType', 'PerfName'] as const;
const OPTIONAL_FIELDS = ['SiteName', 'ResourcePoolName', 'Region', 'MachineSize'] as const;

/**
 * Splits a parsed SPOC message into valid metrics and per-metric rejections (with index and
 * reason): the fields' types here, then the gate (metricRejection) against the arrival time.
 * Throws InvalidInputError when the message as a whole is not a SPOC message.
 */
export function validateSpocMessage(body: unknown, limits: GateLimits): ValidatedMessage {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidInputError('a SPOC message must be a JSON object with a "metrics" array', { code: 'invalid_message', parameter: 'body' });
  }
  const list = (body as { metrics?: unknown }).metrics;
  if (!Array.isArray(list)) {
    throw new InvalidInputError('a SPOC message must have a "metrics" array', { code: 'invalid_message', parameter: 'metrics' });
  }
  const metrics: Metric[] = [];
  const rejected: RejectedMetric[] = [];
  for (let index = 0; index < list.length; index++) {
    const item = list[index];
    let reason = rejectionReason(item);
    const metric = reason === undefined ? toMetric(item as Record<string, unknown>) : undefined;
    if (metric) reason = metricRejection(metric, limits);
    if (metric && reason === undefined) metrics.push(metric);
    else rejected.push({ index, reason: reason!, raw: boundedJson(item, MAX_RAW_CHARS) });
  }
  return { metrics, rejected, gate: METRIC_GATE_VERSION };
}

/** Parses message text (JSON) and validates it; a text that is not JSON is an InvalidInputError. */
export function parseSpocMessage(text: string, limits: GateLimits): ValidatedMessage {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`the message is not valid JSON: ${(error as Error).message}`, { code: 'invalid_json', parameter: 'body', cause: error });
  }
  return validateSpocMessage(body, limits);
}

/** What is wrong with the fields' types; the gate (metricRejection) judges the rest. */
function rejectionReason(item: unknown): string | undefined {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return 'a metric must be a JSON object';
  const m = item as Record<string, unknown>;
  for (const field of ['timestamp', 'PerfValue'] as const) {
    const v = m[field];
    if (v === undefined) return `${field} is missing`;
    if (typeof v !== 'number') return `${field} must be a number, got ${describe(v)}`;
    if (!Number.isFinite(v)) return `${field} must be a finite number`;
  }
  for (const field of ID_FIELDS) {
    const v = m[field];
    if (v === undefined || v === null) return `${field} is missing`;
    if (typeof v !== 'string') return `${field} must be a string, got ${describe(v)}`;
    if (v.length === 0) return `${field} must not be empty`;
    if (v.length > MAX_ID_CHARS) return `${field} is longer than ${MAX_ID_CHARS} characters`;
  }
  for (const field of OPTIONAL_FIELDS) {
    const v = m[field];
    if (v !== undefined && v !== null && typeof v !== 'string') return `${field} must be a string or null, got ${describe(v)}`;
  }
  return undefined;
}

function toMetric(m: Record<string, unknown>): Metric {
  const metric: Metric = {
    t: m.timestamp as number,
    tenant: m.MaskedTenantId as string,
    vm: m.MaskedVMName as string,
    key: `${m.PerfType as string}.${m.PerfName as string}`,
    value: m.PerfValue as number,
  };
  if (m.SiteName !== undefined) metric.siteName = m.SiteName as string | null;
  if (m.ResourcePoolName !== undefined) metric.resourcePoolName = m.ResourcePoolName as string | null;
  if (m.Region !== undefined) metric.region = m.Region as string | null;
  if (m.MachineSize !== undefined) metric.machineSize = m.MachineSize as string | null;
  return metric;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `the string ${JSON.stringify(v.slice(0, 40))}` : typeof v;
}
