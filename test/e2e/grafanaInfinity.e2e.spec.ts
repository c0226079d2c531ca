import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadSettings } from '../../src/config/settings';
import { startService, type Service } from '../../src/main';
import { eventually } from '../support/eventually';

const TOKEN = 'grafana-reads-0psfold';
const T0 = 1_735_689_600; // 2025-01-01T00:00:00Z, a multiple of 300: the 5-minute buckets start at T0, T0+300, T0+600

/** What the test posts: [minute after T0, values of that minute]. */
const POSTED: [number, number[]][] = [
  [0, [10, 20]], // minute average 15
  [1, [30]], // 30
  [3, [40, 50, 60]], // 50
  [5, [8]], // 8
  [9, [2, 4]], // 3
  [10, [100]], // 100
];
/** The 5-minute buckets, by hand: the average of each bucket's minute averages. */
const EXPECTED: { time: number; 'cpu %': number }[] = [
  { time: T0 * 1000, 'cpu %': (15 + 30 + 50) / 3 },
  { time: (T0 + 300) * 1000, 'cpu %': (8 + 3) / 2 },
  { time: (T0 + 600) * 1000, 'cpu %': 100 },
];

interface InfinityQuery {
  type: string;
  parser: string;
  source: string;
  format: string;
  url: string;
  url_options: { method: string };
  root_selector: string;
  columns: { selector: string; text: string; type: string }[];
}
interface Provisioning {
  apiVersion: number;
  datasources: { name: string; type: string; jsonData: Record<string, unknown> & { allowedHosts: string[] }; secureJsonData: Record<string, string> }[];
}

/** The README's Grafana section: its provisioning file and its panel query, exactly as written there. */
async function readmeExample(): Promise<{ provisioning: Provisioning; query: InfinityQuery }> {
  const readme = await readFile(resolve(__dirname, '../../../README.md'), 'utf8');
  const start = readme.indexOf('\n## Grafana\n');
  assert.ok(start >= 0, 'the README has a Grafana section');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const blocks = [...section.matchAll(/```(yaml|json)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], text: m[2] }));
  assert.deepEqual(blocks.map((b) => b.lang), ['yaml', 'json']);
  return { provisioning: parseYaml(blocks[0].text) as Provisioning, query: JSON.parse(blocks[1].text) as InfinityQuery };
}

/** Grafana's interpolation of what the example uses: its own environment in provisioning files, the time range in queries. */
function interpolate(text: string, vars: Record<string, string>): string {
  const out = text.replace(/\$\{([^}]+)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, braced?: string, bare?: string) => {
    const name = braced ?? bare!;
    assert.ok(name in vars, `the example uses ${whole}, which this test does not know`);
    return vars[name];
  });
  return out;
}

/** What Infinity's backend parser makes of a JSON answer: the rows under the root selector (a gjson path), one field per column. */
function infinityFrame(query: InfinityQuery, answer: unknown): Record<string, number>[] {
  const rows = query.root_selector.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], answer);
  assert.ok(Array.isArray(rows), 'the root selector names an array');
  return rows.map((row: Record<string, unknown>) => Object.fromEntries(query.columns.map((c) => {
    const raw = row[c.selector];
    switch (c.type) {
      case 'timestamp_epoch_s': return [c.text, (raw as number) * 1000];
      case 'number': return [c.text, raw as number];
      default: return assert.fail(`column type ${c.type} is not one this test reads`);
    }
  })));
}

describe("the README's Grafana example (Infinity data source) against a started service", () => {
  let dir: string;
  let service: Service;
  let base: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-e2e-grafana-'));
    const { settings } = loadSettings({ port: 0, host: '127.0.0.1', dataDir: join(dir, 'data'), simulate: false, idleCloseSeconds: 1, flushIntervalMs: 200 }, { OPSFOLD_API_TOKEN: TOKEN });
    service = await startService(settings);
    base = `http://127.0.0.1:${service.port}`;
    const metrics = POSTED.flatMap(([minute, values]) => values.map((value, i) => ({
      timestamp: T0 + minute * 60 + 5 + i * 10, MaskedTenantId: `tenant-${i}`, MaskedVMName: 'vm-1', PerfType: 'win_cpu', PerfName: 'percent_processor_time', PerfValue: value,
    })));
    const posted = await fetch(`${base}/v1/spoc`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ metrics }) });
    assert.deepEqual(await posted.json(), { accepted: metrics.length, rejected: [] });
    await eventually('the six minute windows', async () => {
      const res = await fetch(`${base}/v1/get-data?key=win_cpu.percent_processor_time&minutes=20&to=${T0 + 600}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      const body = (await res.json()) as { data: { windows: number }[] };
      return body.data.reduce((n, b) => n + b.windows, 0) === POSTED.length;
    }, 30_000);
  });
  after(async () => {
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('the query is a JSON query with the backend parser, as the README says', async () => {
    const { provisioning, query } = await readmeExample();
    assert.equal(provisioning.datasources[0].type, 'yesoreyeram-infinity-datasource');
    assert.deepEqual([query.type, query.parser, query.source, query.format, query.url_options.method, query.root_selector], ['json', 'backend', 'url', 'timeseries', 'GET', 'data']);
    assert.deepEqual(query.columns.map((c) => [c.selector, c.type]), [['timestamp', 'timestamp_epoch_s'], ['value', 'number']]);
  });

  it('its URL, sent with the data source header to an allowed host, yields the time series of the posted metrics', async () => {
    const { provisioning, query } = await readmeExample();
    const ds = provisioning.datasources[0];
    // A dashboard whose time range ends at T0 + 10:59.123: Grafana's ${__to:date:seconds} is T0 + 659.
    const url = interpolate(query.url, { '__to:date:seconds': String(Math.floor(((T0 + 659) * 1000 + 123) / 1000)) });
    // Infinity sends a request only to a URL that starts with an allowed host: that host is where the service listens.
    const host = ds.jsonData.allowedHosts.find((h) => url.startsWith(h));
    assert.ok(host !== undefined, `${url} starts with one of ${ds.jsonData.allowedHosts.join(', ')}`);
    const headerName = ds.jsonData.httpHeaderName1 as string;
    const headerValue = interpolate(ds.secureJsonData.httpHeaderValue1, { OPSFOLD_API_TOKEN: TOKEN });
    assert.deepEqual([headerName, headerValue], ['Authorization', `Bearer ${TOKEN}`]);

    const res = await fetch(base + url.slice(host.replace(/\/+$/, '').length), { method: query.url_options.method, headers: { [headerName]: headerValue } });
    assert.equal(res.status, 200);
    const frame = infinityFrame(query, await res.json());

    assert.deepEqual(frame.map((r) => r.time), EXPECTED.map((r) => r.time));
    frame.forEach((row, i) => assert.ok(Math.abs(row['cpu %'] - EXPECTED[i]['cpu %']) < 1e-9, `at ${new Date(row.time).toISOString()}: ${row['cpu %']}, expected ${EXPECTED[i]['cpu %']}`));
  });

  it('without the header the same URL is refused, so the token in the data source is what lets Grafana in', async () => {
    const { query } = await readmeExample();
    const url = interpolate(query.url, { '__to:date:seconds': String(T0 + 659) });
    const res = await fetch(base + new URL(url).pathname + new URL(url).search);
    assert.equal(res.status, 401);
  });
});
