import type { Metric, RejectedMetric } from './metric';

/** Where a SPOC message came from. */
export type IngestSource = 'http' | 'cli' | 'servicebus' | 'simulator';

/**
 * One SPOC message as it landed in the log: its valid metrics and its rejections, together,
 * so that the log alone says what was accepted and what was refused, and why.
 */
export interface MetricsReceived {
  type: 'MetricsReceived';
  source: IngestSource;
  /** Wall-clock time of reception, epoch ms. */
  receivedAtMs: number;
  /** The HTTP `Idempotency-Key` or the Service Bus `messageId`, when there was one. */
  idempotencyKey?: string;
  metrics: Metric[];
  rejected: RejectedMetric[];
}

/** Everything the log can hold. Later sources add their events here. */
export type OpsEvent = MetricsReceived;
