import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { checkPrometheusText, sampleValue } from '../support/prometheusText';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FileLog } from '../../src/adapters/fileLog/FileLog';
import { encodeEvent } from '../../src/core/logCodec';
import type { Metric } from '../../src/core/metric';
import { METRIC_GATE_VERSION } from '../../src/core/metricRejection';
import type { ListedQuarantineEntry as Entry } from '../../projections/quarantineRows';
import { eventually } from '../support/eventually';
import { BIN, killServiceProcesses, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';

const KEY = 'win_cpu.percent';
const T0 = 1_700_000_040; // a minute start, long past
const LONG = 'y'.repeat(300); // a tenant and a VM whose per-VM block key is over 512 characters once encoded

// Marked as admitted by the gate (a damaged disk, say), so that the store's own refusal is what sets the bad one aside;
// the gate's second look at records written before it is tested in badInput.e2e.spec.
const metrics = (...list: Metric[]) => encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs: 0, gate: METRIC_GATE_VERSION, metrics: list, rejected: [] });

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `${url} answered ${res.status}`);
  return (await res.json()) as T;
}

describe('a running service with records it cannot apply in its log', () => {
  let dir: string;
  let service: ServiceProcess | undefined;
  const positions: number[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-quarantine-'));
    // A log as an older opsfold (or a damaged sender path) may have left it: written with the codec, past the API's checks.
    const log = await FileLog.open(join(dir, 'data', 'log'));
    for (const record of [
      metrics({ t: T0 + 5, tenant: 'tA', vm: 'vm1', key: KEY, value: 10 }, { t: T0 + 9, tenant: LONG, vm: LONG, key: KEY, value: 5000 }),
      Buffer.from([7, 7, 7]),
    ]) positions.push((await log.append([record])).first);
    await log.close();
    service = await startServiceProcess(join(dir, 'data'));
  });
  after(async () => {
    await killServiceProcesses();
    await rm(dir, { recursive: true, force: true });
  });

  it('sets them aside, folds the rest, and lists and counts them: GET /v1/quarantine, opsfold quarantine, /metrics, /healthz', async () => {
    const base = service!.base;
    // When a good metric for the same minute is posted as well.
    const post = await fetch(`${base}/v1/spoc`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ metrics: [{ timestamp: T0 + 20, MaskedTenantId: 'tB', MaskedVMName: 'vm1', PerfType: 'win_cpu', PerfName: 'percent', PerfValue: 30 }] }),
    });
    assert.equal(post.status, 202);

    // Then the minute holds the two good metrics only (10 and 30), and the service is healthy.
    const data = await eventually('the minute folded', async () => {
      const body = await getJson<{ data: { timestamp: number; value: number; count: number }[] }>(`${base}/v1/get-data?key=${KEY}&minutes=1&to=${T0}`);
      return body.data.length === 1 && body.data[0].count === 2 && body.data;
    }, 30_000);
    assert.equal(data[0].value, 20);

    // The windows projection set aside metric 1 of the first record and the whole second record; every projection that
    // reads the second one did (the backlog projection too: it is no record type at all).
    const listed = await eventually('the quarantine listed', async () => {
      const body = await getJson<{ quarantine: Entry[] }>(`${base}/v1/quarantine`);
      return body.quarantine.length === 4 && body.quarantine;
    }, 30_000);
    assert.deepEqual(listed.map((e) => [e.projection, e.position, e.index]), [
      ['windows', positions[0], 1], ['windows', positions[1], null], ['rejects', positions[1], null], ['backlog', positions[1], null],
    ]);
    assert.match(listed[0].reason, /618 characters once encoded; Table Storage allows at most 512/);
    assert.match(listed[0].raw ?? '', /"value":5000/);
    assert.match(listed[1].reason, /does not decode/);
    assert.equal(listed[1].raw, `base64:${Buffer.from([7, 7, 7]).toString('base64')}`);
    for (const e of listed) assert.ok(Date.parse(e.quarantinedAt) > 0, `quarantinedAt ${e.quarantinedAt}`);
    const onlyRejects = await getJson<{ quarantine: Entry[] }>(`${base}/v1/quarantine?projection=rejects&limit=5`);
    assert.deepEqual(onlyRejects.quarantine, [listed[2]]);
    assert.equal((await getJson<{ quarantine: Entry[] }>(`${base}/v1/quarantine?limit=1`)).quarantine.length, 1);
    const bad = await fetch(`${base}/v1/quarantine?projection=nope`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { parameter: string } }).error.parameter, 'projection');

    // /metrics counts them per projection; /healthz too, and quarantined records alone leave the status ok.
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /^# TYPE opsfold_quarantined_records_total counter$/m);
    assert.match(text, /^opsfold_quarantined_records_total\{projection="windows"\} 2$/m);
    assert.match(text, /^opsfold_quarantined_records_total\{projection="rejects"\} 1$/m);
    assert.match(text, /^opsfold_quarantined_records_total\{projection="backlog"\} 1$/m);
    // The whole exposition passes what promtool checks (HELP and TYPE everywhere, counters end in _total), with Node's defaults and the request histogram.
    const families = checkPrometheusText(text);
    for (const name of ['process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'opsfold_metrics_ingested_total', 'opsfold_consumer_lag_bytes']) assert.ok(families.has(name), name);
    assert.equal(sampleValue(families, 'opsfold_metrics_ingested_total'), 1, 'the one good metric posted to this service');
    assert.match(text, /^opsfold_http_request_duration_seconds_count\{method="POST",route="\/v1\/spoc",status="202"\} 1$/m);
    assert.match(text, /^opsfold_http_request_duration_seconds_count\{method="GET",route="\/v1\/quarantine",status="400"\} 1$/m);
    const health = await getJson<{ status: string; quarantine: Record<string, number>; projector: { failing: unknown[] } }>(`${base}/healthz`);
    assert.deepEqual(health.quarantine, { windows: 2, rejects: 1, backlog: 1, total: 4 });
    assert.equal(health.status, 'ok');
    assert.deepEqual(health.projector.failing, []);

    // `opsfold quarantine` lists the same entries, as JSON lines.
    const cli = await promisify(execFile)(process.execPath, [BIN, 'quarantine', '--data-dir', join(dir, 'data')]);
    assert.deepEqual(cli.stdout.trim().split('\n').map((line) => JSON.parse(line) as Entry), listed);
    const windowsOnly = await promisify(execFile)(process.execPath, [BIN, 'quarantine', '--projection', 'windows', '--limit', '1', '--data-dir', join(dir, 'data')]);
    assert.deepEqual(windowsOnly.stdout.trim().split('\n').map((line) => JSON.parse(line) as Entry), [listed[0]]);
    const unknown = await promisify(execFile)(process.execPath, [BIN, 'quarantine', '--projection', 'nope', '--data-dir', join(dir, 'data')]).catch((e: { code: number; stderr: string }) => e);
    assert.equal((unknown as { code: number }).code, 2);
    assert.match((unknown as { stderr: string }).stderr, /unknown projection "nope"/);
  });
});
