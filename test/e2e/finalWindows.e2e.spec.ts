import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StreamedWindowEvent } from '../../src/core/windowStream';
import { eventually } from '../support/eventually';
import { health, killServiceProcesses, startServiceProcess, stopServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { SseClient } from '../support/sseClient';

/** Short settings, so that windows become final within the test: 10 s of out-of-order tolerance, 2 minutes of allowed lateness. */
const OUT_OF_ORDER = 10;
const LATENESS = 120;
/** A flush (and checkpoint) a second: a crash soon after windows became final comes before the checkpoint that records it. */
const ENV = { WINDOW_OUT_OF_ORDER_SECONDS: String(OUT_OF_ORDER), WINDOW_ALLOWED_LATENESS_SECONDS: String(LATENESS), OPSFOLD_FLUSH_INTERVAL_MS: '1000' };

const K1 = 'win_cpu.percent_processor_time';
const K2 = 'win_mem.available_mb';
/** Tenants and their VMs (ids with `/`, `+`, `=`, `#` and a space). C's SPOC batches arrive minutes late. */
const FLEET: Record<string, string[]> = { 'tenant/A+==': ['vm/1', 'vm+2'], 'tenant#B': ['vm/1'], 'tenant C=': ['vm/1', 'vm/3'] };
const [A, B, C] = Object.keys(FLEET);
/** Fifty minutes ago, a minute start: old enough for every batch, new enough for the final windows' history (24 h). */
const BASE = Math.floor(Date.now() / 60_000) * 60 - 50 * 60;
const q = encodeURIComponent;

interface Sent {
  tenant: string;
  vm: string;
  key: string;
  t: number;
  value: number;
}

/** One tenant's SPOC batch: each VM, each key, each minute of [from, to]; two samples in minutes divisible by 3. Integer values: sums are exact. */
function batch(tenant: string, from: number, to: number): Sent[] {
  const out: Sent[] = [];
  for (let m = from; m <= to; m++) {
    FLEET[tenant].forEach((vm, v) => [K1, K2].forEach((key, k) => {
      for (let s = 0; s < (m % 3 === 0 ? 2 : 1); s++) {
        out.push({ tenant, vm, key, t: BASE + m * 60 + 5 + 10 * v + 20 * s, value: ((m * 7 + v * 13 + k * 29 + s * 3 + tenant.length * 11) % 97) + 1 });
      }
    }));
  }
  return out;
}

/** A window's identity and figures, as the test computes them and as the service sends them. */
interface Window {
  id: string;
  key: string;
  tenant?: string;
  vm?: string;
  windowStart: number;
  count: number;
  sum: number;
  min: number;
  max: number;
}

const idOf = (w: { key: string; tenant?: string; vm?: string; windowStart: number }): string => JSON.stringify([w.key, w.tenant ?? null, w.vm ?? null, w.windowStart]);

/**
 * The fold of DESIGN.md §2 and §8, computed here from what was sent, message by message (one
 * message, one log record): a metric whose window ended by (watermark before it − lateness) is
 * late; the watermark is the newest event time minus the tolerance; a window is final once it
 * ends by watermark − lateness.
 */
class Reference {
  maxT = -Infinity;
  readonly windows = new Map<string, Window>();

  take(metrics: readonly Sent[]): void {
    const lateBound = this.watermark - LATENESS;
    for (const m of metrics) {
      const windowStart = Math.floor(m.t / 60) * 60;
      if (windowStart + 60 <= lateBound) continue;
      this.add({ key: m.key, windowStart }, m.value);
      this.add({ key: m.key, tenant: m.tenant, vm: m.vm, windowStart }, m.value);
    }
    for (const m of metrics) this.maxT = Math.max(this.maxT, m.t);
  }

  get watermark(): number {
    return this.maxT - OUT_OF_ORDER;
  }

  get finalThrough(): number {
    return this.watermark - LATENESS;
  }

  isFinal(windowStart: number): boolean {
    return windowStart + 60 <= this.finalThrough;
  }

  /** The final windows, by id. */
  finals(): Map<string, Window> {
    return new Map([...this.windows].filter(([, w]) => this.isFinal(w.windowStart)));
  }

  private add(at: { key: string; tenant?: string; vm?: string; windowStart: number }, value: number): void {
    const id = idOf(at);
    const w = this.windows.get(id) ?? { id, ...at, count: 0, sum: 0, min: Infinity, max: -Infinity };
    this.windows.set(id, w);
    w.count++;
    w.sum += value;
    w.min = Math.min(w.min, value);
    w.max = Math.max(w.max, value);
  }
}

describe('a staggered fleet: which windows are final, and each sent once when final', () => {
  let dir: string;
  let dataDir: string;
  let service: ServiceProcess;
  const reference = new Reference();
  /** Every final event received, over every connection of the emit=final stream. */
  const finals: StreamedWindowEvent[] = [];
  let finalStream: SseClient;
  let changes: SseClient;

  const post = async (metrics: Sent[]): Promise<void> => {
    const body = JSON.stringify({
      metrics: metrics.map((m) => {
        const dot = m.key.indexOf('.');
        return { timestamp: m.t, MaskedTenantId: m.tenant, MaskedVMName: m.vm, PerfType: m.key.slice(0, dot), PerfName: m.key.slice(dot + 1), PerfValue: m.value };
      }),
    });
    const res = await fetch(`${service.base}/v1/spoc`, { method: 'POST', body });
    assert.equal(res.status, 202, await res.text());
    reference.take(metrics);
  };
  const getJson = async (path: string): Promise<any> => {
    const res = await fetch(`${service.base}${path}`);
    assert.equal(res.status, 200, path);
    return res.json();
  };
  /** The final events received so far, checked to be once each. */
  const receivedFinals = (): Map<string, StreamedWindowEvent> => {
    const out = new Map<string, StreamedWindowEvent>();
    for (const w of [...finals, ...finalStream.windows()]) {
      assert.ok(!out.has(idOf(w)), `${idOf(w)} was sent final twice`);
      out.set(idOf(w), w);
    }
    return out;
  };

  /**
   * Waits until the service has folded and checkpointed everything sent (its watermark is the
   * reference's and no byte of the log is left), and until the final stream has sent every window
   * the reference says is final; then checks the buckets' `final` and figures, and the events.
   */
  const checkStep = async (what: string): Promise<void> => {
    await eventually(`${what}: folded and checkpointed`, async () => {
      const { projector } = (await health(service.base)).body as unknown as { projector: { watermark: number | null; finalThrough: number | null; consumerLagBytes: Record<string, number> } };
      return projector.watermark === reference.watermark && projector.finalThrough === reference.finalThrough && projector.consumerLagBytes.windows === 0;
    }, 60_000);
    const expected = reference.finals();
    // Waited for; if some never come, the comparison below names them.
    await eventually(`${what}: the final windows sent`, () => receivedFinals().size >= expected.size, 30_000).catch(() => undefined);

    // Each final window once, with its last values; nothing that is not final.
    const received = receivedFinals();
    assert.deepEqual([...received.keys()].sort(), [...expected.keys()].sort(), `${what}: the windows sent final`);
    for (const [id, w] of received) {
      const e = expected.get(id)!;
      assert.deepEqual([w.count, w.sum, w.min, w.max, w.avg, w.final], [e.count, e.sum, e.min, e.max, e.sum / e.count, true], `${what}: ${id}`);
    }

    // The buckets, once the windows still open have closed (idle, within a second) and are written: the final bound does not move meanwhile.
    const end = BASE + 39 * 60;
    const urls: [string, unknown[]][] = [];
    for (const key of [K1, K2]) {
      for (const interval of [1, 5]) {
        urls.push([`/v1/get-data?key=${q(key)}&minutes=40&to=${end}&aggregationInterval=${interval}`,
          bucketsOf([...reference.windows.values()].filter((w) => w.key === key && w.tenant === undefined), interval, end)]);
      }
      for (const [tenant, vm] of [[C, FLEET[C][1]], [A, FLEET[A][0]]]) {
        urls.push([`/v1/get-tenant-data?key=${q(key)}&tenant=${q(tenant)}&vm=${q(vm)}&minutes=40&to=${end}&aggregationInterval=5`,
          bucketsOf([...reference.windows.values()].filter((w) => w.key === key && w.tenant === tenant && w.vm === vm), 5, end)]);
      }
    }
    let last = '';
    await eventually(`${what}: the buckets as the reference says`, async () => {
      for (const [url, expectedBuckets] of urls) {
        const actual = (await getJson(url)).data.map((b: any) => [b.timestamp, b.count, b.windows, b.low, b.high, b.final]);
        if (JSON.stringify(actual) !== JSON.stringify(expectedBuckets)) {
          last = `${url}\n  service:   ${JSON.stringify(actual)}\n  reference: ${JSON.stringify(expectedBuckets)}`;
          return false;
        }
      }
      return true;
    }, 30_000).catch((error: Error) => assert.fail(`${error.message}; last difference: ${last}`));
    const health2 = (await health(service.base)).body as unknown as { projector: { finalThrough: number } };
    assert.equal(health2.projector.finalThrough, reference.finalThrough, `${what}: the final bound did not move`);
  };

  /** The buckets the reference's windows make: [timestamp, count, windows, low, high, final (each minute of it in the range final)]. */
  function bucketsOf(windows: readonly Window[], interval: number, end: number): unknown[] {
    const buckets = new Map<number, Window[]>();
    for (const w of windows) {
      const t = Math.floor(w.windowStart / (interval * 60)) * interval * 60;
      buckets.set(t, [...(buckets.get(t) ?? []), w]);
    }
    return [...buckets].sort(([a], [b]) => a - b).map(([t, ws]) => {
      const minutes = Array.from({ length: interval }, (_, i) => t + i * 60).filter((m) => m <= end);
      return [t, ws.reduce((n, w) => n + w.count, 0), ws.length, Math.min(...ws.map((w) => w.min)), Math.max(...ws.map((w) => w.max)), minutes.every((m) => reference.isFinal(m))];
    });
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-final-'));
    dataDir = join(dir, 'data');
    service = await startServiceProcess(dataDir, { env: ENV });
    finalStream = await SseClient.connect(`${service.base}/v1/stream/windows?emit=final`);
    changes = await SseClient.connect(`${service.base}/v1/stream/windows`);
    assert.equal(finalStream.status, 200);
  });

  after(async () => {
    finalStream?.close();
    changes?.close();
    await killServiceProcesses();
    await rm(dir, { recursive: true, force: true });
  });

  it('A and B report on time, C minutes late: at each step the buckets say exactly which are final, and the stream has sent exactly those', async () => {
    await post(batch(A, 0, 4));
    await post(batch(B, 0, 4));
    await checkStep('A and B, minutes 0-4');
    await post(batch(A, 5, 9));
    await post(batch(B, 5, 9));
    await checkStep('A and B, minutes 5-9');
    // C's batch of minutes 2-9 arrives now: the first minutes are too late (the late ledger), the others revise closed windows.
    const lateBound = reference.finalThrough;
    await post(batch(C, 2, 9));
    assert.ok(lateBound > BASE + 3 * 60 && lateBound < BASE + 8 * 60, 'some of C\'s minutes are too late, some are not');
    await checkStep('C late, minutes 2-9');
    await post(batch(A, 10, 14));
    await post(batch(B, 10, 14));
    await checkStep('A and B, minutes 10-14');

    // The default stream meanwhile: one event per revision, none of them final, none twice.
    const revisions = changes.windows();
    assert.ok(revisions.length > 0);
    assert.ok(revisions.every((w) => w.final === false));
    assert.equal(new Set(revisions.map((w) => `${idOf(w)}#${w.revision}`)).size, revisions.length, 'no revision sent twice');
    const lastRevision = new Map(revisions.map((w) => [idOf(w), w.revision]));
    for (const w of receivedFinals().values()) assert.equal(w.revision, lastRevision.get(idOf(w)), `${idOf(w)}: the final event repeats its last revision`);
    const late = (await getJson(`/v1/late?key=${q(K1)}`)) as { late: unknown[] };
    assert.ok(late.late.length > 0, 'C\'s first minutes went to the late ledger');
  });

  it('kill -9 just after windows became final, a restart, the stream resumed with Last-Event-ID: nothing sent twice, nothing lost', async () => {
    // C's next batch closes windows that are not final yet; after the restart no metric of C's comes, so only their blocks
    // read back tell them final. A's next minutes make more windows final, and the crash comes as soon as the stream has sent
    // them (told, before the checkpoint that records it).
    await post(batch(C, 10, 14));
    await checkStep('C, minutes 10-14');
    await post(batch(A, 15, 16));
    await eventually('the newly final windows sent', () => receivedFinals().size === reference.finals().size, 30_000);
    finals.push(...finalStream.windows());
    const lastEventId = finalStream.lastEventId!;
    finalStream.close();
    changes.close();
    await stopServiceProcess(service, 'SIGKILL');
    service = await startServiceProcess(dataDir, { env: ENV });
    finalStream = await SseClient.connect(`${service.base}/v1/stream/windows?emit=final`, { 'Last-Event-ID': lastEventId });
    await checkStep('after the restart');

    await post(batch(A, 17, 19));
    await post(batch(B, 15, 19));
    await checkStep('A and B, minutes 15-19');
    // A's report far ahead: every window up to minute 26 is final.
    await post([{ tenant: A, vm: FLEET[A][0], key: K1, t: BASE + 30 * 60, value: 1 }]);
    await checkStep('A at minute 30');
    assert.ok(reference.finals().size > 100, `${reference.finals().size} final windows`);

    // From the start of the history: every final window once, in id order, as the live stream sent them.
    const replay = await SseClient.connect(`${service.base}/v1/stream/windows?emit=final`, { 'Last-Event-ID': '1' });
    try {
      await replay.until((c) => c.windowCount >= reference.finals().size, 30_000);
      assert.equal(replay.frames[0].event, 'truncated');
      const ids = replay.windows().map((w) => w.id);
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
      const live = new Map([...receivedFinals().values()].map((w) => [w.id, w]));
      assert.deepEqual(replay.windows(), replay.windows().map((w) => live.get(w.id)), 'the same events, with the same ids');
      assert.equal(replay.windows().length, reference.finals().size);
    } finally {
      replay.close();
    }
    assert.equal((await stopServiceProcess(service)).code, 0, service.stderr());
  });
});
