/** One valid SPOC performance-counter sample, as the log keeps it. */
export interface Metric {
  /** Event time, epoch seconds (may be fractional). */
  t: number;
  tenant: string;
  vm: string;
  /** `PerfType + "." + PerfName`. */
  key: string;
  value: number;
  /** The other SPOC fields, kept for future projections; null when sent as null, undefined when absent. */
  siteName?: string | null;
  resourcePoolName?: string | null;
  region?: string | null;
  machineSize?: string | null;
}

/** A metric the validation refused, kept in the rejects ledger. */
export interface RejectedMetric {
  index: number;
  reason: string;
  /** The metric as it arrived (JSON text, truncated to a few KB). */
  raw: string;
}

/**
 * A record's metrics as columns, as the windows fold reads them: the five fields it folds, by
 * index, and no object per metric. A replay folds hundreds of millions of metrics; decoded as
 * Metric objects each was some 200 bytes of garbage (the object, its properties' backing store, two
 * boxed numbers), more than half of what the fold allocated.
 */
export interface MetricColumns {
  readonly length: number;
  readonly t: readonly number[];
  readonly value: readonly number[];
  readonly tenant: readonly string[];
  readonly vm: readonly string[];
  readonly key: readonly string[];
}

/** `metrics` as columns; columns as they are. */
export function metricColumns(metrics: readonly Metric[] | MetricColumns): MetricColumns {
  if (!Array.isArray(metrics)) return metrics as MetricColumns;
  const n = metrics.length;
  const out = { length: n, t: new Array<number>(n), value: new Array<number>(n), tenant: new Array<string>(n), vm: new Array<string>(n), key: new Array<string>(n) };
  for (let i = 0; i < n; i++) {
    const m = (metrics as readonly Metric[])[i];
    out.t[i] = m.t;
    out.value[i] = m.value;
    out.tenant[i] = m.tenant;
    out.vm[i] = m.vm;
    out.key[i] = m.key;
  }
  return out;
}
