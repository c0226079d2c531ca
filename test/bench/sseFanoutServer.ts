/**
 * The server side of the SSE fan-out benchmark, run in its own process so its CPU and memory
 * are its own: the real WindowEventFeed (in-memory tables) and GET /v1/stream/windows.
 * Driven over IPC by sseFanout.ts: `{ emit, burst, intervalMs }` emits windows in bursts and
 * answers with each window's emission time (process.hrtime, shared by processes on one machine).
 * With a directory as its argument (sseResume.ts), the history is that FileWindowHistory, as
 * beside the file log; `{ watch: true }` then samples RSS until `{ stats: true }` reports its peak
 * (after a full GC with `gc: true`; run with --expose-gc).
 */
import { Subject } from 'rxjs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/adapters/http/createApp';
import { createWindowStream } from '../../src/adapters/http/streamRoutes';
import type { WindowEvent } from '../../src/core/windowMath';
import { WindowEventFeed } from '../../streams/WindowEventFeed';
import { TableWindowHistory } from '../../src/adapters/windowHistory/TableWindowHistory';
import { FileWindowHistory } from '../../src/adapters/windowHistory/FileWindowHistory';
import { MemoryTableStore } from '../support/memoryTableStore';

export interface EmitRequest {
  emit: number;
  burst: number;
  intervalMs: number;
}

export interface EmitReport {
  /** Emission time (hrtime ns, as a string) of window i, whose windowStart is i * 60. */
  emittedAtNs: string[];
  rssBeforeMb: number;
  rssPeakMb: number;
  heapUsedMb: number;
  clients: number;
  overflows: number;
  /** Per burst: from the emission of its first window to the server's last write of it (every subscriber's). */
  fanOutMs: number[];
}

const mb = (bytes: number): number => bytes / (1024 * 1024);

async function main(): Promise<void> {
  const windows$ = new Subject<WindowEvent>();
  const historyDir = process.argv[2];
  const store = historyDir ? await FileWindowHistory.open(historyDir) : new TableWindowHistory(new MemoryTableStore(), 'bench', 1);
  const feed = await WindowEventFeed.open({ windows$, store, retentionHours: 24, flushIntervalMs: 1000 });
  const stream = createWindowStream({ source: feed, heartbeatMs: 15_000, maxBufferedBytes: 4 * 1024 * 1024 });
  const unused = async () => {
    throw new Error('not in the benchmark');
  };
  const app = createApp({ ingest: unused, minuteTable: unused, vmMinuteTable: unused, catalog: unused, rejects: unused, health: () => ({}), metricsText: () => '', windowStream: stream });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  server.maxConnections = 100_000;
  process.send?.({ port: (server.address() as AddressInfo).port });

  let watchedPeak = 0;
  let watcher: NodeJS.Timeout | undefined;
  process.on('message', async (message: EmitRequest | { stop: true } | { stats: true; gc?: boolean } | { watch: true }) => {
    if ('watch' in message) {
      watchedPeak = process.memoryUsage().rss;
      watcher = setInterval(() => (watchedPeak = Math.max(watchedPeak, process.memoryUsage().rss)), 10);
      process.send?.({ watching: true });
      return;
    }
    if ('stop' in message) {
      stream.close();
      server.closeAllConnections();
      server.close();
      await feed.close();
      process.exit(0);
    }
    if ('stats' in message) {
      if (watcher) clearInterval(watcher);
      watcher = undefined;
      if (message.gc) for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
      const m = process.memoryUsage();
      const s = stream.stats();
      process.send?.({
        clients: s.clients, rssMb: mb(m.rss), cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000, peakRssMb: mb(Math.max(watchedPeak, m.rss)), heapUsedMb: mb(m.heapUsed), heapTotalMb: mb(m.heapTotal), externalMb: mb(m.external), arrayBuffersMb: mb(m.arrayBuffers),
        subscribers: feed.stats.subscribers, overflows: s.overflows, peakClientBufferedBytes: s.peakClientBufferedBytes,
      });
      return;
    }
    const emittedAtNs: string[] = [];
    // Subscribed after every client, so it is handed each burst after all their writes.
    const writtenAtNs = new Map<number, bigint>();
    const stopProbe = feed.subscribe({}, { next: (entries) => writtenAtNs.set(entries[0].window.windowStart / 60, process.hrtime.bigint()), error: () => undefined });
    const rssBeforeMb = mb(process.memoryUsage().rss);
    let rssPeak = process.memoryUsage().rss;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 5);
    for (let i = 0; i < message.emit; ) {
      for (let j = 0; j < message.burst && i < message.emit; j++, i++) {
        emittedAtNs[i] = String(process.hrtime.bigint());
        windows$.next({ key: 'win_cpu.percent_processor_time', tenant: 'T0+bench/0==', vm: `Shared0vm${i % 10}/bench=`, windowStart: i * 60, count: 25, sum: 25 * i, min: 0, max: 2 * i, avg: i, revision: 1 });
      }
      await new Promise((resolve) => setTimeout(resolve, message.intervalMs));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    clearInterval(sampler);
    stopProbe();
    const fanOutMs = [...writtenAtNs].map(([first, at]) => Number(at - BigInt(emittedAtNs[first])) / 1e6);
    const report: EmitReport = {
      emittedAtNs, rssBeforeMb, rssPeakMb: mb(Math.max(rssPeak, process.memoryUsage().rss)), heapUsedMb: mb(process.memoryUsage().heapUsed),
      clients: stream.stats().clients, overflows: stream.stats().overflows, fanOutMs,
    };
    process.send?.(report);
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
