import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FileLog } from '../../src/adapters/fileLog/FileLog';
import { Ingestor } from '../../src/core/Ingestor';
import { validateSpocMessage } from '../../src/core/validateSpoc';
import { arrivingNow } from '../support/metricBuilders';

const DAY_MS = 24 * 60 * 60 * 1000;
const dirs: string[] = [];
after(async () => Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true }))));

const message = (i: number) => validateSpocMessage({
  metrics: [{ timestamp: 1_700_000_000 + i, MaskedTenantId: 't', MaskedVMName: 'vm', PerfType: 'win_cpu', PerfName: 'percent', PerfValue: i }],
}, arrivingNow());

describe('Ingestor recovery of idempotency keys from the file log', () => {
  it('reads only the segments written in the last 25 hours, and remembers the keys found there', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'opsfold-recover-'));
    dirs.push(dir);
    const log = await FileLog.open(dir, { segmentBytes: 300 }); // about one record a segment
    const first = new Ingestor(log);
    for (let i = 0; i < 8; i++) await first.ingest(message(i), 'http', `key-${i}`);
    const segments = (await fs.readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
    assert.ok(segments.length >= 6, `expected several segments, got ${segments.length}`);
    // The first half of the segments were last written two days ago.
    const old = segments.slice(0, Math.floor(segments.length / 2));
    const twoDaysAgo = new Date(Date.now() - 2 * DAY_MS);
    for (const name of old) await fs.utimes(path.join(dir, name), twoDaysAgo, twoDaysAgo);

    const since = await log.positionSince(Date.now() - 25 * 60 * 60 * 1000);
    assert.equal(since, Number(segments[old.length].replace('.seg', '')), 'starts at the first recent segment');
    assert.equal(await log.positionSince(Date.now() + DAY_MS), await log.end(), 'nothing that recent: the end');

    const second = new Ingestor(log);
    await second.recover();
    // The key of the newest message is known again: a retry appends nothing.
    const end = await log.end();
    assert.equal((await second.ingest(message(7), 'http', 'key-7')).duplicate, true);
    assert.equal(await log.end(), end);
    // The key of a message in a skipped (old) segment was not read back: it counts as new.
    assert.equal((await second.ingest(message(0), 'http', 'key-0')).duplicate, undefined);
    assert.ok((await log.end()) > end);
    await log.close();
  });
});
