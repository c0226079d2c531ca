import type { RowTable } from '../src/core/ports';
import type { ProjectionName } from '../projections/projectionCatalog';

/** Where a projection version has folded the log to, written after the writes it covers. */
export interface Checkpoint {
  /** Every record before this position is reflected in the tables. */
  position: number;
  /** A restart re-reads from here: the earliest record an open window depends on. */
  resumeFrom: number;
  maxEventTime: number;
  /** Wall-clock time of the checkpoint (epoch ms). */
  atMs: number;
}

/**
 * Active versions and checkpoints of the projections, in the meta table. Readers follow the
 * active version; a rebuild writes a new version and switches it when complete.
 */
export class ProjectionVersions {
  constructor(private readonly meta: RowTable) {}

  async active(projection: ProjectionName): Promise<number | undefined> {
    const row = await this.meta.get(['active'], projection);
    return row ? Number(row.fields.version) : undefined;
  }

  /** The active version, making version 1 active on a fresh store. */
  async activeOrFirst(projection: ProjectionName): Promise<number> {
    const active = await this.active(projection);
    if (active !== undefined) return active;
    await this.activate(projection, 1);
    return 1;
  }

  async activate(projection: ProjectionName, version: number): Promise<void> {
    await this.meta.upsert([{ partition: ['active'], row: projection, fields: { version } }]);
  }

  /** The newest version number ever used (active or being rebuilt). */
  async latest(projection: ProjectionName): Promise<number> {
    const rows = await this.meta.list({ partition: ['checkpoint', projection] });
    const versions = rows.map((r) => Number(r.row));
    return Math.max(0, (await this.active(projection)) ?? 0, ...versions);
  }

  async checkpoint(projection: ProjectionName, version: number): Promise<Checkpoint | undefined> {
    const row = await this.meta.get(['checkpoint', projection], String(version));
    return row ? (JSON.parse(String(row.fields.json)) as Checkpoint) : undefined;
  }

  async saveCheckpoint(projection: ProjectionName, version: number, checkpoint: Checkpoint): Promise<void> {
    await this.meta.upsert([{ partition: ['checkpoint', projection], row: String(version), fields: { json: JSON.stringify(checkpoint) } }]);
  }

  async forget(projection: ProjectionName, version: number): Promise<void> {
    await this.meta.delete(['checkpoint', projection], String(version));
  }
}
