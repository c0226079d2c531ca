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
  /**
   * The version of the gate (METRIC_GATE_VERSION) that admitted `metrics`; absent in records
   * written before there was one, whose metrics a projection passes through the gate itself.
   */
  gate?: number;
  metrics: Metric[];
  rejected: RejectedMetric[];
}

/** Where a backlog sample came from: ServiceNow's Aggregate API, or an imported CSV history file. */
export type BacklogSource = 'servicenow' | 'csv';

/**
 * One team's number of open incidents at one instant. Its identity is team + instant: the first
 * sample of an identity in the log counts, a later one with the same identity changes nothing.
 */
export interface BacklogSample {
  team: string;
  /** The instant the count was read (epoch ms, UTC). */
  sampledAtMs: number;
  count: number;
  /** The ServiceNow `sysparm_query` that produced the count, when polled. */
  query?: string;
}

/** Backlog samples recorded together: one poll of every team, or one CSV import (all or nothing). */
export interface BacklogSampled {
  type: 'BacklogSampled';
  source: BacklogSource;
  /** Wall-clock time of the append, epoch ms. */
  recordedAtMs: number;
  /** What was read: the CSV file's name, or the ServiceNow instance. */
  origin?: string;
  samples: BacklogSample[];
}

/** Everything the log can hold. Later sources add their events here. */
export type OpsEvent = MetricsReceived | BacklogSampled;
