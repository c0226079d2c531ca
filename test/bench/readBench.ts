/**
 * Read benchmark (a script, not a test: prints figures, asserts nothing):
 *
 *   node dist/test/bench/readBench.js [--duration 10] [--minutes 75]      (also the last part of `npm run bench`)
 *
 * A fleet of 200 tenants × 10 VMs × 5 keys, one metric a VM, key and minute over `--minutes` minutes
 * (750,000 metrics by default), is ingested with `opsfold ingest FILE`; then the service is started as
 * users start it (`opsfold start --port 0 --no-simulate`, its embedded Azurite, default settings), twice:
 * first with the read cache off (OPSFOLD_READ_CACHE_HOURS=0, OPSFOLD_READ_CACHE_VM_MINUTES=0: every read
 * goes to Table Storage; this run folds the log), then with it on, as after a restart (the cache starts
 * empty and reads each key's span in from the tables at its first read). Each run waits until the log is
 * folded, warms each route up, then drives it on loopback, from this process: at 1,000 requests/s
 * paced (a request due every millisecond, open loop, latency from when it was due: pacedLoad.ts), at
 * 1,000 requests/s as autocannon sends them (each connection's share in a burst at the start of each
 * second), then with autocannon as fast as 16 connections go (the most it sustains); top from the tables, which reads every VM's blocks, one request at a time. Routes: `/healthz` (the same run's baseline), get-data over 60 minutes,
 * get-tenant-data over 60 minutes, top over 15 minutes by avg and by p95 (the same ranges again and
 * again: the cache ranks each once per change of the key's windows), and top over 30 ranges a key (each
 * ranked anew); each request of a route takes the next of a list of keys (and VMs, or ends). Beside
 * each run, the service's own p99 of the route and its event-loop delay, from its /metrics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { simulateSpoc, simulatedKey } from '../../src/adapters/simulator/spocSimulator';
import { pacedLoad, type PacedResult } from './pacedLoad';
import { quantileOfSorted } from './sortedQuantile';

const BIN = path.resolve(__dirname, '../../../bin/opsfold.js');
const TENANTS = 200;
const VMS = 10;
const KEYS = 5;
const RATE = 1000;
const CONNECTIONS = 16;
/** VMs that get-tenant-data goes round. */
const VM_SAMPLE = 64;

interface AutocannonResult {
  latency: { p50: number; p99: number; max: number };
  requests: { total: number; average: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as Autocannon;

export interface RouteFigure {
  mode: string;
  route: string;
  load: string;
  p50: number;
  p99: number;
  /** The server's own time (its request-duration histogram): the bucket bound that 99% of the run's requests were under, ms. */
  serverP99: number;
  /** The service's event-loop delay over the run (prom-client's nodejs_eventloop_lag_p99/max_seconds), ms. */
  loopP99: number;
  loopMax: number;
  rate: number;
  failed: number;
}

export interface ReadBenchRun {
  metrics: number;
  figures: RouteFigure[];
  /** Reads the cache answered from memory and from the tables during the cached run's measurements. */
  cacheReads?: { memory: number; tables: number };
}

interface Running {
  child: ChildProcess;
  base: string;
}

function startService(dataDir: string, env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, [BIN, 'start', '--port', '0', '--no-simulate', '--data-dir', dataDir], {
    detached: true, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let text = '';
    child.stderr!.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /read API and dashboard on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (m) resolve({ child, base: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`the service exited (${code}) before it listened: ${text}`)));
  });
}

async function stopService(running: Running): Promise<void> {
  const exited = once(running.child, 'exit');
  process.kill(-running.child.pid!, 'SIGTERM');
  await exited;
}

async function json<T>(url: string): Promise<T> {
  const res = await fetch(url);
  return (await res.json()) as T;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Until the log is folded and the newest minute of every VM is in the tables (its windows close by idle time). */
async function untilFolded(base: string, key: string, lastMinute: number): Promise<void> {
  for (;;) {
    const health = await json<{ projector: { consumerLagBytes: Record<string, number> | null } }>(`${base}/healthz`);
    const data = await json<{ data: { timestamp: number; count: number }[] }>(`${base}/v1/get-data?key=${key}&minutes=1&to=${lastMinute}`);
    if (health.projector.consumerLagBytes?.windows === 0 && data.data[0]?.timestamp === lastMinute && data.data[0].count === TENANTS * VMS) return;
    await sleep(500);
  }
}

async function writeFleet(file: string, startSeconds: number, minutes: number): Promise<number> {
  const out = createWriteStream(file);
  let n = 0;
  for (const message of simulateSpoc({ tenants: TENANTS, vmsPerTenant: VMS, keys: KEYS, startSeconds, minutes, seed: 7 })) {
    n += message.metrics.length;
    if (!out.write(`${JSON.stringify(message)}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return n;
}

async function run(command: string[]): Promise<void> {
  const child = spawn(process.execPath, [BIN, ...command], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`opsfold ${command[0]} exited with ${code}: ${stderr}`);
}

/** The paths a route's requests go round. */
function routes(keys: string[], vms: [string, string][], lastMinute: number): { route: string; pattern: string; paths: string[] }[] {
  const q = encodeURIComponent;
  return [
    { route: 'GET /healthz', pattern: '/healthz', paths: ['/healthz'] },
    { route: 'GET /v1/get-data (60 min)', pattern: '/v1/get-data', paths: keys.map((k) => `/v1/get-data?key=${q(k)}&minutes=60`) },
    { route: 'GET /v1/get-tenant-data (60 min)', pattern: '/v1/get-tenant-data', paths: vms.map(([t, v], i) => `/v1/get-tenant-data?key=${q(keys[i % keys.length])}&tenant=${q(t)}&vm=${q(v)}&minutes=60`) },
    { route: 'GET /v1/top (15 min, avg)', pattern: '/v1/top', paths: keys.map((k) => `/v1/top?key=${q(k)}&minutes=15`) },
    { route: 'GET /v1/top (15 min, p95)', pattern: '/v1/top', paths: keys.map((k) => `/v1/top?key=${q(k)}&minutes=15&by=p95`) },
    // 30 ranges a key, more than the cache remembers rankings of: each request ranks the fleet anew.
    { route: 'GET /v1/top (15 min, avg, 30 ends)', pattern: '/v1/top', paths: Array.from({ length: 30 * keys.length }, (_, i) => `/v1/top?key=${q(keys[i % keys.length])}&minutes=15&to=${lastMinute - 60 * Math.floor(i / keys.length)}`) },
  ];
}

async function drive(base: string, paths: string[], duration: number, rate?: number, connections = CONNECTIONS): Promise<AutocannonResult> {
  let i = 0;
  return autocannon({
    url: base, connections, duration, ...(rate ? { overallRate: rate } : {}),
    requests: [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, path: paths[i++ % paths.length] }) }],
  });
}

interface Measured {
  p50: number;
  p99: number;
  rate: number;
  failed: number;
}

function fromAutocannon(r: AutocannonResult): Measured {
  return { p50: r.latency.p50, p99: r.latency.p99, rate: r['2xx'] / r.duration, failed: r.errors + r.timeouts + r.non2xx };
}

function fromPaced(r: PacedResult): Measured {
  return { p50: quantileOfSorted(r.latencies, 0.5), p99: quantileOfSorted(r.latencies, 0.99), rate: r.rate, failed: r.failed };
}

interface ServerSide {
  /** Cumulative count of the route's 200 answers by bucket bound in seconds. */
  histogram: Map<number, number>;
  /** Event-loop delay since the previous scrape (prom-client resets its monitor at each), ms. */
  loopP99: number;
  loopMax: number;
}

/** What the service's /metrics says of one route pattern and of its event loop. */
async function serverSide(base: string, pattern: string): Promise<ServerSide> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out = new Map<number, number>();
  const gauge = (name: string) => 1000 * Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  for (const line of text.split('\n')) {
    if (!line.startsWith('opsfold_http_request_duration_seconds_bucket{') || !line.includes(`route="${pattern}"`) || !line.includes('status="200"')) continue;
    const le = /le="([^"]+)"/.exec(line)![1];
    out.set(le === '+Inf' ? Infinity : Number(le), Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return { histogram: out, loopP99: gauge('nodejs_eventloop_lag_p99_seconds'), loopMax: gauge('nodejs_eventloop_lag_max_seconds') };
}

/** The smallest bucket bound (ms) that 99% of the requests between two histograms were under. */
function p99Bound(before: Map<number, number>, after: Map<number, number>): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  for (const le of bounds) if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= 0.99 * total) return le * 1000;
  return Infinity;
}

/** A run of load, with the server's p99 of the route and its event-loop delay over the same run. */
async function measured(base: string, pattern: string, mode: string, route: string, load: string, run: () => Promise<Measured>): Promise<RouteFigure> {
  const before = await serverSide(base, pattern);
  const result = await run();
  const after = await serverSide(base, pattern);
  return { mode, route, load, ...result, serverP99: p99Bound(before.histogram, after.histogram), loopP99: after.loopP99, loopMax: after.loopMax };
}

export async function runReadBench(options: { duration?: number; minutes?: number } = {}): Promise<ReadBenchRun> {
  const duration = options.duration ?? 10;
  const minutes = options.minutes ?? 75;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'opsfold-read-bench-'));
  const dataDir = path.join(dir, 'data');
  const running: Running[] = [];
  try {
    // An hour boundary two days back: inside the gate's bounds; the last minute's windows close by idle time.
    const startSeconds = Math.floor(Date.now() / 3_600_000) * 3600 - 2 * 86_400;
    const lastMinute = startSeconds + (minutes - 1) * 60;
    const file = path.join(dir, 'fleet.ndjson');
    const metrics = await writeFleet(file, startSeconds, minutes);
    await run(['ingest', file, '--data-dir', dataDir]);
    const keys = Array.from({ length: KEYS }, (_, k) => { const { PerfType, PerfName } = simulatedKey(k); return `${PerfType}.${PerfName}`; });
    const vms = Array.from({ length: VM_SAMPLE }, (_, i): [string, string] => {
      const tenant = (i * 37) % TENANTS;
      return [`T${tenant}+sim/${(tenant * 7919) % 1000}==`, `Shared${tenant}vm${i % VMS}/sim=`];
    });
    const figures: RouteFigure[] = [];
    let cacheReads: ReadBenchRun['cacheReads'];
    const modes: { mode: string; env: Record<string, string> }[] = [
      { mode: 'tables', env: { OPSFOLD_READ_CACHE_HOURS: '0', OPSFOLD_READ_CACHE_VM_MINUTES: '0' } },
      { mode: 'cache', env: {} },
    ];
    for (const { mode, env } of modes) {
      const service = await startService(dataDir, env);
      running.push(service);
      await untilFolded(service.base, keys[0], lastMinute);
      // Warm up: each path once (the cache reads each key's span in; get-tenant-data's in the background), then a second round;
      // not the rankings from the tables, of which one takes seconds.
      const warm = routes(keys, vms, lastMinute).filter(({ route }) => mode === 'cache' || !route.startsWith('GET /v1/top'));
      for (let round = 0; round < 2; round++) {
        for (const { paths } of warm) for (const p of paths) await fetch(`${service.base}${p}`).then((r) => r.arrayBuffer());
      }
      const reads0 = (await json<{ readCache: { memory: number; tables: number } | null }>(`${service.base}/healthz`)).readCache;
      for (const { route, pattern, paths } of routes(keys, vms, lastMinute)) {
        const settle = () => fetch(`${service.base}${paths[0]}`).then((r) => r.arrayBuffer());
        const measure = async (load: string, run: () => Promise<Measured>) => {
          figures.push(await measured(service.base, pattern, mode, route, load, run));
          // Requests a load generator gave up on at its end may still be at work: the next run starts once one more is answered.
          await settle();
        };
        if (mode === 'tables' && route.startsWith('GET /v1/top')) {
          // From the tables a ranking reads every VM's blocks (2,000 reads): one request at a time, to see how long one takes.
          if (!route.includes('ends')) await measure('1 at a time', async () => fromAutocannon(await drive(service.base, paths, duration, undefined, 1)));
          continue;
        }
        await measure(`${RATE}/s paced`, async () => fromPaced(await pacedLoad({ base: service.base, paths, rate: RATE, durationS: duration, connections: CONNECTIONS })));
        await measure(`${RATE}/s burst`, async () => fromAutocannon(await drive(service.base, paths, duration, RATE)));
        await measure('max', async () => fromAutocannon(await drive(service.base, paths, duration)));
      }
      const reads1 = (await json<{ readCache: { memory: number; tables: number } | null }>(`${service.base}/healthz`)).readCache;
      if (reads0 && reads1) cacheReads = { memory: reads1.memory - reads0.memory, tables: reads1.tables - reads0.tables };
      await stopService(service);
      running.pop();
    }
    return { metrics, figures, cacheReads };
  } finally {
    for (const service of running) await stopService(service).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

export function printReadBench(run: ReadBenchRun): void {
  const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  console.log(`\nreads: ${fmt(run.metrics)} metrics (${TENANTS} tenants × ${VMS} VMs × ${KEYS} keys a minute) folded by \`opsfold start\`; ${CONNECTIONS} connections, loopback; ` +
    `node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`);
  console.log(`${'reads from'.padEnd(10)} ${'route'.padEnd(36)} ${'load'.padEnd(15)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'server p99 ms'.padStart(14)} ${'loop p99/max ms'.padStart(16)} ${'req/s'.padStart(8)} ${'failed'.padStart(7)}`);
  for (const f of run.figures) {
    const digits = f.load.endsWith('paced') ? 1 : 0;
    console.log(`${f.mode.padEnd(10)} ${f.route.padEnd(36)} ${f.load.padEnd(15)} ${fmt(f.p50, digits).padStart(7)} ${fmt(f.p99, digits).padStart(7)} ${`≤ ${fmt(f.serverP99, 1)}`.padStart(14)} ${`${fmt(f.loopP99)} / ${fmt(f.loopMax)}`.padStart(16)} ${fmt(f.rate).padStart(8)} ${fmt(f.failed).padStart(7)}`);
  }
  console.log(`load: "${RATE}/s paced" — requests due every ${1000 / RATE} ms, open loop, latency from when each was due (test/bench/pacedLoad.ts); ` +
    `"${RATE}/s burst" — autocannon's overallRate, each connection's share of the second sent back to back at its start (whole ms); "max" — autocannon, as fast as the connections go`);
  console.log('server p99: the bucket of the service\'s own request-duration histogram (opsfold_http_request_duration_seconds) that 99% of the run\'s requests were under; ' +
    'loop: the service\'s event-loop delay over the run (nodejs_eventloop_lag_p99/max_seconds, 10 ms resolution)');
  if (run.cacheReads) console.log(`cached run: ${fmt(run.cacheReads.memory)} reads of windows from memory, ${fmt(run.cacheReads.tables)} from the tables`);
  const target = (route: string) => run.figures.find((f) => f.mode === 'cache' && f.route.startsWith(route) && f.load.endsWith('paced'));
  for (const route of ['GET /v1/get-data', 'GET /v1/top (15 min, avg)']) {
    const f = target(route);
    if (f) console.log(`target (issue 14): ${route} p99 < 10 ms at ${RATE} req/s — ${f.p99 < 10 && f.rate >= RATE * 0.98 ? 'MET' : 'NOT MET'} (p99 ${fmt(f.p99, 1)} ms at ${fmt(f.rate)} req/s)`);
  }
}

function numberArg(name: string): number | undefined {
  const argv = process.argv.slice(2);
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  const raw = argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1];
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number of at least 1, got ${raw}`);
  return n;
}

if (require.main === module) {
  runReadBench({ duration: numberArg('duration'), minutes: numberArg('minutes') }).then(printReadBench).catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
