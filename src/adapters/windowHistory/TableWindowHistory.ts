import type { BlockTable, HistoryChunk, StoredBlock, TableStore, WindowHistoryStore } from '../../core/ports';
import { feedEntry, type StreamedWindowEvent } from '../../core/windowStream';
import {
  CHUNK_SPAN_IDS, countOf, encodeChunks, firstIdOfHour, HEAD_ROW, HISTORY_PARTITION, historyTable, historyTablePrefix, hourOfTable, IDS_PER_HOUR, resumeRow,
} from '../../../projections/windowEventHistory';

const PACKED = 'h1:';
/** Blocks (chunks) a read of a resume aims at. */
const PAGE_BLOCKS = 8;
/**
 * The ids the first read of an hour spans: a second's, so a read holds at most what one second
 * of emissions packed (flushes seal a chunk a second; 2,000 events make one more).
 */
const FIRST_SPAN_IDS = CHUNK_SPAN_IDS / 10;

/**
 * The window-event history in Table Storage (the layout is in projections/windowEventHistory):
 * what each instance keeps on Event Hubs, where there is no data directory to share.
 *
 * @example
 * const store = new TableWindowHistory(tables, `${prefix}I1a2b3c4d`, version);
 */
export class TableWindowHistory implements WindowHistoryStore {
  constructor(
    private readonly tables: Pick<TableStore, 'listTables' | 'dropTable' | 'blockTable'>,
    private readonly tablePrefix: string,
    private readonly version: number,
  ) {}

  async hours(): Promise<number[]> {
    const names = await this.tables.listTables(historyTablePrefix(this.tablePrefix, this.version));
    return names.map((name) => hourOfTable(this.tablePrefix, this.version, name)).filter((h) => h !== undefined).sort((a, b) => a - b);
  }

  /** The chunks, then the head row (the newest id), in one write. */
  async append(hour: number, chunks: readonly HistoryChunk[]): Promise<void> {
    if (chunks.length === 0) return;
    const blocks: StoredBlock[] = chunks.map((c) => ({
      partition: HISTORY_PARTITION, row: c.firstId - firstIdOfHour(hour), data: PACKED + c.data.toString('base64'), appliedThrough: c.lastId,
    }));
    blocks.push({ partition: HISTORY_PARTITION, row: HEAD_ROW, data: '', appliedThrough: chunks[chunks.length - 1].lastId });
    await (await this.table(hour)).write(blocks);
  }

  /**
   * Reads the hour a range of rows at a time, from a second's ids, then aiming at PAGE_BLOCKS
   * blocks a read (bursts in narrower ranges, quiet stretches in wider, up to 4× the last): a
   * resume holds a few chunks, not the hour.
   */
  async *read(hour: number, after: number): AsyncGenerator<HistoryChunk> {
    const table = await this.table(hour);
    let span = FIRST_SPAN_IDS;
    for (let from = resumeRow(hour, after); from < IDS_PER_HOUR;) {
      const to = Math.min(IDS_PER_HOUR - 1, from + span - 1);
      const blocks = await table.readRange(HISTORY_PARTITION, from, to);
      for (const block of blocks) {
        if (block.appliedThrough > after) yield* chunksOf(hour, block);
      }
      from = to + 1;
      span = Math.max(1, Math.min(IDS_PER_HOUR, span * 4, Math.floor((span * PAGE_BLOCKS) / Math.max(1, blocks.length))));
    }
  }

  async lastId(hour: number): Promise<number | undefined> {
    return (await (await this.table(hour)).read(HISTORY_PARTITION, HEAD_ROW))?.appliedThrough;
  }

  drop(hour: number): Promise<void> {
    return this.tables.dropTable(historyTable(this.tablePrefix, this.version, hour));
  }

  async close(): Promise<void> {}

  private table(hour: number): Promise<BlockTable> {
    return this.tables.blockTable(historyTable(this.tablePrefix, this.version, hour));
  }
}

/** A block's chunk; a block of the earlier form (one JSON event a line) is packed again. */
function chunksOf(hour: number, block: StoredBlock): HistoryChunk[] {
  if (block.data.startsWith(PACKED)) {
    const data = Buffer.from(block.data.slice(PACKED.length), 'base64');
    return [{ firstId: firstIdOfHour(hour) + block.row, lastId: block.appliedThrough, count: countOf(data), data }];
  }
  if (block.data === '') return [];
  return encodeChunks(block.data.split('\n').map((json) => {
    const { id, ...event } = JSON.parse(json) as StreamedWindowEvent;
    return feedEntry(id, event);
  }));
}
