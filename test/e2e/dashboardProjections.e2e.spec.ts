import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { loadSettings } from '../../src/config/settings';
import { startService, type Service } from '../../src/main';
import { BIN } from '../support/serviceProcess';
import { launchChromium, newWatchedPage } from '../support/browser';

// Callbacks passed to page.evaluate run in the page; these names exist there, not in Node's types.
declare const window: any;

const run = promisify(execFile);
/** Two hours ago, on an hour boundary. */
const T0 = Math.floor(Date.now() / 3_600_000) * 3600 - 7200;
const POOLS = Array.from({ length: 12 }, (_, i) => `pool-${String(i + 1).padStart(2, '0')}`);
/** Pool i's every value in window w: i × 10 + w, so the ranking by mean is the pools' order, largest last. */
const value = (pool: number, window: number) => (pool + 1) * 10 + window;

describe('the declared-projections panel in Chromium', () => {
  let dir: string;
  let service: Service;
  let base: string;
  let browser: Browser;
  const cspViolations: string[] = [];
  afterEach(() => assert.deepEqual(cspViolations.splice(0), [], 'the page logged Content-Security-Policy violations'));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-dash-proj-'));
    const dataDir = join(dir, 'data');
    // Three 5-minute windows; in each, one metric per pool and minute
    const lines: string[] = [];
    for (let w = 0; w < 3; w++) {
      for (let minute = 0; minute < 5; minute++) {
        lines.push(JSON.stringify({ metrics: POOLS.map((pool, i) => ({ timestamp: T0 + w * 300 + minute * 60 + 5, MaskedTenantId: 'T/1', MaskedVMName: `vm-${i}`, PerfType: 'win_cpu', PerfName: 'p', PerfValue: value(i, w), ResourcePoolName: pool })) }));
      }
    }
    await writeFile(join(dir, 'in.ndjson'), lines.join('\n'));
    await run(process.execPath, [BIN, 'ingest', join(dir, 'in.ndjson'), '--data-dir', dataDir]);
    await writeFile(join(dir, 'def.json'), JSON.stringify({ name: 'by_pool', groupBy: ['ResourcePoolName'], window: '5m', aggregates: ['avg', 'max', 'vms'] }));
    await run(process.execPath, [BIN, 'projection', 'add', join(dir, 'def.json'), '--data-dir', dataDir]);
    const { settings } = loadSettings({ port: 0, host: '127.0.0.1', dataDir, simulate: false, flushIntervalMs: 200 }, {});
    service = await startService(settings);
    base = `http://127.0.0.1:${service.port}`;
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function openPage(): Promise<Page> {
    const page = await newWatchedPage(browser, cspViolations, { viewport: { width: 1366, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.waitForSelector('#projections[data-state="ready"]');
    assert.deepEqual(errors, []);
    return page;
  }

  const drawn = (page: Page): Promise<{ drawn: string[]; data: (number | null)[][] }> => page.evaluate(() => ({ drawn: window.opsfold.projections.drawn, data: window.opsfold.projections.data }));

  it('draws the ten largest groups by default, one line each, with the values the API answers; the data table lists every group', async () => {
    const page = await openPage();
    assert.equal(await page.inputValue('#projection-select'), 'by_pool');
    assert.equal(await page.inputValue('#projection-aggregate'), 'avg');
    const shown = await drawn(page);
    // Largest mean first: pool-12 … pool-03 (pool-01 and pool-02 are the smallest)
    assert.deepEqual(shown.drawn, POOLS.slice(2).reverse());
    assert.deepEqual(shown.data[0], [T0, T0 + 300, T0 + 600]);
    shown.drawn.forEach((pool, line) => assert.deepEqual(shown.data[line + 1], [0, 1, 2].map((w) => value(POOLS.indexOf(pool), w)), pool));
    assert.match(await page.textContent('#projections-chart-title') ?? '', /10 of 12 groups drawn/);
    // The table: every window and group, as the API answers them
    const api = (await (await fetch(`${base}/v1/projections/by_pool`)).json()) as { data: { windowStart: number; group: { ResourcePoolName: string }; avg: number }[] };
    const rows = await page.$$eval('#projection-table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent ?? '')));
    assert.equal(rows.length, 36);
    assert.deepEqual(rows.map((r) => [r[1], Number(r[2])]), api.data.map((d) => [d.group.ResourcePoolName, d.avg]));
    await page.close();
  });

  it('draws another group on demand, all of them at once, and another aggregate', async () => {
    const page = await openPage();
    await page.check('#projection-groups-list input[value="pool-01"]');
    await page.waitForFunction(() => window.opsfold.projections.drawn.length === 11);
    assert.ok((await drawn(page)).drawn.includes('pool-01'));
    await page.click('#projection-groups-all');
    await page.waitForFunction(() => window.opsfold.projections.drawn.length === 12);
    await page.selectOption('#projection-aggregate', 'vms');
    await page.waitForFunction(() => window.opsfold.projections.aggregate === 'vms');
    const vms = await drawn(page);
    assert.ok(vms.data.slice(1).every((line) => line.every((v) => v === 1)), 'one VM per pool');
    await page.close();
  });
});
