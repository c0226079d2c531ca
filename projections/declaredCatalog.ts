import type { RowTable } from '../src/core/ports';
import { parseDefinition, type ProjectionDefinition } from '../src/core/projectionDefinition';

/**
 * The projections analysts declared, kept durably in the meta table (partition ['definition'],
 * one row per name, the definition as JSON) beside the versions and checkpoints: a restart, or
 * another instance on the same storage, runs the same set.
 */
export class DeclaredCatalog {
  constructor(private readonly meta: RowTable) {}

  async list(): Promise<{ definition: ProjectionDefinition; addedAt: string }[]> {
    const rows = await this.meta.list({ partition: ['definition'] });
    return rows.map((row) => ({ definition: parseDefinition(JSON.parse(String(row.fields.json))), addedAt: String(row.fields.addedAt) }));
  }

  async get(name: string): Promise<ProjectionDefinition | undefined> {
    const row = await this.meta.get(['definition'], name);
    return row ? parseDefinition(JSON.parse(String(row.fields.json))) : undefined;
  }

  async put(definition: ProjectionDefinition, addedAt = new Date()): Promise<void> {
    await this.meta.upsert([{ partition: ['definition'], row: definition.name, fields: { json: JSON.stringify(definition), addedAt: addedAt.toISOString() } }]);
  }

  async remove(name: string): Promise<void> {
    await this.meta.delete(['definition'], name);
  }
}
