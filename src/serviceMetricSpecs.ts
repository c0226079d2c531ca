import type { ReadMetric, Sample } from './adapters/metrics/serviceMetrics';
import type { TailRepair } from './adapters/fileLog/repairTail';
import type { ConsumerLag, ProjectionHost } from './localProjections';
import { PROJECTIONS } from '../projections/projectionCatalog';

/** What the service's own metrics are read from, at scrape time. */
export interface MetricSources {
  ingest: { ingested: number; rejected: number };
  projections: Pick<ProjectionHost, 'stats' | 'quarantined' | 'failing' | 'consumerLag'>;
  watermarkDelaySeconds(): number | null;
  logRepairs(): readonly TailRepair[];
  windowStream(): { clients: number; overflows: number; rejected: number };
  /** On Event Hubs: what was read from Capture and gone past in gaps (HubHistory). */
  hubHistory?(): { captured: number; skipped: Record<string, number> } | undefined;
}

/**
 * opsfold's metrics under their long-standing names, each with its HELP. The consumer lag is in
 * bytes per projection on the file log and in events per owned partition on Event Hubs: both
 * families are declared, and the one that does not apply has no samples.
 */
export function opsfoldMetrics(s: MetricSources): ReadMetric[] {
  const p = s.projections;
  const lag = async (unit: 'bytes' | 'events'): Promise<Sample[]> => {
    const read: ConsumerLag = await p.consumerLag();
    const values = unit === 'bytes' ? ('bytes' in read ? read.bytes : {}) : ('events' in read ? read.events : {});
    const label = unit === 'bytes' ? 'projection' : 'partition';
    return Object.entries(values).map(([id, n]) => [{ [label]: id }, n ?? 0] as const);
  };
  return [
    { name: 'opsfold_metrics_ingested_total', type: 'counter', help: 'SPOC metrics appended to the log since the service started (all sources).', read: () => s.ingest.ingested },
    { name: 'opsfold_metrics_rejected_total', type: 'counter', help: 'SPOC metrics refused by the gate since the service started (kept in the rejects ledger).', read: () => s.ingest.rejected },
    { name: 'opsfold_late_metrics_total', type: 'counter', help: 'Metrics folded into the late ledger: later than the allowed lateness behind the watermark.', read: () => p.stats.late },
    { name: 'opsfold_windows_emitted_total', type: 'counter', help: 'Window revisions emitted (first emissions and corrections).', read: () => p.stats.windowsEmitted },
    { name: 'opsfold_window_revisions_total', type: 'counter', help: 'Window revisions emitted after the first (corrections by late data).', read: () => p.stats.revisions },
    {
      name: 'opsfold_quarantined_records_total', type: 'counter', labelNames: ['projection'],
      help: 'Records or metrics a projection could not apply and set aside in its quarantine ledger (active versions).',
      read: () => PROJECTIONS.map((projection) => [{ projection }, p.quarantined[projection]] as const),
    },
    { name: 'opsfold_projectors_failing', type: 'gauge', help: 'Projectors that are down now (retrying with backoff).', read: () => p.failing.length },
    { name: 'opsfold_watermark_delay_seconds', type: 'gauge', help: 'Wall-clock time minus the windows watermark, in seconds.', read: () => s.watermarkDelaySeconds() ?? 0 },
    { name: 'opsfold_folded_position_bytes', type: 'gauge', help: 'Log position (bytes) the windows projection has checkpointed.', read: () => p.stats.position ?? 0 },
    { name: 'opsfold_consumer_lag_bytes', type: 'gauge', labelNames: ['projection'], help: 'File log bytes a projection has not yet reflected in its tables.', read: () => lag('bytes') },
    { name: 'opsfold_consumer_lag_events', type: 'gauge', labelNames: ['partition'], help: 'Events of an owned Event Hubs partition not yet taken by every projector.', read: () => lag('events') },
    {
      name: 'opsfold_log_repairs_total', type: 'counter', labelNames: ['kind'],
      help: 'Repairs of the file log tail since the service started: torn (an append cut by a crash) or damaged (acknowledged data lost).',
      read: () => (['torn', 'damaged'] as const).map((kind) => [{ kind }, s.logRepairs().filter((r) => r.kind === kind).length] as const),
    },
    {
      name: 'opsfold_log_gap_events_total', type: 'counter', labelNames: ['partition'],
      help: 'Events of an Event Hubs partition that left the hub with its retention before this instance read them and that Event Hubs Capture does not hold either: gone past, missing from the projections.',
      read: () => Object.entries(s.hubHistory?.()?.skipped ?? {}).map(([partition, n]) => [{ partition }, n] as const),
    },
    { name: 'opsfold_capture_events_read_total', type: 'counter', help: 'Events read from Event Hubs Capture because the hub no longer retained them.', read: () => s.hubHistory?.()?.captured ?? 0 },
    { name: 'opsfold_window_stream_clients', type: 'gauge', help: 'Clients of the window-event stream connected now.', read: () => s.windowStream().clients },
    { name: 'opsfold_window_stream_overflows_total', type: 'counter', help: 'Window-stream clients disconnected for falling too far behind.', read: () => s.windowStream().overflows },
    { name: 'opsfold_window_stream_rejected_total', type: 'counter', help: 'Window-stream requests answered 503: OPSFOLD_SSE_MAX_CLIENTS clients were connected.', read: () => s.windowStream().rejected },
  ];
}
