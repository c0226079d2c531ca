import type { IdempotencyLedger, RowTable } from './ports';

/**
 * Idempotency keys in a table: one row per key, written after the append it answers for. Used
 * where the log cannot be read back at start (Event Hubs). A crash between the append and this
 * write leaves the key unknown, so one retry in that instant may append again.
 */
export class TableIdempotencyLedger implements IdempotencyLedger {
  constructor(private readonly table: RowTable) {}

  async get(key: string): Promise<{ accepted: number; rejected: { index: number; reason: string }[]; atMs: number } | undefined> {
    const row = await this.table.get(['key'], key);
    if (!row) return undefined;
    return { accepted: Number(row.fields.accepted), rejected: JSON.parse(String(row.fields.rejected)) as { index: number; reason: string }[], atMs: Number(row.fields.atMs) };
  }

  async put(key: string, answer: { accepted: number; rejected: { index: number; reason: string }[] }, atMs: number): Promise<void> {
    await this.table.upsert([{ partition: ['key'], row: key, fields: { accepted: answer.accepted, rejected: JSON.stringify(answer.rejected), atMs } }]);
  }
}
