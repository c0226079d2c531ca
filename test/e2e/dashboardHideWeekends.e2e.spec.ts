import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { loadSettings } from '../../src/config/settings';
import { startService, type Service } from '../../src/main';
import { launchChromium, newWatchedPage } from '../support/browser';
import { eventually } from '../support/eventually';
import { runOpsfold } from '../support/runOpsfold';

// Callbacks passed to page.evaluate run in the page; these names exist there, not in Node's types.
declare const window: any;
declare const location: any;

const ZONE = 'America/Chicago';

/**
 * February 2024 (the 5th is a Monday), one sample at 19:00:02 Chicago time per date listed. EUC:
 * a full week with a Saturday snapshot; a week then a weekend without any (Friday 16 → Monday 19);
 * Wednesday 21 missing; Friday 23 missing before a Saturday snapshot. Support: Friday 16, Sunday 18, Monday 19.
 */
const EUC_DATES = ['05', '06', '07', '08', '09', '10', '12', '13', '14', '15', '16', '19', '20', '22', '24', '26', '27'];
const SUPPORT_DATES = ['16', '18', '19'];
const count = (team: string, day: string) => (team === 'EUC' ? 40 : 10) + Number(day);
const seedFile = (team: string, days: string[]) =>
  `inc_count,time\n0,2024-02-01 10:00:00.5\n${days.map((d) => `${count(team, d)},2024-02-${d} 19:00:02.250000`).join('\n')}\n`;
const x = (day: string) => Date.parse(`2024-02-${day}T00:00:00Z`) / 1000;

const opsfold = (args: string[]) => runOpsfold(args, { PATH: process.env.PATH ?? '' });

describe('the backlog chart with weekends hidden, in Chromium', () => {
  let dir: string;
  let service: Service;
  let base: string;
  let browser: Browser;
  /** Content-Security-Policy violations of the pages opened; after each test there must be none (the tooltip's swatches included). */
  const cspViolations: string[] = [];
  afterEach(() => assert.deepEqual(cspViolations.splice(0), [], 'the page logged Content-Security-Policy violations'));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-weekends-'));
    const dataDir = join(dir, 'data');
    for (const [team, days] of [['EUC', EUC_DATES], ['Support', SUPPORT_DATES]] as const) {
      const file = join(dir, `${team}.csv`);
      await writeFile(file, seedFile(team, [...days]));
      const run = await opsfold(['import-backlog', '--team', team, '--timezone', ZONE, file, '--data-dir', dataDir]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).new, days.length);
    }
    const { settings } = loadSettings({ port: 0, host: '127.0.0.1', dataDir, simulate: false, flushIntervalMs: 200 }, { BACKLOG_TIMEZONE: ZONE });
    service = await startService(settings);
    base = `http://127.0.0.1:${service.port}`;
    await eventually('the imported snapshots', async () => {
      const body = (await (await fetch(`${base}/v1/backlog?team=EUC`)).json()) as { data: unknown[] };
      return body.data.length === EUC_DATES.length;
    }, 30_000);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function openPage(path: string): Promise<Page> {
    const page = await newWatchedPage(browser, cspViolations, { viewport: { width: 1366, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}${path}`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.waitForSelector('#backlog[data-state="ready"]');
    assert.deepEqual(errors, []);
    return page;
  }

  const chart = (page: Page): Promise<{ xs: number[]; euc: (number | null)[]; support: (number | null)[]; hidden: boolean }> => page.evaluate(() => {
    const b = window.opsfold.backlog;
    return { xs: b.data[0], euc: b.data[1], support: b.data[2], hidden: b.hideWeekends };
  });
  const tableRows = (page: Page): Promise<string[][]> => page.$$eval('#backlog-table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent ?? '')));

  it('with weekends shown, Saturday\'s snapshot is drawn and Friday 16 → Monday 19 breaks the line', async () => {
    const page = await openPage('/');
    const shown = await chart(page);
    assert.equal(shown.hidden, false);
    assert.equal(await page.isChecked('#backlog-hide-weekends'), false);
    assert.equal(shown.euc[shown.xs.indexOf(x('10'))], count('EUC', '10'));
    assert.equal(shown.euc[shown.xs.indexOf(x('17'))], null, 'Saturday 17 is a missing date');
    assert.equal(shown.support[shown.xs.indexOf(x('18'))], count('Support', '18'));
    assert.ok((await tableRows(page)).some((r) => r[1] === '2024-02-10'));
    await page.close();
  });

  it('hide weekends: no Saturday or Sunday drawn or listed, Friday → Monday joined, weekday gaps still break the line, the choice in the address', async () => {
    const page = await openPage('/');
    await page.check('#backlog-hide-weekends');
    await page.waitForFunction(() => window.opsfold.backlog.hideWeekends === true);
    const hidden = await chart(page);

    // Worked out by hand: EUC's and Support's weekdays, plus the first missing weekday of each gap (21, and 23 before Saturday 24).
    const days = ['05', '06', '07', '08', '09', '12', '13', '14', '15', '16', '19', '20', '21', '22', '23', '26', '27'];
    assert.deepEqual(hidden.xs, days.map(x));
    assert.ok(hidden.xs.every((v) => ![0, 6].includes(new Date(v * 1000).getUTCDay())), 'no x on a Saturday or Sunday');
    assert.deepEqual(hidden.euc, days.map((d) => (['21', '23'].includes(d) ? null : count('EUC', d))));
    assert.deepEqual(hidden.support, days.map((d) => (['16', '19'].includes(d) ? count('Support', d) : null)));
    // Friday 16 and Monday 19 are neighbours on the axis, both drawn: one step, not a gap.
    const friday = hidden.xs.indexOf(x('16'));
    assert.equal(hidden.xs[friday + 1], x('19'));
    assert.ok(hidden.euc[friday] !== null && hidden.euc[friday + 1] !== null && hidden.support[friday] !== null && hidden.support[friday + 1] !== null);

    // The table lists weekdays only, newest first, with the missing weekdays before each.
    assert.equal(await page.textContent('#backlog-gap-head'), 'Missing weekdays before');
    const rows = await tableRows(page);
    assert.deepEqual(rows.filter((r) => r[0] === 'EUC').map((r) => [r[1].slice(8), r[2], r[4]]), [
      ['27', '67', '0'], ['26', '66', '1'], ['22', '62', '1'], ['20', '60', '0'], ['19', '59', '0'], ['16', '56', '0'], ['15', '55', '0'],
      ['14', '54', '0'], ['13', '53', '0'], ['12', '52', '0'], ['09', '49', '0'], ['08', '48', '0'], ['07', '47', '0'], ['06', '46', '0'], ['05', '45', '0'],
    ]);
    assert.deepEqual(rows.filter((r) => r[0] === 'Support').map((r) => [r[1], r[4]]), [['2024-02-19', '0'], ['2024-02-16', '0']]);

    // Hovering Monday 26: one weekday (Friday 23) is missing before it; the change is still from the
    // previous snapshot, Saturday 24 (64), as the API gives it.
    await page.locator('#backlog-chart').scrollIntoViewIfNeeded();
    const at = await page.evaluate((mx: number) => {
      const u = window.opsfold.backlog.uplot;
      const box = u.over.getBoundingClientRect();
      return { x: box.left + u.valToPos(mx, 'x'), y: box.top + box.height / 2 };
    }, x('26'));
    await page.mouse.move(at.x, at.y);
    await page.waitForSelector('#backlog-tooltip:not([hidden])');
    assert.match(await page.textContent('#backlog-tooltip') ?? '', /^2024-02-26EUC 66 \(\+2\) 1 weekday missing before$/);

    // Kept in the address beside the other choices; a reload shows the same view.
    const search = new URLSearchParams(await page.evaluate(() => location.search));
    assert.equal(search.get('weekends'), 'hide');
    assert.ok(search.get('minutes'), `the fleet's choices stay: ${search}`);
    await page.reload();
    await page.waitForSelector('#backlog[data-state="ready"]');
    assert.equal(await page.isChecked('#backlog-hide-weekends'), true);
    assert.deepEqual((await chart(page)).xs, days.map(x));

    // Unticked: the weekends come back and leave the address.
    await page.uncheck('#backlog-hide-weekends');
    await page.waitForFunction(() => window.opsfold.backlog.hideWeekends === false);
    assert.equal(new URLSearchParams(await page.evaluate(() => location.search)).get('weekends'), null);
    assert.ok((await chart(page)).xs.includes(x('10')));
    await page.close();
  });

  it('opened with ?weekends=hide, the box is ticked and the chart starts without weekends', async () => {
    const page = await openPage('/?weekends=hide');
    assert.equal(await page.isChecked('#backlog-hide-weekends'), true);
    const hidden = await chart(page);
    assert.equal(hidden.hidden, true);
    assert.ok(!hidden.xs.includes(x('10')) && !hidden.xs.includes(x('18')));
    await page.close();
  });
});
