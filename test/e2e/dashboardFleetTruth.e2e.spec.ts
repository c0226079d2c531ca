import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, newWatchedPage } from '../support/browser';
import { eventually } from '../support/eventually';
import { killServiceProcesses, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { referenceTop, type VmValues } from '../support/topReference';

// Callbacks passed to page.evaluate run in the page; these names exist there, not in Node's types.
declare const window: any;
declare const document: any;

const KEY = 'win_cpu.percent_processor_time';
const M0 = 1_700_000_040; // a minute boundary long past: windows close by idle time
const T = (m: number) => M0 + m * 60;
/** Six tenants of two VMs: twelve VMs, the fleet. */
const VMS = Array.from({ length: 12 }, (_, k) => ({ tenant: `T${Math.floor(k / 2)}+fleet/${k % 3}==`, vm: `vm${k % 2}/x=${k}` }));
/** Complete minutes 0..29, but: in minute 12 VMs 0 and 1 are missing (10 of 12, under 90%), in minute 16 VM 5 (11 of 12, not under). */
const MISSING: Record<number, number[]> = { 12: [0, 1], 16: [5] };
/** The newest minute: only VM 0 has reported, a low value; the eleven others' batches are still on their way. */
const NEWEST = 30;
const LATE_DROP = 3;
/** The allowed lateness the service runs with, and its default out-of-order allowance (the watermark trails the newest event by it). */
const LATENESS_SECONDS = 120;
const OUT_OF_ORDER_SECONDS = 60;
const CROSS_COLOR = '#2563eb';

/** VM k's values in minute m (a VM in every third place sends two a minute), as sent. */
function values(m: number, k: number): number[] {
  if (m === NEWEST) return k === 0 ? [LATE_DROP] : [];
  if (m < 0 || m > NEWEST || MISSING[m]?.includes(k)) return [];
  const base = Math.round((20 + 5 * k + 10 * Math.sin(m / 4 + k)) * 100) / 100;
  return k % 3 === 0 ? [base, base + 2] : [base];
}

function spoc(m: number, ks: number[], valueOf: (m: number, k: number) => number[] = values): string {
  const dot = KEY.indexOf('.');
  return JSON.stringify({
    metrics: ks.flatMap((k) => valueOf(m, k).map((value, s) => ({
      timestamp: T(m) + 7 + 20 * s, MaskedTenantId: VMS[k].tenant, MaskedVMName: VMS[k].vm,
      PerfType: KEY.slice(0, dot), PerfName: KEY.slice(dot + 1), PerfValue: value,
    }))),
  });
}

const ALL = VMS.map((_, k) => k);
const reporting = (m: number) => ALL.filter((k) => values(m, k).length > 0);
/** DESIGN §8, worked out from what is sent: the VMs that reported the key in the 60 minutes before minute m. */
const expectedVms = (m: number) => new Set(Array.from({ length: 60 }, (_, i) => m - 60 + i).filter((p) => p >= 0).flatMap(reporting)).size;
/** Final once the watermark (newest event time minus the out-of-order allowance) has passed the window's end plus the lateness. */
const watermark = (newestMinute: number) => T(newestMinute) + 7 - OUT_OF_ORDER_SECONDS;
const isFinal = (m: number, newestMinute: number) => watermark(newestMinute) >= T(m + 1) + LATENESS_SECONDS;
const minuteAverage = (m: number, ks = ALL) => {
  const all = ks.flatMap((k) => values(m, k));
  return all.reduce((a, b) => a + b, 0) / all.length;
};
const shown = (v: number) => new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 }).format(v);

interface Bucket { timestamp: number; value: number; count: number; windows: number; low: number; high: number; vms: number; expectedVms: number; final: boolean }
/** GET /v1/get-data's one-minute buckets of minutes [0, NEWEST] (DESIGN §5, §8), worked out from what is sent. */
function referenceBuckets(): Bucket[] {
  return Array.from({ length: NEWEST + 1 }, (_, m) => {
    const all = ALL.flatMap((k) => values(m, k));
    return {
      timestamp: T(m), value: minuteAverage(m), count: all.length, windows: 1, low: Math.min(...all), high: Math.max(...all),
      vms: reporting(m).length, expectedVms: expectedVms(m), final: isFinal(m, NEWEST),
    };
  });
}
/** Equal but for the value's rounding (a mean summed in another order). */
const sameBucket = (a: Bucket, b: Bucket) => Math.abs(a.value - b.value) <= 1e-9 * Math.max(1, Math.abs(b.value)) && JSON.stringify({ ...a, value: 0 }) === JSON.stringify({ ...b, value: 0 });

describe('the dashboard tells the truth about the fleet (Chromium, a spawned service)', () => {
  let dir: string;
  let service: ServiceProcess;
  let browser: Browser;
  const cspViolations: string[] = [];
  afterEach(() => assert.deepEqual(cspViolations.splice(0), [], 'the page logged Content-Security-Policy violations'));

  const getJson = async (path: string) => {
    const res = await fetch(`${service.base}${path}`);
    assert.equal(res.status, 200, `${path}: ${res.status}`);
    return (await res.json()) as any;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-dash-truth-'));
    service = await startServiceProcess(join(dir, 'data'), { env: { WINDOW_ALLOWED_LATENESS_SECONDS: String(LATENESS_SECONDS), WINDOW_OUT_OF_ORDER_SECONDS: String(OUT_OF_ORDER_SECONDS) } });
    for (let m = 0; m <= NEWEST; m++) {
      const res = await fetch(`${service.base}/v1/spoc`, { method: 'POST', body: spoc(m, ALL) });
      assert.equal(res.status, 202, await res.text());
    }
    // Every minute folded and as final as the watermark makes it: get-data answers what is worked out here.
    const want = referenceBuckets();
    let last = '';
    await eventually('GET /v1/get-data as worked out from what was sent', async () => {
      const body = await getJson(`/v1/get-data?key=${KEY}&minutes=${NEWEST + 1}`);
      last = JSON.stringify(body.data);
      return body.data.length === want.length && body.data.every((b: Bucket, i: number) => sameBucket(b, want[i]));
    }, 60_000).catch((error: Error) => {
      throw new Error(`${error.message}; last answer ${last}; wanted ${JSON.stringify(want)}`);
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await killServiceProcesses();
    await rm(dir, { recursive: true, force: true });
  });

  async function openPage(path: string): Promise<Page> {
    const page = await newWatchedPage(browser, cspViolations, { viewport: { width: 1366, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${service.base}${path}`);
    await page.waitForSelector('body[data-ready="true"]');
    assert.deepEqual(errors, []);
    return page;
  }

  /** The fleet table's row for minute m: its cells' text, and whether it is marked provisional. */
  const tableRow = (page: Page, m: number) => page.$eval(`#fleet-table tbody tr[data-timestamp="${T(m)}"]`, (tr: any) => ({
    cells: [...tr.children].map((c: any) => c.textContent), provisional: tr.dataset.provisional === 'true',
  }));
  const circle = (page: Page, m: number) => page.$(`#fleet-chart circle.provisional-point[data-series="cross"][data-timestamp="${T(m)}"]`);

  it('draws the partial newest minute (1 of 12 VMs, not final) hollow and dashed, says so on hover, in the table and the strip; a complete final minute is a plain point', async () => {
    const page = await openPage(`/?key=${encodeURIComponent(KEY)}&minutes=${NEWEST + 1}`);
    await page.waitForSelector(`#fleet-chart circle.provisional-point[data-timestamp="${T(NEWEST)}"]`);
    // The facts, from what was sent.
    assert.equal(reporting(NEWEST).length, 1);
    assert.equal(expectedVms(NEWEST), 12);
    assert.equal(isFinal(NEWEST, NEWEST), false);
    assert.ok(isFinal(10, NEWEST) && isFinal(12, NEWEST) && isFinal(16, NEWEST) && reporting(10).length === 12 && expectedVms(10) === 12);

    // The newest minute: a hollow point in the cross line's colour, a dashed segment into it, uPlot's line stops before it.
    const newest = await circle(page, NEWEST);
    assert.ok(newest);
    assert.equal(await newest.getAttribute('fill'), '#ffffff');
    assert.equal(await newest.getAttribute('stroke'), CROSS_COLOR);
    assert.equal(await newest.getAttribute('data-completeness'), 'provisional: 1 of 12 VMs, not final');
    assert.equal(Number(await newest.getAttribute('data-value')), LATE_DROP);
    const segment = await page.$(`#fleet-chart line.provisional-segment[data-series="cross"][data-to="${T(NEWEST)}"]`);
    assert.ok(segment, 'a dashed segment into the newest point');
    assert.equal(await segment.getAttribute('data-from'), String(T(NEWEST - 1)));
    assert.equal(await segment.getAttribute('stroke-dasharray'), '3 3');
    const fleet = await page.evaluate(() => ({ data: window.opsfold.fleet.data, drawn: window.opsfold.fleet.drawn }));
    const at = (m: number) => fleet.data[0].indexOf(T(m));
    assert.equal(fleet.data[1][at(NEWEST)], LATE_DROP, 'the value is kept');
    assert.equal(fleet.drawn[1][at(NEWEST)], null, 'but never drawn as a plain point of the line');

    // A complete, final minute (12 of 12) and one with 11 of 12 (not under 90%): plain points of uPlot's line, no mark.
    for (const m of [10, 16]) {
      assert.equal(await circle(page, m), null, `minute ${m} is not provisional`);
      assert.ok(Math.abs(fleet.drawn[1][at(m)] - minuteAverage(m)) < 1e-9, `minute ${m}: drew ${fleet.drawn[1][at(m)]}`);
    }
    assert.equal(await page.$(`#fleet-chart line.provisional-segment[data-series="cross"][data-to="${T(10)}"]`), null);
    // A final minute with 10 of 12: provisional all the same.
    assert.equal(await (await circle(page, 12))!.getAttribute('data-completeness'), 'provisional: 10 of 12 VMs, final');

    // The accessible table says the same.
    const row30 = await tableRow(page, NEWEST);
    assert.equal(row30.provisional, true);
    assert.equal(row30.cells[1], shown(LATE_DROP));
    assert.equal(row30.cells[8], 'provisional: 1 of 12 VMs, not final');
    assert.equal((await tableRow(page, 10)).provisional, false);
    assert.equal((await tableRow(page, 10)).cells[8], '12 of 12 VMs, final');
    assert.equal((await tableRow(page, 16)).cells[8], '11 of 12 VMs, final');

    // Hover over the newest point: its completeness.
    await page.locator('#fleet-chart').scrollIntoViewIfNeeded();
    const spot = await page.evaluate((x) => {
      const u = window.opsfold.fleet.uplot;
      const box = u.over.getBoundingClientRect();
      // The newest point is on the plot's right edge: just inside it, the cursor still picks that point.
      return { x: box.left + Math.min(u.valToPos(x, 'x'), box.width - 2), y: box.top + box.height / 2 };
    }, T(NEWEST));
    await page.mouse.move(spot.x, spot.y);
    await page.waitForSelector('#fleet-tooltip:not([hidden])');
    const tip = await page.textContent('#fleet-tooltip') ?? '';
    assert.ok(tip.includes('1 of 12 VMs, not final'), tip);
    assert.ok(tip.includes(`Cross-tenant average ${shown(LATE_DROP)} %`), tip);

    // The strip: a bar per minute; its height the share reported, hatched when not final.
    const bars = await page.$$eval('#fleet-strip rect.strip-bar', (rs: any[]) => rs.map((r) => ({
      t: Number(r.dataset.timestamp), vms: Number(r.dataset.vms), expected: Number(r.dataset.expectedVms), final: r.dataset.final, fill: r.getAttribute('fill'), height: Number(r.getAttribute('height')),
    })));
    assert.equal(bars.length, NEWEST + 1);
    for (const bar of bars) {
      const m = (bar.t - M0) / 60;
      assert.equal(bar.vms, reporting(m).length, `minute ${m}: vms`);
      assert.equal(bar.expected, expectedVms(m), `minute ${m}: expectedVms`);
      assert.equal(bar.final, String(isFinal(m, NEWEST)), `minute ${m}: final`);
      assert.equal(bar.fill === 'url(#strip-hatch)', bar.final === 'false', `minute ${m}: hatched when not final`);
    }
    const bar = (m: number) => bars.find((b) => b.t === T(m))!;
    assert.ok(bar(NEWEST).height < bar(12).height && bar(12).height < bar(16).height && bar(16).height < bar(10).height, 'heights follow the share reported');
    assert.match(await page.textContent('#fleet-strip-summary') ?? '', /provisional; the newest, .*: 1 of 12 VMs, not final\./);

    // The minutes not final yet are exactly those the watermark has not passed by the lateness (26 and older are final).
    assert.deepEqual(bars.filter((b) => b.final === 'false').map((b) => (b.t - M0) / 60), [27, 28, 29, 30]);
    // And the page's buckets are the ones worked out here, and the API's, completeness included.
    const pageBuckets: Bucket[] = await page.evaluate(() => window.opsfold.fleet.cross);
    const want = referenceBuckets();
    assert.equal(pageBuckets.length, want.length);
    pageBuckets.forEach((b, i) => assert.ok(sameBucket(b, want[i]), `minute ${i}: ${JSON.stringify(b)} against ${JSON.stringify(want[i])}`));
    const api = await getJson(`/v1/get-data?key=${KEY}&minutes=${NEWEST + 1}`);
    assert.deepEqual(pageBuckets, api.data);
    await page.close();
  });

  it('lists the hottest VMs as GET /v1/top answers and as worked out from what was sent; a click draws that VM', async () => {
    const page = await openPage(`/?key=${encodeURIComponent(KEY)}&minutes=${NEWEST + 1}`);
    const sent: VmValues[] = VMS.map((v, k) => ({ ...v, minutes: Array.from({ length: NEWEST + 1 }, (_, m) => values(m, k)) }));
    const rows = () => page.$$eval('#hottest-table tbody tr', (trs: any[]) => trs.map((tr) => [...tr.children].map((c: any) => c.textContent)));
    for (const by of ['avg', 'max', 'p95'] as const) {
      if (by !== 'avg') await page.selectOption('#hottest-by', by);
      await page.waitForFunction((b) => window.opsfold.hottest?.query.by === b, by);
      const top = await getJson(`/v1/top?key=${KEY}&minutes=${NEWEST + 1}&n=10&by=${by}`);
      assert.deepEqual(await page.evaluate(() => window.opsfold.hottest.answer), top, `by ${by}: the page shows /v1/top's answer`);
      assert.deepEqual(top.data, referenceTop(sent, by, 10), `by ${by}: /v1/top agrees with the values sent`);
      assert.deepEqual(await rows(), top.data.map((r: { tenant: string; vm: string; value: number; count: number }, i: number) => [String(i + 1), r.tenant, r.vm, `${shown(r.value)} %`, String(r.count)]));
    }
    assert.equal(new URL(page.url()).searchParams.get('rank'), 'p95');

    // A click on the third row draws its VM beside the average, with the values it sent.
    const third = referenceTop(sent, 'p95', 10)[2];
    const k = VMS.findIndex((v) => v.tenant === third.tenant && v.vm === third.vm);
    await page.click('#hottest-table tbody tr:nth-child(3) td:nth-child(2)');
    await page.waitForFunction(([t, v]) => window.opsfold.fleet.selection.tenant === t && window.opsfold.fleet.selection.vm === v && window.opsfold.fleet.data[2].some((x: number | null) => x !== null), [third.tenant, third.vm]);
    assert.equal(await page.inputValue('#tenant-select'), third.tenant);
    assert.equal(await page.inputValue('#vm-select'), third.vm);
    const d = await page.evaluate(() => window.opsfold.fleet.data);
    for (let m = 0; m <= NEWEST; m++) {
      const own = values(m, k);
      const drawn = d[2][d[0].indexOf(T(m))];
      if (own.length === 0) assert.equal(drawn ?? null, null, `minute ${m}: VM ${third.vm} sent nothing`);
      else assert.ok(Math.abs(drawn - own.reduce((a, b) => a + b, 0) / own.length) < 1e-9, `minute ${m}: drew ${drawn}`);
    }
    await page.waitForSelector('#hottest-table tbody tr:nth-child(3)[aria-current="true"]');
    assert.match(await page.textContent('#hottest-table tbody tr:nth-child(3)') ?? '', /\(drawn\)/);
    await page.close();
  });

  it('draws the p95 beside the average on demand, from GET /v1/get-data?aggregationBy=p95', async () => {
    const page = await openPage(`/?key=${encodeURIComponent(KEY)}&minutes=${NEWEST + 1}&interval=5`);
    assert.equal(await page.evaluate(() => window.opsfold.fleet.uplot.series.length), 3, 'x, the average and the VM line');
    await page.check('#p95-toggle');
    await page.waitForFunction(() => window.opsfold.fleet.data[3].some((v: number | null) => v !== null));
    const api = await getJson(`/v1/get-data?key=${KEY}&minutes=${NEWEST + 1}&aggregationInterval=5&aggregationBy=p95`);
    const d = await page.evaluate(() => ({ data: window.opsfold.fleet.data, labels: window.opsfold.fleet.uplot.series.map((s: any) => s.label) }));
    assert.deepEqual(d.labels.slice(1), ['Cross-tenant average', 'VM (none chosen)', 'Cross-tenant p95']);
    assert.deepEqual(d.data[3], d.data[0].map((x: number) => api.data.find((b: { timestamp: number }) => b.timestamp === x)?.value ?? null));
    // Within the sketch's 1% of the 95th percentile of the single values sent in each 5 minutes.
    for (const b of api.data as { timestamp: number; value: number }[]) {
      const sorted = Array.from({ length: 5 }, (_, i) => (b.timestamp - M0) / 60 + i).flatMap((m) => ALL.flatMap((k) => values(m, k))).sort((x, y) => x - y);
      const rank = 0.95 * (sorted.length - 1);
      assert.ok(b.value >= sorted[Math.floor(rank)] * 0.99 && b.value <= sorted[Math.ceil(rank)] * 1.01, `p95 at ${b.timestamp}: ${b.value}`);
    }
    assert.ok(d.data[3].some((v: number | null, i: number) => v !== null && v !== d.data[1][i]), 'a line of its own, not the average again');
    assert.equal(new URL(page.url()).searchParams.get('p95'), 'on');
    assert.match(await page.textContent('#fleet-table thead') ?? '', /p95/);
    await page.close();
  });

  it('a minute that arrives while the page is open, from one VM of twelve, is drawn provisional, not as a drop', async () => {
    const page = await openPage(`/?key=${encodeURIComponent(KEY)}&minutes=${NEWEST + 2}`);
    await page.waitForSelector('#status-live[data-state="live"]');
    const next = NEWEST + 1;
    const res = await fetch(`${service.base}/v1/spoc`, { method: 'POST', body: spoc(next, [4], () => [LATE_DROP + 1]) });
    assert.equal(res.status, 202);
    await page.waitForFunction((t) => window.opsfold.fleet.data[0].at(-1) === t, T(next));
    const mark = await page.waitForSelector(`#fleet-chart circle.provisional-point[data-series="cross"][data-timestamp="${T(next)}"][data-completeness="provisional: 1 of 12 VMs, not final"]`);
    assert.equal(await mark.getAttribute('fill'), '#ffffff');
    const fleet = await page.evaluate(() => ({ data: window.opsfold.fleet.data, drawn: window.opsfold.fleet.drawn }));
    assert.equal(fleet.data[1].at(-1), LATE_DROP + 1);
    assert.equal(fleet.drawn[1].at(-1), null, 'not a plain drop of the line');
    // The live list says how few VMs the window holds (the stream's event carries vms and expectedVms).
    const item = await page.waitForSelector(`#live-list li:has(time[datetime="${new Date(T(next) * 1000).toISOString()}"]):has-text("cross-tenant")`);
    assert.equal(await item.textContent(), `${new Date(T(next) * 1000).toISOString().slice(11, 16)} cross-tenant ${KEY} avg ${LATE_DROP + 1} (n=1) 1 of 12 VMs`);
    assert.equal(await item.$eval('.vms', (el: any) => el.className), 'vms partial');
    await page.close();
  });
});
