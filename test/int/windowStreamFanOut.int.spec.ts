import type { AddressInfo, Socket } from 'node:net';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Subject } from 'rxjs';
import { createApp, type ApiDeps } from '../../src/adapters/http/createApp';
import { createWindowStream, type WindowStream } from '../../src/adapters/http/streamRoutes';
import { FileWindowHistory } from '../../src/adapters/windowHistory/FileWindowHistory';
import type { WindowEvent } from '../../src/core/windowMath';
import { WindowEventFeed } from '../../streams/WindowEventFeed';
import { eventually } from '../support/eventually';

const HOUR_MS = 3_600_000;
/** Events in the history: ~4 MB of frames, spread over 90 minutes of ids (two hour files, ~500 chunks). */
const HISTORY = 16_000;
const LIVE_BURSTS = 10;
const LIVE_BURST = 40;
const TOTAL = HISTORY + LIVE_BURSTS * LIVE_BURST;
const MAX_BUFFERED = 64 * 1024;
const MAX_CLIENTS = 50;
const TENANT = 'wYAVC3oWQU+ozhgAAg5f/w==637841132085596403';

/** Event i: its sum is i, so a client's windows in order are 0, 1, 2, … with nothing missing or twice. */
function window(i: number): WindowEvent {
  const v = i % 97;
  return { key: `win_counter${i % 5}.percent_processor_time`, tenant: TENANT, vm: `Shared${i % 50}/fk6h+aYw==63784`, windowStart: 1_700_000_000 + 60 * i, count: 2, sum: i, min: v, max: i, avg: i / 2, revision: 1 };
}

/**
 * A raw HTTP/1.1 SSE client that checks as it reads: every `window` event's sum is the next
 * index and its id is above the last one. Starts paused when told (it reads nothing until `resume`).
 */
class CheckingReader {
  status?: number;
  windows = 0;
  problems: string[] = [];
  ended = false;
  readonly socket: Socket;
  private head = '';
  private body = '';
  private lastId = 0;

  constructor(port: number, paused: boolean) {
    this.socket = connect(port, '127.0.0.1', () => {
      this.socket.write('GET /v1/stream/windows HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: 0\r\n\r\n');
    });
    this.socket.setEncoding('utf8');
    if (paused) this.socket.pause();
    this.socket.on('data', (text: string) => this.read(text));
    this.socket.on('close', () => (this.ended = true));
    this.socket.on('error', () => undefined);
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.destroy();
  }

  private read(text: string): void {
    if (this.status === undefined) {
      this.head += text;
      const end = this.head.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.status = Number(this.head.split(' ')[1]);
      text = this.head.slice(end + 4);
    }
    this.body += text;
    let end: number;
    let from = 0;
    while ((end = this.body.indexOf('\n\n', from)) >= 0) {
      this.frame(this.body.slice(from, end));
      from = end + 2;
    }
    this.body = this.body.slice(from);
  }

  private frame(text: string): void {
    const lines = text.split('\n');
    if (!lines.includes('event: window')) return;
    const id = Number(lines.find((l) => l.startsWith('id: '))?.slice(4));
    const w = JSON.parse(lines.find((l) => l.startsWith('data: '))!.slice(6)) as WindowEvent & { id: number };
    if (w.id !== id) this.problems.push(`frame id ${id} carries event id ${w.id}`);
    if (!(id > this.lastId)) this.problems.push(`id ${id} after ${this.lastId}`);
    if (w.sum !== this.windows) this.problems.push(`window ${w.sum} where ${this.windows} was due`);
    this.lastId = id;
    this.windows++;
  }
}

describe('GET /v1/stream/windows: many clients resuming from the start of a long history', () => {
  let dir: string;
  let windows$: Subject<WindowEvent>;
  let feed: WindowEventFeed;
  let stream: WindowStream;
  let server: Server;
  let port: number;
  const serverSockets: Socket[] = [];
  let maxWaiting = 0;
  let sampler: NodeJS.Timeout;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-fanout-'));
    windows$ = new Subject<WindowEvent>();
    const clock = { ms: Date.now() - 2 * HOUR_MS };
    feed = await WindowEventFeed.open({ windows$, store: await FileWindowHistory.open(join(dir, 'history')), retentionHours: 24, flushIntervalMs: 100, clock: () => clock.ms });
    for (let i = 0; i < HISTORY; i++) {
      clock.ms += (90 * 60_000) / HISTORY;
      windows$.next(window(i));
      if (i % 2000 === 1999) await feed.flush();
    }
    await feed.flush();
    clock.ms = Date.now();
    stream = createWindowStream({ source: feed, heartbeatMs: 60_000, maxBufferedBytes: MAX_BUFFERED, maxClients: MAX_CLIENTS, overflowGraceMs: 60_000 });
    const unused = async () => {
      throw new Error('not in this test');
    };
    const deps: ApiDeps = { ingest: unused, minuteTable: unused, vmMinuteTable: unused, catalog: unused, rejects: unused, health: () => ({}), metricsText: () => '', windowStream: stream };
    server = await new Promise<Server>((resolve) => {
      const s = createApp(deps).listen(0, '127.0.0.1', () => resolve(s));
    });
    server.on('connection', (socket) => serverSockets.push(socket));
    port = (server.address() as AddressInfo).port;
    // What waits for any one client in the server, sampled while the test runs.
    sampler = setInterval(() => {
      for (const s of serverSockets) maxWaiting = Math.max(maxWaiting, s.writableLength);
    }, 2);
  });

  after(async () => {
    clearInterval(sampler);
    stream.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await feed.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(`${MAX_CLIENTS} clients resume from id 0 while live windows come: readers get every window once and in order, ` +
    'one more gets 503 with Retry-After, what waits for a client stays under the bound, and nothing is left once they close', async () => {
    // 30 read as fast as they can, 10 read nothing until the others are done, 10 never read.
    const fast = Array.from({ length: 30 }, () => new CheckingReader(port, false));
    const late = Array.from({ length: 10 }, () => new CheckingReader(port, true));
    const silent = Array.from({ length: 10 }, () => new CheckingReader(port, true));
    const all = [...fast, ...late, ...silent];
    await eventually('every client connected', () => stream.stats().clients === MAX_CLIENTS);

    const refused = await fetch(`http://127.0.0.1:${port}/v1/stream/windows`, { headers: { 'Last-Event-ID': '0' } });
    assert.equal(refused.status, 503);
    assert.match(refused.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'too_many_clients');
    assert.match(body.error.message, /50 clients/);
    assert.equal(stream.stats().rejected, 1);

    // Live windows in bursts, each once the fast readers are further into the history.
    for (let b = 0; b < LIVE_BURSTS; b++) {
      const due = ((b + 1) * HISTORY) / (LIVE_BURSTS + 1);
      await eventually(`the fast readers past window ${due}`, () => fast.every((c) => c.windows >= due), 120_000);
      for (let j = 0; j < LIVE_BURST; j++) windows$.next(window(HISTORY + b * LIVE_BURST + j));
    }
    await eventually('the fast readers have every window', () => fast.every((c) => c.windows === TOTAL), 120_000);
    for (const c of fast) assert.deepEqual(c.problems, []);

    // The clients that read nothing hold the server at the bound: their sockets are backed up, no further.
    const waitingFor = (c: CheckingReader) => serverSockets.find((s) => s.remotePort === c.socket.localPort)?.writableLength ?? 0;
    await eventually('the non-reading clients backed up in the server', () => [...late, ...silent].every((c) => waitingFor(c) > 0), 60_000);

    for (const c of late) c.resume();
    await eventually('the late readers have every window', () => late.every((c) => c.windows === TOTAL), 120_000);
    for (const c of late) assert.deepEqual(c.problems, []);
    for (const c of [...fast, ...late]) assert.equal(c.status, 200);

    assert.equal(stream.stats().overflows, 0, 'a resume is paced by its client, never cut');
    assert.ok(maxWaiting > 0 && maxWaiting <= MAX_BUFFERED, `at most ${maxWaiting} bytes waited for one client (bound ${MAX_BUFFERED})`);
    assert.ok(stream.stats().peakClientBufferedBytes <= MAX_BUFFERED, `peak ${stream.stats().peakClientBufferedBytes}`);

    for (const c of all) c.close();
    await eventually('every stream ended', () => stream.stats().clients === 0);
    await eventually('the feed holds no subscriber', () => feed.stats.subscribers === 0);
    assert.equal(feed.historySlices.size, 0, 'no shared history slices are kept');
    await eventually('every connection closed', () => new Promise<boolean>((resolve) => server.getConnections((_e, n) => resolve(n === 0))));

    // The cap counts clients connected now: a new one is served.
    const again = new CheckingReader(port, false);
    await eventually('a new client has the history', () => again.windows === TOTAL, 60_000);
    assert.deepEqual(again.problems, []);
    again.close();
    await eventually('its stream ended', () => stream.stats().clients === 0 && feed.stats.subscribers === 0);
  });
});
