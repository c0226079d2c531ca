/**
 * SSE fan-out benchmark: N subscribers of GET /v1/stream/windows on loopback, a server process
 * (sseFanoutServer.ts) emitting windows in bursts; prints the latency from a window's emission
 * to its arrival at each subscriber (p50, p99, max) and the server's memory. The subscribers
 * read in worker threads (sseSubscribers.ts). A script, not a test.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { askChild } from './askChild';
import type { SubscriberWork } from './sseSubscribers';
import type { EmitReport, EmitRequest } from './sseFanoutServer';
import { quantileOfSorted } from './sortedQuantile';

export interface SseFanoutOptions {
  clients: number;
  /** Windows emitted first and not measured (JIT and buffers warming up). */
  warmup: number;
  windows: number;
  burst: number;
  burstIntervalMs: number;
}

/** Steady traffic to every subscriber: 200 windows a second, in bursts of 20 every 100 ms. */
export const STEADY: SseFanoutOptions = { clients: 1000, warmup: 200, windows: 3000, burst: 20, burstIntervalMs: 100 };
/** A minute boundary of the simulator's fleet (100 VM windows + 5 keys) closing at once, ten times. */
export const MINUTE_CLOSE: SseFanoutOptions = { clients: 1000, warmup: 105, windows: 1050, burst: 105, burstIntervalMs: 1000 };

export interface SseFanoutResult {
  clients: number;
  windows: number;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  missing: number;
  serverRssIdleMb: number;
  serverRssConnectedMb: number;
  serverRssPeakMb: number;
  overflows: number;
  /** Per burst, emission → the server's last write of it: p50 and max. */
  fanOutP50Ms: number;
  fanOutMaxMs: number;
  readerThreads: number;
}

export const SSE_TARGET_P99_MS = 50;

export async function runSseFanout({ clients, warmup, windows, burst, burstIntervalMs }: SseFanoutOptions): Promise<SseFanoutResult> {
  const child = fork(path.join(__dirname, 'sseFanoutServer.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const { port } = await askChild(child, undefined, (m): m is { port: number } => typeof (m as { port?: unknown }).port === 'number');
    const isStats = (m: unknown): m is { clients: number; rssMb: number } => typeof (m as { rssMb?: unknown }).rssMb === 'number';
    const idle = await askChild(child, { stats: true }, isStats);
    const threads = Math.max(2, os.cpus().length - 1); // reading is spread; the server keeps its own process
    const shared = new SharedArrayBuffer(clients * windows * Float64Array.BYTES_PER_ELEMENT);
    const arrivals = new Float64Array(shared).fill(NaN);
    const workers = Array.from({ length: threads }, (_, t) => {
      const work: SubscriberWork = { port, from: Math.floor((t * clients) / threads), to: Math.floor(((t + 1) * clients) / threads), windows, arrivals: shared };
      return new Worker(path.join(__dirname, 'sseSubscribers.js'), { workerData: work });
    });
    await Promise.all(workers.map((w) => once(w, 'message')));
    let connected = await askChild(child, { stats: true }, isStats);
    for (let i = 0; i < 100 && connected.clients < clients; i++) {
      await new Promise((r) => setTimeout(r, 50));
      connected = await askChild(child, { stats: true }, isStats);
    }
    const request: EmitRequest = { emit: windows, burst, intervalMs: burstIntervalMs };
    const report = await askChild(child, request, (m): m is EmitReport => Array.isArray((m as { emittedAtNs?: unknown }).emittedAtNs));
    const latencies = new Float64Array(clients * (windows - warmup));
    const emitted = report.emittedAtNs.map((ns) => Number(BigInt(ns)) / 1e6);
    let n = 0;
    let missing = 0;
    for (let c = 0; c < clients; c++) {
      for (let i = warmup; i < windows; i++) {
        const at = arrivals[c * windows + i];
        if (Number.isNaN(at)) missing++;
        else latencies[n++] = at - emitted[i];
      }
    }
    const sorted = latencies.subarray(0, n).sort();
    const fanOut = Float64Array.from(report.fanOutMs.slice(Math.ceil(warmup / burst))).sort();
    await Promise.all(workers.map((w) => {
      w.postMessage('stop');
      return once(w, 'exit');
    }));
    return {
      clients, windows, samples: n, p50Ms: quantileOfSorted(sorted, 0.5), p99Ms: quantileOfSorted(sorted, 0.99), maxMs: sorted[n - 1] ?? NaN, missing,
      serverRssIdleMb: idle.rssMb, serverRssConnectedMb: connected.rssMb, serverRssPeakMb: report.rssPeakMb, overflows: report.overflows,
      fanOutP50Ms: quantileOfSorted(fanOut, 0.5), fanOutMaxMs: fanOut[fanOut.length - 1] ?? NaN, readerThreads: threads,
    };
  } finally {
    child.send({ stop: true });
    await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 2000))]);
    if (child.exitCode === null) child.kill();
  }
}

const f = (x: number, d = 1): string => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const count = (x: number): string => x.toLocaleString('en-US');

export function printSseFanout(name: string, o: SseFanoutOptions, r: SseFanoutResult): void {
  console.log(`${name}: ${count(o.windows - o.warmup)} windows (after ${count(o.warmup)} to warm up) in bursts of ${o.burst} every ${o.burstIntervalMs} ms to ${count(r.clients)} subscribers ` +
    `(${count(r.samples)} deliveries, ${r.missing} missing, ${r.overflows} overflows)`);
  console.log(`  emitted → received: p50 ${f(r.p50Ms, 2)} ms, p99 ${f(r.p99Ms, 2)} ms, max ${f(r.maxMs, 2)} ms` +
    ` (the server's last write of a burst: p50 ${f(r.fanOutP50Ms, 2)} ms, max ${f(r.fanOutMaxMs, 2)} ms after its emission)`);
  console.log(`  server RSS: ${f(r.serverRssIdleMb)} MB idle, ${f(r.serverRssConnectedMb)} MB with the subscribers connected, ${f(r.serverRssPeakMb)} MB peak while emitting`);
}

/**
 * The SSE part of `npm run bench`: 1,000 subscribers of GET /v1/stream/windows on loopback,
 * the server in its own process, the subscribers read in worker threads of this one.
 */
export async function runSseBench(): Promise<void> {
  console.log();
  console.log(`SSE fan-out, 1,000 subscribers of GET /v1/stream/windows on loopback (server in a child process; subscribers read in ${Math.max(2, os.cpus().length - 1)} worker threads)`);
  const steady = await runSseFanout(STEADY);
  printSseFanout('steady', STEADY, steady);
  const minute = await runSseFanout(MINUTE_CLOSE);
  printSseFanout('minute close', MINUTE_CLOSE, minute);
  const met = steady.p99Ms < SSE_TARGET_P99_MS && steady.missing === 0;
  console.log(`target: steady p99 < ${SSE_TARGET_P99_MS} ms — ${met ? 'MET' : 'NOT MET'} (${f(steady.p99Ms, 2)} ms); minute close p99 ${f(minute.p99Ms, 2)} ms` +
    ` — ${minute.p99Ms < SSE_TARGET_P99_MS ? 'under' : 'over'} the target (informational)`);
}

if (require.main === module) {
  runSseBench().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
