import { copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { loadSettings } from '../../src/config/settings';
import { startService, type Service } from '../../src/main';
import { createApp, type ApiDeps } from '../../src/adapters/http/createApp';
import { MemoryBlockTable, MemoryRowTable } from '../support/memoryTableStore';
import { launchChromium, newWatchedPage } from '../support/browser';
import { eventually } from '../support/eventually';
import { runOpsfold } from '../support/runOpsfold';

const CPU = 'win_cpu.percent_processor_time';
const MEM = 'win_mem.available_mbytes';
const FLEET: [string, string[]][] = [
  ['T0+demo/a==6378', ['Shared0vm0/x=', 'Shared0vm1/x=']],
  ['T1+demo/b==6379', ['Shared1vm0/y=', 'Shared1vm1/y=']],
  ['T2/demo+c=6380', ['Shared2vm0+z', 'Shared2vm1+z']],
];
const NOW_MINUTE = Math.floor(Date.now() / 60_000) * 60;
const END = NOW_MINUTE - 180; // the newest minute of the known data
const MINUTES = 90;
const SCREENSHOTS = resolve(__dirname, '../../../docs');
/** Content-Security-Policy violations of every page the tests open; after each test there must be none. */
const cspViolations: string[] = [];
const noCspViolation = () => assert.deepEqual(cspViolations.splice(0), [], 'the page logged Content-Security-Policy violations');

// Callbacks passed to page.evaluate run in the page; these names exist there, not in Node's types.
declare const window: any;
declare const document: any;
declare const getComputedStyle: any;

interface M { tenant: string; vm: string; key: string; t: number; value: number }

/** Two samples a minute per VM and key; values from a formula, so each chart has a shape. */
function knownMetrics(): M[] {
  const out: M[] = [];
  for (let m = 0; m < MINUTES; m++) {
    const start = END - (MINUTES - 1 - m) * 60;
    for (const [ti, [tenant, vms]] of FLEET.entries()) {
      for (const [vi, vm] of vms.entries()) {
        for (const key of [CPU, MEM]) {
          for (let s = 0; s < 2; s++) {
            const [base, amp] = key === CPU ? [45, 25] : [2048, 600];
            const value = Math.round((base + amp * Math.sin(m / 9 + ti * 1.7 + vi * 0.9) + s * 3 + ti * 4) * 100) / 100;
            out.push({ tenant, vm, key, t: start + 10 + 25 * s, value });
          }
        }
      }
    }
  }
  return out;
}

function spoc(metrics: M[]): string {
  return JSON.stringify({
    metrics: metrics.map((m) => {
      const dot = m.key.indexOf('.');
      return { timestamp: m.t, MaskedTenantId: m.tenant, MaskedVMName: m.vm, PerfType: m.key.slice(0, dot), PerfName: m.key.slice(dot + 1), PerfValue: m.value };
    }),
  });
}

/** Minute averages (DESIGN §2), computed here: window start → mean of the values. */
function minuteAverages(metrics: M[], pick: (m: M) => boolean): Map<number, number> {
  const sums = new Map<number, { sum: number; n: number }>();
  for (const m of metrics.filter(pick)) {
    const start = Math.floor(m.t / 60) * 60;
    const s = sums.get(start) ?? { sum: 0, n: 0 };
    s.sum += m.value;
    s.n++;
    sums.set(start, s);
  }
  return new Map([...sums].map(([t, s]) => [t, s.sum / s.n]));
}

/** DESIGN §5's buckets over the minutes [end-(minutes-1)*60, end]: avg/min/max of the minute averages. */
function expectedBuckets(avgs: Map<number, number>, end: number, minutes: number, interval: number, by: 'avg' | 'min' | 'max'): [number, number][] {
  const groups = new Map<number, number[]>();
  for (const [t, v] of avgs) {
    if (t < end - (minutes - 1) * 60 || t > end) continue;
    const b = Math.floor(t / (interval * 60)) * interval * 60;
    groups.set(b, [...(groups.get(b) ?? []), v]);
  }
  return [...groups].sort((a, b) => a[0] - b[0]).map(([t, vs]) => [t, by === 'min' ? Math.min(...vs) : by === 'max' ? Math.max(...vs) : vs.reduce((a, b) => a + b, 0) / vs.length]);
}

const close = (a: number | null, b: number) => a !== null && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

interface Drawn { xs: number[]; cross: (number | null)[]; vm: (number | null)[] }

async function drawn(page: Page): Promise<Drawn> {
  return page.evaluate(() => {
    const [xs, cross, vm] = window.opsfold.fleet.data;
    return { xs: xs as number[], cross, vm };
  });
}

/** The fleet table's rows, oldest first: time text and the numbers shown. */
async function tableRows(page: Page): Promise<{ time: string; cross: number | null; vm: number | null }[]> {
  const rows = await page.$$eval('#fleet-table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent ?? '')));
  const num = (s: string) => (s === '–' ? null : Number(s.replace(/,/g, '')));
  return rows.reverse().map((cells) => ({ time: cells[0], cross: num(cells[1]), vm: num(cells[6]) }));
}

function assertSeries(actualXs: number[], actual: (number | null)[], expected: [number, number][], what: string): void {
  assert.deepEqual(actualXs, expected.map(([t]) => t), `${what}: the x values`);
  expected.forEach(([, v], i) => assert.ok(close(actual[i], v), `${what} at ${actualXs[i]}: drew ${actual[i]}, expected ${v}`));
}

function assertTable(rows: { time: string; cross: number | null; vm: number | null }[], expected: [number, number][], column: 'cross' | 'vm'): void {
  assert.equal(rows.length, expected.length);
  expected.forEach(([t, v], i) => {
    assert.equal(rows[i].time, new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' '));
    const shown = rows[i][column];
    assert.ok(shown !== null && Math.abs(shown - v) <= 0.0005 + 1e-9, `table ${column} at ${rows[i].time}: shows ${shown}, expected ${v}`);
  });
}

async function waitForWindows(base: string, key: string, count: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const res = await fetch(`${base}/v1/get-data?key=${encodeURIComponent(key)}&minutes=1000`);
    if (((await res.json()) as { data: unknown[] }).data.length >= count) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${key}: the windows did not arrive`);
}

const ZONE = 'America/New_York';
const DAY_MS = 86_400_000;
const BACKLOG_FIRST_DAY = Date.UTC(2024, 0, 8);
const BACKLOG_DAYS = 100; // 2024-01-08 … 2024-04-16: across the spring-forward day (03-10)
const TEAMS = ['EUC', 'Service Desk'] as const;
type Team = (typeof TEAMS)[number];
/** Days (from the first) on which a team has no sample at all: missing days of 1, 2, 3 and 4; day 57 for both. */
const MISSING: Record<Team, number[]> = { 'EUC': [12, 30, 31, 32, 57, 80, 81], 'Service Desk': [5, 44, 45, 57, 70, 71, 72, 73] };

interface Sample { ms: number; count: number }
interface Snapshot { date: string; count: number; sampledAt: string; samples: number; change: number | null; gapDays: number }

/** The wall clock of New York at an instant, by Intl (not by the code under test). */
function newYork(ms: number): { date: string; clock: string } {
  const format = new Intl.DateTimeFormat('en-CA', { timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  const p = Object.fromEntries(format.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return { date: `${p.year}-${p.month}-${p.day}`, clock: `${p.hour}:${p.minute}:${p.second}` };
}

/**
 * Each team's samples: one in the evening, some days another one earlier (a different count, so the
 * last one must win) or later, after midnight UTC but the same evening in New York.
 */
function backlogSamples(team: Team): Sample[] {
  const out: Sample[] = [];
  for (let d = 0; d < BACKLOG_DAYS; d++) {
    if (MISSING[team].includes(d)) continue;
    if (team === 'EUC') {
      const evening = BACKLOG_FIRST_DAY + (d + 1) * DAY_MS + 2_000; // 00:00:02Z: 19:00:02 EST or 20:00:02 EDT the day before
      const count = Math.round(60 + 15 * Math.sin(d / 8) + (d % 4) * 2);
      if (d % 6 === 0) out.push({ ms: evening - 8 * 3_600_000, count: count + 5 });
      out.push({ ms: evening, count });
      if (d % 7 === 3) out.push({ ms: evening + 3.5 * 3_600_000, count: count - 3 }); // 03:30Z: 22:30 EST / 23:30 EDT
    } else {
      const evening = BACKLOG_FIRST_DAY + d * DAY_MS + (23 * 60 + 10) * 60_000 + 5_000; // 23:10:05Z
      const count = Math.round(30 + 10 * Math.cos(d / 11) + (d % 3));
      out.push({ ms: evening, count });
      if (d % 5 === 1) out.push({ ms: evening + 4 * 3_600_000, count: count + 2 }); // 03:10Z the next UTC day
    }
  }
  return out;
}

/** The history files: EUC as the old script wrote them (pandas index, naive New York times, 42.0), the other with UTC instants. */
function backlogCsv(team: Team): string {
  const rows = backlogSamples(team).map((s, i) => {
    if (team !== 'EUC') return `${new Date(s.ms).toISOString()},${s.count}`;
    const local = newYork(s.ms);
    return `${i},${local.date} ${local.clock},${s.count}${i % 2 === 0 ? '.0' : ''}`;
  });
  return `${[team === 'EUC' ? ',timestamp,backlog_incident_count' : 'timestamp,backlog_incident_count', ...rows].join('\n')}\n`;
}

/** DESIGN §5's daily snapshots of the samples, worked out here: the last sample of each New York date. */
function expectedSnapshots(samples: Sample[]): Snapshot[] {
  const byDate = new Map<string, Sample[]>();
  for (const s of samples) {
    const date = newYork(s.ms).date;
    byDate.set(date, [...(byDate.get(date) ?? []), s]);
  }
  const out: Snapshot[] = [];
  for (const date of [...byDate.keys()].sort()) {
    const day = byDate.get(date)!;
    const last = day.reduce((a, b) => (b.ms > a.ms ? b : a));
    const previous = out.at(-1);
    out.push({
      date, count: last.count, sampledAt: new Date(last.ms).toISOString(), samples: day.length,
      change: previous ? last.count - previous.count : null,
      gapDays: previous ? Math.round((Date.parse(date) - Date.parse(previous.date)) / DAY_MS) - 1 : 0,
    });
  }
  return out;
}

/** How the table writes a change: a real minus sign, a plus for a rise, an en dash for none. */
const signed = (n: number | null) => (n === null ? '–' : n > 0 ? `+${n}` : n < 0 ? `−${-n}` : '0');
const tableRow = (team: string, s: Snapshot) => [team, s.date, String(s.count), signed(s.change), String(s.gapDays), String(s.samples), s.sampledAt.slice(0, 16).replace('T', ' ')];
const midnight = (date: string) => Date.parse(`${date}T00:00:00Z`) / 1000;

const opsfold = (args: string[], dataDir: string) => runOpsfold([...args, '--data-dir', dataDir], { PATH: process.env.PATH ?? '' });

describe('the dashboard in Chromium, against a service holding known data', () => {
  let dir: string;
  let service: Service;
  let base: string;
  let browser: Browser;
  const metrics = knownMetrics();
  afterEach(noCspViolation);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-dash-'));
    const { settings } = loadSettings({ port: 0, host: '127.0.0.1', dataDir: join(dir, 'data'), simulate: false, idleCloseSeconds: 1, flushIntervalMs: 200 }, { BACKLOG_TIMEZONE: ZONE });
    service = await startService(settings);
    base = `http://127.0.0.1:${service.port}`;
    for (let i = 0; i < metrics.length; i += 500) {
      const res = await fetch(`${base}/v1/spoc`, { method: 'POST', body: spoc(metrics.slice(i, i + 500)), headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 202);
    }
    await waitForWindows(base, CPU, MINUTES);
    await waitForWindows(base, MEM, MINUTES);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * The backlog history, imported while the service runs, by the real CLI into the service's log
   * (once, on first use: the "no backlog data" test runs before it); resolves when /v1/backlog serves it.
   */
  let imported: Promise<void> | undefined;
  const importBacklog = () => (imported ??= (async () => {
    for (const team of TEAMS) {
      const file = join(dir, `${team.replace(/\W/g, '_')}.csv`);
      await writeFile(file, backlogCsv(team));
      const run = await opsfold(['import-backlog', '--team', team, '--timezone', ZONE, file], join(dir, 'data'));
      assert.equal(run.code, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).new, backlogSamples(team).length, run.stdout);
    }
    for (const team of TEAMS) {
      const expected = expectedSnapshots(backlogSamples(team));
      const url = `${base}/v1/backlog?team=${encodeURIComponent(team)}`;
      const answer = await eventually(`${team}'s snapshots from GET /v1/backlog`, async () => {
        const body = (await (await fetch(url)).json()) as { data: Snapshot[] };
        return body.data.length === expected.length && body;
      }, 30_000);
      assert.deepEqual(answer, { team, timezone: ZONE, data: expected }, 'the API serves the snapshots worked out here');
    }
    const teams = (await (await fetch(`${base}/v1/backlog/teams`)).json()) as { teams: { team: string }[] };
    assert.deepEqual(teams.teams.map((t) => t.team), [...TEAMS]);
  })());

  async function openPage(path = '/', viewport = { width: 1366, height: 900 }): Promise<Page> {
    const page = await newWatchedPage(browser, cspViolations, { viewport });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}${path}`);
    await page.waitForSelector('body[data-ready="true"]');
    assert.deepEqual(errors, []);
    return page;
  }

  it('draws the chosen key\'s cross-tenant average over the last 60 minutes, the same values in its data table', async () => {
    const page = await openPage(`/?key=${encodeURIComponent(CPU)}`);
    const expected = expectedBuckets(minuteAverages(metrics, (m) => m.key === CPU), END, 60, 1, 'avg');
    assert.equal(expected.length, 60);
    const d = await drawn(page);
    assertSeries(d.xs, d.cross, expected, 'cross-tenant average');
    assert.ok(d.vm.every((v) => v === null), 'no VM chosen, no VM line');
    assertTable(await tableRows(page), expected, 'cross');
    assert.match(await page.textContent('#fleet-chart-title') ?? '', /average per minute, last 60 minutes \(%\)/);
    assert.equal(await page.isHidden('#simulated-banner'), true);
    await page.close();
  });

  it('follows the chosen minutes, interval and aggregation (set by keyboard), and agrees with GET /v1/get-data', async () => {
    const page = await openPage(`/?key=${encodeURIComponent(MEM)}`);
    await page.fill('#minutes-input', '45');
    await page.press('#minutes-input', 'Tab'); // commits the value; focus moves on by keyboard
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'interval-input');
    assert.notEqual(await page.$eval('#interval-input', (el) => getComputedStyle(el).outlineStyle), 'none', 'keyboard focus is visible');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('10');
    await page.keyboard.press('Tab');
    await page.focus('#agg-select');
    await page.keyboard.press('ArrowDown'); // avg → min
    await page.keyboard.press('ArrowDown'); // min → max
    await page.waitForFunction(() => {
      const s = window.opsfold.fleet.selection;
      return s.minutes === 45 && s.interval === 10 && s.by === 'max';
    });
    const expected = expectedBuckets(minuteAverages(metrics, (m) => m.key === MEM), END, 45, 10, 'max');
    const d = await drawn(page);
    assertSeries(d.xs, d.cross, expected, '10-minute maximum');
    assertTable(await tableRows(page), expected, 'cross');
    const api = (await (await fetch(`${base}/v1/get-data?key=${encodeURIComponent(MEM)}&minutes=45&aggregationInterval=10&aggregationBy=max`)).json()) as { data: Record<string, unknown>[] };
    const shown = await page.evaluate(() => window.opsfold.fleet.cross);
    // The page buckets minute windows itself and does not draw finality (yet): the API's figures without `final`.
    assert.deepEqual(shown, api.data.map(({ final: _final, ...figures }) => figures), 'the page\'s buckets are the API\'s');
    await page.close();
  });

  it('draws one VM beside the average after a key, a tenant and a VM are picked', async () => {
    const page = await openPage('/');
    const [tenant, vms] = FLEET[2];
    const vm = vms[1];
    await page.selectOption('#key-select', MEM);
    await page.selectOption('#tenant-select', tenant);
    assert.deepEqual(await page.$$eval('#vm-select option', (os) => os.map((o) => o.value)), ['', ...vms]);
    await page.selectOption('#vm-select', vm);
    await page.waitForFunction((v) => window.opsfold.fleet.selection.vm === v, vm);
    await page.waitForFunction(() => window.opsfold.fleet.data[2].some((v: number | null) => v !== null));
    const cross = expectedBuckets(minuteAverages(metrics, (m) => m.key === MEM), END, 60, 1, 'avg');
    const mine = expectedBuckets(minuteAverages(metrics, (m) => m.key === MEM && m.tenant === tenant && m.vm === vm), END, 60, 1, 'avg');
    const d = await drawn(page);
    assertSeries(d.xs, d.cross, cross, 'cross-tenant average');
    assertSeries(d.xs, d.vm, mine, `VM ${vm}`);
    assertTable(await tableRows(page), mine, 'vm');
    assert.equal(await page.textContent('#fleet-vm-head'), `VM ${vm}`);
    assert.ok(new URL(page.url()).searchParams.get('vm') === vm, 'the choice is in the address, so a reload keeps it');
    await page.close();
  });

  it('a new window and then its revision appear through the stream, without a reload', async () => {
    const [tenant, vms] = FLEET[0];
    const page = await openPage(`/?key=${encodeURIComponent(CPU)}&tenant=${encodeURIComponent(tenant)}&vm=${encodeURIComponent(vms[0])}`);
    await page.evaluate(() => (window.stillHere = true));
    await page.waitForSelector('#status-live[data-state="live"]');
    const minute = END + 60;
    const fresh = FLEET.flatMap(([t, vs], ti) => vs.map((v, vi) => ({ tenant: t, vm: v, key: CPU, t: minute + 5, value: 10 * ti + vi + 0.5 })));
    await fetch(`${base}/v1/spoc`, { method: 'POST', body: spoc(fresh) });
    const firstAvg = fresh.reduce((s, m) => s + m.value, 0) / fresh.length;
    await page.waitForFunction((t) => window.opsfold.fleet.data[0].at(-1) === t, minute);
    let d = await drawn(page);
    assert.ok(close(d.cross.at(-1) ?? null, firstAvg), `the new window: drew ${d.cross.at(-1)}, expected ${firstAvg}`);
    assert.ok(close(d.vm.at(-1) ?? null, 0.5));
    assert.equal(d.xs.length, 60, 'the range moved on by a minute');
    assert.equal(d.xs[0], minute - 59 * 60);
    const shownAvg = firstAvg.toFixed(3).replace(/0+$/, '').replace(/\.$/, '');
    const items = await page.$$eval('#live-list li', (lis) => lis.map((li: any) => li.textContent));
    assert.ok(items.some((t: string) => t.includes('cross-tenant') && t.includes(`${CPU} avg ${shownAvg} (n=${fresh.length})`)), `live list: ${items.join(' | ')}`);

    const late = { tenant, vm: vms[0], key: CPU, t: minute + 40, value: 99.5 };
    await fetch(`${base}/v1/spoc`, { method: 'POST', body: spoc([late]) });
    const revisedAvg = (firstAvg * fresh.length + late.value) / (fresh.length + 1);
    await page.waitForSelector('#live-list .badge');
    await page.waitForFunction((v) => Math.abs((window.opsfold.fleet.data[1].at(-1) ?? 0) - v) < 1e-9, revisedAvg);
    d = await drawn(page);
    assert.ok(close(d.vm.at(-1) ?? null, (0.5 + 99.5) / 2), 'the VM line is revised too');
    assert.match(await page.textContent('#live-list') ?? '', /revision 2/);
    const rows = await tableRows(page);
    assert.ok(rows.at(-1)!.cross !== null && Math.abs(rows.at(-1)!.cross! - revisedAvg) < 0.0006);
    assert.equal(await page.evaluate(() => window.stillHere), true, 'no reload happened');
    await page.close();
  });

  it('runs under its Content-Security-Policy, which would report an inline script (so the check after each test can fail)', async () => {
    const res = await fetch(`${base}/`);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'.*frame-ancestors 'none'/);
    const page = await openPage('/');
    await page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'window.inlineRan = true';
      document.body.append(script);
    });
    // Reported twice: by the page's securitypolicyviolation event and by Chromium's console.
    await eventually('the violation reports', () => cspViolations.some((v) => v.startsWith('script-src-elem blocked inline')) && cspViolations.some((v) => /Content Security Policy/.test(v)));
    cspViolations.splice(0);
    assert.equal(await page.evaluate(() => window.inlineRan), undefined, 'the inline script did not run');
    await page.close();
  });

  it('shows the status strip, and the simulated banner when the service says so', async () => {
    const page = await openPage('/');
    await page.waitForFunction(() => document.getElementById('status-source')?.textContent !== '…');
    assert.equal(await page.textContent('#status-source'), 'api');
    assert.equal(await page.textContent('#status-late'), '0');
    assert.match(await page.textContent('#status-delay') ?? '', /\d+ (s|min|h)/);
    await page.close();
    const simulated = await newWatchedPage(browser, cspViolations);
    await simulated.route('**/healthz', async (route) => {
      const real = (await (await route.fetch()).json()) as Record<string, unknown>;
      await route.fulfill({ json: { ...real, source: 'simulated', simulated: true, ingest: { ingested: 5, rejected: 3 } } });
    });
    await simulated.goto(`${base}/`);
    await simulated.waitForSelector('#simulated-banner:not([hidden])');
    assert.match(await simulated.textContent('#simulated-banner') ?? '', /Simulated data/);
    assert.equal(await simulated.textContent('#status-rejected'), '3');
    await simulated.close();
  });

  it('says "no backlog data" when the service holds no backlog samples', async () => {
    // The routes are there (not a 404): the service simply has no team yet.
    const res = await fetch(`${base}/v1/backlog/teams`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { timezone: ZONE, teams: [] });
    const page = await openPage('/');
    await page.waitForSelector('#backlog[data-state="empty"]');
    assert.equal(await page.isVisible('#backlog-empty'), true);
    assert.equal(await page.isHidden('#backlog-chart'), true);
    assert.equal(await page.$$eval('#backlog-table tbody tr', (trs) => trs.length), 0);
    assert.equal(await page.isHidden('#error-banner'), true);
    await page.close();
  });

  it('draws the imported backlog (DESIGN §5): each team\'s snapshots, a break at missing days, hover, zoom and a date range', async () => {
    await importBacklog();
    const expected = new Map(TEAMS.map((team) => [team, expectedSnapshots(backlogSamples(team))]));
    for (const team of TEAMS) {
      const rows = expected.get(team)!;
      assert.ok(rows.some((r) => r.gapDays >= 2) && rows.some((r) => r.samples >= 2) && rows.some((r) => r.change !== null && r.change < 0), `${team}: the data has gaps, days with several samples and falls`);
    }
    const page = await openPage('/');
    const requests: string[] = [];
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname === '/v1/backlog') requests.push(url.search);
    });
    await page.waitForSelector('#backlog[data-state="ready"]');
    assert.equal(await page.textContent('#backlog-timezone'), `(dates in ${ZONE})`);
    const chart = await page.evaluate(() => {
      const b = window.opsfold.backlog;
      return { teams: b.teams, data: b.data };
    });
    assert.deepEqual(chart.teams, [...TEAMS]);
    const xs = chart.data[0] as number[];
    for (const [i, team] of TEAMS.entries()) {
      for (const row of expected.get(team)!) {
        const x = midnight(row.date);
        assert.equal(chart.data[i + 1][xs.indexOf(x)], row.count, `${team} ${row.date}`);
        if (row.gapDays > 0) {
          const firstMissing = xs.indexOf(x - row.gapDays * 86_400);
          assert.ok(firstMissing >= 0 && chart.data[i + 1][firstMissing] === null, `${team}: the line breaks before ${row.date}`);
        }
      }
      const drawn = (chart.data[i + 1] as (number | null)[]).filter((v) => v !== null).length;
      assert.equal(drawn, expected.get(team)!.length, `${team}: one point per snapshot`);
    }

    // The accessible table: every team's snapshots, newest first, as worked out from the CSV rows.
    const rows = await page.$$eval('#backlog-table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    assert.deepEqual(rows, TEAMS.flatMap((team) => [...expected.get(team)!].reverse().map((s) => tableRow(team, s))));

    // Hover over a snapshot that follows missing days: the tooltip says the value, the change and the gap.
    const gapped = expected.get('EUC')!.find((r) => r.gapDays === 3)!;
    await page.locator('#backlog-chart').scrollIntoViewIfNeeded();
    const at = await page.evaluate((x) => {
      const u = window.opsfold.backlog.uplot;
      const box = u.over.getBoundingClientRect();
      return { x: box.left + u.valToPos(x, 'x'), y: box.top + box.height / 2 };
    }, midnight(gapped.date));
    await page.mouse.move(at.x, at.y);
    await page.waitForSelector('#backlog-tooltip:not([hidden])');
    const tip = await page.textContent('#backlog-tooltip') ?? '';
    assert.ok(tip.startsWith(gapped.date), tip);
    assert.ok(tip.includes(`EUC ${gapped.count} (${signed(gapped.change)}) 3 days missing before`), tip);
    const other = expected.get('Service Desk')!.find((r) => r.date === gapped.date);
    if (other) assert.ok(tip.includes(`Service Desk ${other.count} (${signed(other.change)})`), tip);

    // Drag to zoom, then reset.
    const full = await page.evaluate(() => { const s = window.opsfold.backlog.uplot.scales.x; return [s.min, s.max]; });
    assert.deepEqual(full, [xs[0], xs[xs.length - 1]]);
    const box = (await page.locator('#backlog-chart .u-over').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.3, box.y + 20);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + 20, { steps: 5 });
    await page.mouse.up();
    const zoomed = await page.evaluate(() => { const s = window.opsfold.backlog.uplot.scales.x; return [s.min, s.max]; });
    assert.ok(zoomed[0] > full[0] && zoomed[1] < full[1], `zoomed to ${zoomed} from ${full}`);
    await page.focus('#backlog-reset-zoom');
    await page.keyboard.press('Enter');
    const reset = await page.evaluate(() => { const s = window.opsfold.backlog.uplot.scales.x; return [s.min, s.max]; });
    assert.deepEqual(reset, full);

    // A date range goes to the API as from/to; the first snapshot in it keeps its change and gap from the whole history.
    const [from, to] = ['2024-02-10', '2024-03-15'];
    assert.ok(expected.get('EUC')!.some((r) => r.date === from && r.gapDays > 0), 'the range starts just after missing days');
    await page.fill('#backlog-from', from);
    await page.fill('#backlog-to', to);
    await page.press('#backlog-to', 'Tab');
    await page.waitForFunction(([f, t]) => {
      const xs = window.opsfold.backlog.data[0];
      return xs.length > 0 && xs[0] >= f && xs[xs.length - 1] <= t;
    }, [midnight(from), midnight(to)]);
    assert.ok(requests.some((q) => q.includes(`from=${from}`) && q.includes(`to=${to}`)), requests.join(' '));
    const ranged = await page.$$eval('#backlog-table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    const inRange = (s: Snapshot) => s.date >= from && s.date <= to;
    assert.deepEqual(ranged, TEAMS.flatMap((team) => [...expected.get(team)!].filter(inRange).reverse().map((s) => tableRow(team, s))));
    assert.equal(ranged.filter((r) => r[0] === 'EUC').at(-1)![1], from);

    // The last 30 days hold none of this history (2024): the panel says so, not "no backlog data"; All brings it back.
    await page.click('#backlog-controls [data-days="30"]');
    await page.waitForSelector('#backlog[data-state="out-of-range"]');
    const since = await page.inputValue('#backlog-from');
    assert.ok(Math.abs((Date.now() - Date.parse(since)) / DAY_MS - 30) <= 1, `30 days back: ${since}`);
    const all = TEAMS.flatMap((team) => expected.get(team)!);
    const covers = `${all.map((r) => r.date).sort()[0]} to ${all.map((r) => r.date).sort().at(-1)}`;
    assert.equal(await page.textContent('#backlog-out-of-range'), `No snapshots since ${since}. The history covers ${covers}.`);
    assert.equal(await page.isHidden('#backlog-empty'), true);
    assert.equal(await page.isHidden('#backlog-chart'), true);
    await page.click('#backlog-controls [data-days=""]');
    await page.waitForSelector('#backlog[data-state="ready"]');
    assert.equal(await page.$$eval('#backlog-table tbody tr', (trs) => trs.length), all.length);
    assert.equal(await page.isHidden('#backlog-out-of-range'), true);
    await page.close();
  });

  it('fits a laptop and a phone; screenshots with live windows arriving and the imported backlog', async () => {
    await importBacklog();
    const [tenant, vms] = FLEET[1];
    const path = `/?key=${encodeURIComponent(CPU)}&tenant=${encodeURIComponent(tenant)}&vm=${encodeURIComponent(vms[0])}`;
    const pages: [string, Page][] = [];
    for (const [name, viewport] of [['laptop', { width: 1366, height: 900 }], ['phone', { width: 375, height: 812 }]] as const) {
      const page = await newWatchedPage(browser, cspViolations, { viewport, deviceScaleFactor: name === 'phone' ? 2 : 1 });
      await page.goto(`${base}${path}`);
      await page.waitForSelector('#backlog[data-state="ready"]');
      await page.waitForSelector('#status-live[data-state="live"]');
      pages.push([name, page]);
    }
    const minute = END + 120;
    const next = FLEET.flatMap(([t, vs], ti) => vs.map((v, vi) => ({ tenant: t, vm: v, key: CPU, t: minute + 7, value: 40 + 6 * ti + 3 * vi })));
    await fetch(`${base}/v1/spoc`, { method: 'POST', body: spoc(next) });
    for (const [, page] of pages) await page.waitForSelector('#live-list li');
    // The window has closed: a late sample revises it.
    await fetch(`${base}/v1/spoc`, { method: 'POST', body: spoc([{ tenant, vm: vms[0], key: CPU, t: minute + 50, value: 71 }]) });
    for (const [name, page] of pages) {
      await page.waitForSelector('#live-list .badge');
      const width = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      assert.ok(width[0] <= width[1], `${name}: nothing sticks out sideways (${width[0]} > ${width[1]})`);
      if (name === 'laptop') {
        await page.locator('#backlog-chart').scrollIntoViewIfNeeded();
        const box = (await page.locator('#backlog-chart .u-over').boundingBox())!;
        await page.mouse.move(box.x + box.width * 0.62, box.y + box.height * 0.4);
        await page.waitForSelector('#backlog-tooltip:not([hidden])');
      }
      // The backlog's date axis stays readable at either width: a label every few weeks, the year under the first.
      const labels: string[] = await page.evaluate(() => window.opsfold.backlog.uplot.axes[0]._values.filter(Boolean));
      assert.ok(labels.length >= 3, `${name}: backlog date labels ${JSON.stringify(labels)}`);
      assert.match(labels[0], /^\d\d-\d\d\n2024$/);
      const file = join(dir, `dashboard-${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      assert.ok((await stat(file)).size > 20_000);
      if (process.env.UPDATE_SCREENSHOTS === '1') {
        await mkdir(SCREENSHOTS, { recursive: true });
        await copyFile(file, join(SCREENSHOTS, `dashboard-${name}.png`));
      }
      await page.close();
    }
  });
});

describe('the dashboard when the API needs a token', () => {
  let server: Server;
  let browser: Browser;
  afterEach(noCspViolation);
  before(async () => {
    const catalog = new MemoryRowTable();
    await catalog.upsert([{ partition: ['key'], row: 'win_cpu.percent', fields: { key: 'win_cpu.percent', newest: 600 } }]);
    const minute = new MemoryBlockTable();
    const deps: ApiDeps = {
      apiToken: 'tok-123',
      ingest: async () => ({ accepted: 0, rejected: [] }),
      minuteTable: async () => minute,
      vmMinuteTable: async () => minute,
      catalog: async () => catalog,
      rejects: async () => new MemoryRowTable(),
      health: () => ({ status: 'ok', source: 'api', simulated: false }),
      metricsText: () => '',
    };
    server = await new Promise<Server>((r) => {
      const s = createApp(deps).listen(0, '127.0.0.1', () => r(s));
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('asks for the token, and with it reads the API', async () => {
    const page = await newWatchedPage(browser, cspViolations);
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForSelector('#error-banner:not([hidden])');
    assert.match(await page.textContent('#error-banner') ?? '', /needs an API token/);
    assert.equal(await page.$eval('#token-panel', (d) => d.open), true);
    await page.fill('#token-input', 'tok-123');
    await page.press('#token-input', 'Enter');
    await page.waitForSelector('body[data-ready="true"]');
    await page.waitForFunction(() => document.getElementById('key-select').value === 'win_cpu.percent');
    assert.equal(await page.isHidden('#error-banner'), true);
    await page.close();
  });
});
