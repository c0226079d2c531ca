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
