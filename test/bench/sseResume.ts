/**
 * SSE resume benchmark: a history of an hour of a fleet's window events (2,000 VMs × 5 keys a
 * minute, and the 5 cross-tenant windows, about 600,000 events) in a FileWindowHistory, a server
 * process (sseFanoutServer.ts, the real WindowEventFeed and GET /v1/stream/windows) that opens
 * it as after a restart, and N subscribers resuming from `Last-Event-ID: 0` at once (in worker
 * threads, sseSubscribers.ts) while live windows keep coming. Prints the server's RSS idle, its
 * peak while they read, and after they close (after a full GC), and the windows they read.
 * A script, not a test.
 *
 *   node dist/test/bench/sseResume.js [--clients 300] [--seconds 20] [--paused]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { FileWindowHistory } from '../../src/adapters/windowHistory/FileWindowHistory';
import { WindowEventFeed } from '../../streams/WindowEventFeed';
import { askChild } from './askChild';
import type { SubscriberWork } from './sseSubscribers';
import type { EmitReport, EmitRequest } from './sseFanoutServer';

export interface SseResumeOptions {
  clients: number;
  /** How long the subscribers read before they all close. */
  seconds: number;
  /** Subscribers that send the request and then read nothing. */
  paused: boolean;
  vms: number;
  keys: number;
  minutes: number;
}

export interface SseResumeResult {
  events: number;
  idleRssMb: number;
  peakRssMb: number;
  afterRssMb: number;
  /** 5 s later, after another GC. */
  settledRssMb: number;
  afterHeapUsedMb: number;
  afterHeapTotalMb: number;
  afterExternalMb: number;
  /** Windows read, summed over the subscribers, and by the slowest one. */
  delivered: number;
  slowest: number;
  /** Windows read by the subscriber at the 10th percentile and the median. */
  p10: number;
  median: number;
  overflows: number;
  /** The server's CPU time (user + system) while they read. */
  cpuSeconds: number;
  peakClientBufferedBytes: number;
  clientsAfter: number;
  subscribersAfter: number;
}

interface ServerStats {
  clients: number;
  heapTotalMb: number;
  externalMb: number;
  cpuMs: number;
  rssMb: number;
  peakRssMb: number;
  heapUsedMb: number;
  subscribers: number;
  overflows: number;
  peakClientBufferedBytes: number;
}

/** Writes the history: per minute, every VM's window of every key, then the cross-tenant ones; ids spread over the last hour. */
export async function buildHistory(dir: string, { vms, keys, minutes }: Pick<SseResumeOptions, 'vms' | 'keys' | 'minutes'>): Promise<number> {
  const store = await FileWindowHistory.open(dir, { sync: 'close' });
  const perMinute = vms * keys + keys;
  const total = perMinute * minutes;
  const end = Date.now() - 60_000;
  const start = end - minutes * 60_000;
  let n = 0;
  const feed = await WindowEventFeed.open({ store, retentionHours: 24, flushIntervalMs: 3_600_000, clock: () => start + (n * (end - start)) / total });
  const windowStart0 = Math.floor(start / 60_000) * 60 - 120;
  for (let m = 0; m < minutes; m++) {
    const windowStart = windowStart0 + 60 * m;
    for (let k = 0; k < keys; k++) {
      const key = `win_counter${k}.percent_processor_time`;
      for (let v = 0; v < vms; v++, n++) {
        const value = (v * 7 + k * 13 + m) % 100;
        feed.record(key, `T${Math.floor(v / 10)}+wYAVC3oWQU/ozhgAAg5f==637841132085596403`, `Shared${v % 10}/fk6h+aYw==63784`, windowStart, 1, value, value, value, 1);
      }
      feed.record(key, undefined, undefined, windowStart, vms, 49.5 * vms, 0, 99, 1);
      n++;
      await feed.keepUp();
    }
  }
  await feed.close();
  return n;
}

const isStats = (m: unknown): m is ServerStats => typeof (m as { peakRssMb?: unknown }).peakRssMb === 'number';
const stats = (child: ChildProcess, gc = false): Promise<ServerStats> => askChild(child, { stats: true, gc }, isStats);

export async function runSseResume(options: SseResumeOptions): Promise<SseResumeResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'opsfold-sse-resume-'));
  let child: ChildProcess | undefined;
  try {
    const events = await buildHistory(dir, options);
    child = fork(path.join(__dirname, 'sseFanoutServer.js'), [dir], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const [{ port }] = (await once(child, 'message')) as [{ port: number }];
    const idle = await stats(child, true);
    const watching = await stats(child);
    await askChild(child, { watch: true }, (m): m is unknown => (m as { watching?: boolean }).watching === true);
    const { clients, seconds, paused } = options;
    const threads = Math.max(2, os.cpus().length - 1);
    const counts = new SharedArrayBuffer(clients * Float64Array.BYTES_PER_ELEMENT);
    const workers = Array.from({ length: threads }, (_, t) => {
      const work: SubscriberWork = {
        port, from: Math.floor((t * clients) / threads), to: Math.floor(((t + 1) * clients) / threads), windows: 1, arrivals: counts, lastEventId: '0', paused,
      };
      return new Worker(path.join(__dirname, 'sseSubscribers.js'), { workerData: work });
    });
    await Promise.all(workers.map((w) => once(w, 'message')));
    for (const w of workers) w.postMessage('request');
    // Live traffic meanwhile: the fleet's 10,005 windows a minute, in bursts every 100 ms.
    const live: EmitRequest = { emit: Math.round(seconds * 167), burst: 17, intervalMs: 100 };
    const emitted = askChild(child, live, (m): m is EmitReport => Array.isArray((m as { emittedAtNs?: unknown }).emittedAtNs));
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const during = await stats(child);
    await Promise.all(workers.map((w) => {
      w.postMessage('stop');
      return once(w, 'exit');
    }));
    await emitted;
    let after = await stats(child, true);
    for (let i = 0; i < 100 && after.clients > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await stats(child, true);
    }
    // V8 gives back the young generation it grew under load once allocation has been quiet for a while.
    await new Promise((r) => setTimeout(r, 5000));
    const settled = await stats(child, true);
    const cpuMs = during.cpuMs - watching.cpuMs;
    const read = Array.from(new Float64Array(counts)).sort((a, b) => a - b);
    return {
      events, idleRssMb: idle.rssMb, peakRssMb: during.peakRssMb, afterRssMb: after.rssMb, settledRssMb: settled.rssMb, afterHeapUsedMb: after.heapUsedMb, afterHeapTotalMb: after.heapTotalMb, afterExternalMb: after.externalMb,
      delivered: read.reduce((a, b) => a + b, 0), slowest: read[0], p10: read[Math.floor(read.length / 10)], median: read[Math.floor(read.length / 2)], overflows: after.overflows,
      cpuSeconds: cpuMs / 1000,
      peakClientBufferedBytes: after.peakClientBufferedBytes, clientsAfter: after.clients, subscribersAfter: after.subscribers,
    };
  } finally {
    if (child) {
      child.send({ stop: true });
      await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill();
    }
    await rm(dir, { recursive: true, force: true });
  }
}

const f = (x: number, d = 1): string => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const count = (x: number): string => x.toLocaleString('en-US');

export function printSseResume(o: SseResumeOptions, r: SseResumeResult): void {
  console.log(`${count(o.clients)} subscribers ${o.paused ? 'not reading' : 'reading'} for ${o.seconds} s, resuming from Last-Event-ID: 0 over a history of ${count(r.events)} events ` +
    `(${count(o.vms)} VMs × ${o.keys} keys × ${o.minutes} minutes), live windows meanwhile`);
  console.log(`  windows read: ${count(r.delivered)} in all, ${count(r.slowest)} by the slowest subscriber (10th percentile ${count(r.p10)}, median ${count(r.median)}); ${r.overflows} overflows; most bytes waiting for one client ${count(r.peakClientBufferedBytes)}; ` +
    `server CPU ${f(r.cpuSeconds)} s${r.delivered > 0 ? ` (${f((1e6 * r.cpuSeconds) / r.delivered, 2)} ms per 1,000 windows read)` : ''}`);
  console.log(`  server RSS: ${f(r.idleRssMb)} MB idle, ${f(r.peakRssMb)} MB peak while they read, ${f(r.afterRssMb)} MB after they closed (after a GC; V8 heap ${f(r.afterHeapUsedMb)} MB used of ${f(r.afterHeapTotalMb)}, ` +
    `external ${f(r.afterExternalMb)} MB), ${f(r.settledRssMb)} MB 5 s later (after a GC); ` +
    `clients then ${r.clientsAfter}, feed subscribers ${r.subscribersAfter}`);
}

/** The resume part of `npm run bench`: 300 subscribers from id 0 over an hour of 2,000 VMs × 5 keys, reading, then not reading. */
export async function runSseResumeBench(): Promise<void> {
  console.log();
  console.log('SSE resume, 300 subscribers of GET /v1/stream/windows with Last-Event-ID: 0 (server in a child process; subscribers in worker threads)');
  for (const paused of [false, true]) {
    const options: SseResumeOptions = { clients: 300, seconds: 20, paused, vms: 2000, keys: 5, minutes: 60 };
    printSseResume(options, await runSseResume(options));
  }
}

function parseArgs(argv: string[]): SseResumeOptions {
  const value = (name: string, fallback: number): number => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? Number(argv[i + 1]) : fallback;
  };
  return { clients: value('clients', 300), seconds: value('seconds', 20), paused: argv.includes('--paused'), vms: value('vms', 2000), keys: value('keys', 5), minutes: value('minutes', 60) };
}

if (require.main === module) {
  const options = parseArgs(process.argv.slice(2));
  runSseResume(options).then((r) => printSseResume(options, r)).catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
