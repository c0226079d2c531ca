import type { RowTable } from '../src/core/ports';
import type { Checkpoint } from '../src/core/projection';

export type { Checkpoint };

/**
 * Active versions and checkpoints of the projections (built-in or declared, by name), in the meta
 * table. Readers follow the active version; a rebuild writes a new version and switches it when complete.
 */
export class ProjectionVersions {
  constructor(private readonly meta: RowTable) {}

  async active(projection: string): Promise<number | undefined> {
    const row = await this.meta.get(['active'], projection);
    return row ? Number(row.fields.version) : undefined;
  }

  /** The active version, making version 1 active on a fresh store. */
  async activeOrFirst(projection: string): Promise<number> {
    const active = await this.active(projection);
    if (active !== undefined) return active;
    await this.activate(projection, 1);
    return 1;
  }

  async activate(projection: string, version: number): Promise<void> {
    await this.meta.upsert([{ partition: ['active'], row: projection, fields: { version } }]);
  }

  /** The newest version number ever used (active or being rebuilt). */
  async latest(projection: string): Promise<number> {
    const rows = await this.meta.list({ partition: ['checkpoint', projection] });
    const versions = rows.map((r) => parseInt(r.row, 10));
    return Math.max(0, (await this.active(projection)) ?? 0, ...versions);
  }

  /** A checkpoint of one scope of a version ('' with the file log; `P<id>` per Event Hubs partition). */
  async checkpoint(projection: string, version: number, scope = ''): Promise<Checkpoint | undefined> {
    const row = await this.meta.get(['checkpoint', projection], checkpointRow(version, scope));
    return row ? (JSON.parse(String(row.fields.json)) as Checkpoint) : undefined;
  }

  async saveCheckpoint(projection: string, version: number, checkpoint: Checkpoint, scope = ''): Promise<void> {
    await this.meta.upsert([{ partition: ['checkpoint', projection], row: checkpointRow(version, scope), fields: { json: JSON.stringify(checkpoint) } }]);
  }

  /** The scopes that have folded into a version so far ([''] when none has yet). */
  async scopes(projection: string, version: number): Promise<string[]> {
    const found = (await this.meta.list({ partition: ['checkpoint', projection] }))
      .filter((r) => parseInt(r.row, 10) === version)
      .map((r) => r.row.slice(String(version).length).replace(/^\//, ''));
    return found.length > 0 ? found.sort() : [''];
  }

  /**
   * How far the final notices of a version's cross-tenant windows have been told, where one place
   * tells them for every log partition (Event Hubs: see CrossTenantFinals); undefined before the first.
   */
  async finalTold(projection: string, version: number): Promise<number | undefined> {
    const row = await this.meta.get(['finalTold', projection], String(version));
    return row ? Number(row.fields.through) : undefined;
  }

  async saveFinalTold(projection: string, version: number, through: number): Promise<void> {
    await this.meta.upsert([{ partition: ['finalTold', projection], row: String(version), fields: { through } }]);
  }

  /** Forgets which version is active (a dropped declared projection has none). */
  async deactivate(projection: string): Promise<void> {
    await this.meta.delete(['active'], projection);
  }

  async forget(projection: string, version: number): Promise<void> {
    for (const scope of await this.scopes(projection, version)) await this.meta.delete(['checkpoint', projection], checkpointRow(version, scope));
    await this.meta.delete(['finalTold', projection], String(version));
  }
}

const checkpointRow = (version: number, scope: string): string => (scope === '' ? String(version) : `${version}/${scope}`);
