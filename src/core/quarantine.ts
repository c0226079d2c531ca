/**
 * A record a projection could not apply. It is kept in the quarantine ledger (listed by
 * `opsfold quarantine` and `GET /v1/quarantine`) and the fold goes on past it.
 */
export interface QuarantineEntry {
  /** The projection that refused it: windows, rejects, backlog, or a declared one. */
  projection: string;
  /** The log position of the record (on Event Hubs, of the record within its partition's scope). */
  position: number;
  /** The metric's index within the record, when one metric (not the whole record) was refused. */
  index?: number;
  reason: string;
  /** What was refused, as text (truncated), to look at. */
  raw?: string;
}

/**
 * Where a projector hands what it cannot apply. An implementation keeps the entry durably with
 * the projector's next checkpoint, so a restart neither loses nor repeats it.
 */
export type QuarantineSink = (entry: QuarantineEntry) => void;
