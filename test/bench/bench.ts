/**
 * Throughput benchmark (a script, not a test: prints figures, asserts nothing).
 *
 *   npm run bench -- 2M [--runs 3] [--cli-only]      (or --metrics 2000000, or BENCH_METRICS=2000000 npm run bench; 1M by default, 10M on request)
 *
 * First the commands as users run them (cliBench.ts; BENCH_SKIP_CLI=1 leaves them out, --cli-only runs only them):
 * `opsfold ingest FILE`, `opsfold replay --projection all` and `opsfold projection add` as processes beside a decode
 * baseline process, and the windows' fold into memory (foldIntoMemory.ts), `--runs N` times (BENCH_RUNS), with their
 * spread and the targets of issue 15.
 * Then the phases below, in-process, to see where the time goes:
 * N SPOC metrics = 200 tenants × 10 VMs × 25 keys, one per VM/key/minute, over N/50,000
 * minutes, streamed from the simulator (never all in memory). Phases:
 *   baseline   – read the messages back from an NDJSON file and JSON.parse each line
 *   ingest     – validate + encode + append to a fresh FileLog in groups of 64
 *   replay/mem – every projection rebuilt from the log, as `opsfold replay all` does (rebuildProjection:
 *                windows with their event history, rejects, backlog), into an in-memory TableStore (the
 *                history, as beside any file log, into files under the phase's data dir)
 *   replay/ats – the same into Table Storage (embedded Azurite in its own process, persisted under the run's directory),
 *                heap capped at BENCH_HEAP_MB (default 256; 0 for no cap) with the Node flags `opsfold replay` runs with (rebuildNodeFlags)
 *   replay/ats windows only – informational: the windows projection alone (a bare Projector), no event history, rejects or
 *                backlog (what this bench measured before it ran the full replay)
 * Settings are loadSettings' defaults (the environment is not read) with table prefix "bench".
 * Each phase runs in a process of its own. Target: the full replay into Table Storage ≤ 2× the baseline's time.
 * Then the SSE fan-out (sseFanout.ts, also runnable alone: node dist/test/bench/sseFanout.js):
 * 1,000 subscribers of GET /v1/stream/windows; target p99 emitted → received < 50 ms. Then the
 * SSE resume (sseResume.ts, also alone: node dist/test/bench/sseResume.js [--clients N] [--paused]):
 * 300 subscribers resuming from id 0 over an hour's history; the server's peak RSS and RSS after.
 * Then `opsfold replay` of logs of 20k–400k mostly too-late metrics (lateReplay.ts, also runnable alone:
 * node dist/test/bench/lateReplay.js): time per metric and peak RSS must not grow with the log.
 * Last, the read API (readBench.ts, also alone: node dist/test/bench/readBench.js [--duration 10]):
 * `opsfold start` on a folded fleet, each route at 1,000 requests/s paced (open loop) and as autocannon
 * sends them, and at the most it sustains, beside /healthz, from the tables and from the read cache
 * (BENCH_SKIP_READS=1 leaves it out).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { FileLog } from '../../src/adapters/fileLog/FileLog';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { COMMAND_AZURITE_STOP_MS, commandAzurite } from '../../src/startAzuriteEarly';
import { TableStorageStore } from '../../src/adapters/tableStorage/TableStorageStore';
import { simulateSpoc } from '../../src/adapters/simulator/spocSimulator';
import { loadSettings } from '../../src/config/settings';
import { encodeEvent } from '../../src/core/logCodec';
import type { TableStore } from '../../src/core/ports';
import { validateSpocMessage } from '../../src/core/validateSpoc';
import { REBUILD_GLIBC_TUNABLES, REBUILD_HEAP_MB, rebuildEnv, rebuildNodeFlags } from '../../src/rebuildNode';
import { rebuildFlushIntervalMs, rebuildProjection, type RebuildTotals } from '../../src/rebuildProjection';
import { metaTable, PROJECTIONS, type ProjectionName } from '../../projections/projectionCatalog';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { Projector } from '../../streams/Projector';
import { windowsProjection } from '../../projections/windowsProjection';
import { MemoryTableStore } from '../support/memoryTableStore';
import { runSseBench } from './sseFanout';
import { runSseResumeBench } from './sseResume';
import { printLateReplay, runLateReplay } from './lateReplay';
import { printCliBench, runCliBench } from './cliBench';
import { metricsArg, runsArg } from './benchArgs';
import { printReadBench, runReadBench } from './readBench';

const TENANTS = 200;
const VMS = 10;
const KEYS = 25;
const PER_MINUTE = TENANTS * VMS * KEYS;
const START_SECONDS = 1_699_999_200; // an hour boundary
const APPEND_GROUP = 64;
const TARGET_RATIO = 2;
const REPLAY_HEAP_MB = Number(process.env.BENCH_HEAP_MB ?? REBUILD_HEAP_MB);
const SETTINGS = loadSettings({ tablePrefix: 'bench' }, {}).settings;
/** `--cli-only` (or BENCH_CLI_ONLY=1): only the commands as users run them (the size 10M on request takes minutes enough). */
const CLI_ONLY = process.argv.includes('--cli-only') || process.env.BENCH_CLI_ONLY === '1';

interface PhaseResult {
  phase: string;
  seconds: number;
  metrics: number;
  bytes: number;
  rssMb: number;
  baseline?: boolean;
  informational?: boolean;
}

function messages(minutes: number) {
  return simulateSpoc({ tenants: TENANTS, vmsPerTenant: VMS, keys: KEYS, startSeconds: START_SECONDS, minutes, seed: 42 });
}

const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;
/** Peak RSS in MB (10^6 bytes; maxRSS is in KiB). */
const peakRssMb = (): number => (process.resourceUsage().maxRSS * 1024) / 1e6;
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await dirBytes(p);
    else if (entry.isFile()) total += (await stat(p)).size;
  }
  return total;
}

async function writeNdjson(file: string, minutes: number): Promise<{ metrics: number; bytes: number }> {
  const out = createWriteStream(file);
  let metrics = 0;
  for (const message of messages(minutes)) {
    metrics += message.metrics.length;
    if (!out.write(JSON.stringify(message) + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { metrics, bytes: (await stat(file)).size };
}

async function readNdjson(file: string): Promise<number> {
  const lines = readline.createInterface({ input: createReadStream(file, { highWaterMark: 1 << 20 }), crlfDelay: Infinity });
  let metrics = 0;
  for await (const line of lines) {
    if (line.length === 0) continue;
    metrics += (JSON.parse(line) as { metrics: unknown[] }).metrics.length;
  }
  return metrics;
}

async function ingest(logDir: string, minutes: number): Promise<{ metrics: number; rejected: number; records: number }> {
  const log = await FileLog.open(logDir);
  let metrics = 0;
  let rejected = 0;
  let records = 0;
  let group: Buffer[] = [];
  try {
    for (const message of messages(minutes)) {
      const v = validateSpocMessage(message, { arrivalMs: Date.now(), maxFutureSeconds: SETTINGS.maxFutureSeconds });
      metrics += v.metrics.length;
      rejected += v.rejected.length;
      group.push(encodeEvent({ type: 'MetricsReceived', source: 'simulator', receivedAtMs: Date.now(), metrics: v.metrics, rejected: v.rejected, gate: v.gate }));
      if (group.length === APPEND_GROUP) {
        await log.append(group);
        records += group.length;
        group = [];
      }
    }
    if (group.length > 0) {
      await log.append(group);
      records += group.length;
    }
  } finally {
    await log.close();
  }
  return { metrics, rejected, records };
}

interface ProjectionFigures {
  name: ProjectionName;
  seconds: number;
  totals: RebuildTotals;
}

/** `opsfold replay all` on a fresh data dir (where the window-event history goes): each projection rebuilt from the whole log into version 1. */
async function replayAll(logDir: string, dataDir: string, tables: TableStore): Promise<ProjectionFigures[]> {
  const settings = { ...SETTINGS, dataDir };
  const log = await FileLog.open(logDir);
  try {
    const versions = new ProjectionVersions(await tables.rowTable(metaTable(SETTINGS.tablePrefix)));
    const figures: ProjectionFigures[] = [];
    for (const name of PROJECTIONS) {
      const t = process.hrtime.bigint();
      const totals = await rebuildProjection({ name, log, scope: '', tables, versions, settings, version: 1 });
      figures.push({ name, seconds: seconds(t), totals });
    }
    return figures;
  } finally {
    await log.close();
  }
}

/** Informational: the windows alone, without their event history, at the flush interval rebuildProjection uses. */
async function replayWindowsOnly(logDir: string, tables: TableStore) {
  const log = await FileLog.open(logDir);
  try {
    const versions = new ProjectionVersions(await tables.rowTable(metaTable(SETTINGS.tablePrefix)));
    const projector = new Projector({
      projection: windowsProjection, config: { windows: SETTINGS },
      log, tables, versions, tablePrefix: SETTINGS.tablePrefix, version: 1, flushIntervalMs: rebuildFlushIntervalMs(SETTINGS), follow: false,
    });
    return await projector.run();
  } finally {
    await log.close();
  }
}

const WINDOWS_ONLY = 'replay windows only (no event history) → Table Storage';

function describeTotals(totals: RebuildTotals): string {
  return Object.entries(totals).map(([k, v]) => `${k} ${fmt(v)}`).join(', ');
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function printTable(results: PhaseResult[]): void {
  const base = results.find((r) => r.baseline)!;
  const header = ['phase', 'seconds', 'metrics/s', 'MB/s', '× baseline', 'peak RSS MB'];
  const rows = results.map((r) => [
    r.phase,
    fmt(r.seconds, 3),
    fmt(r.metrics / r.seconds),
    fmt(r.bytes / 1e6 / r.seconds, 1),
    r.informational ? '-' : fmt(r.seconds / base.seconds, 2),
    fmt(r.rssMb, 0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

/** One measured phase, run in a process of its own so that its peak RSS is its own. */
type PhaseName = 'baseline' | 'ingest' | 'replay-memory' | 'replay-tables' | 'replay-tables-windows-only';

interface PhaseOutcome {
  seconds: number;
  metrics: number;
  rssMb: number;
  extra?: Record<string, number>;
  projections?: ProjectionFigures[];
}

/**
 * Azurite as `opsfold replay` runs it: in a process of its own (whose memory is not counted here),
 * its data persisted under the data directory, saved once, when stopped.
 */
async function withAzurite<T>(dataDir: string, job: (store: TableStore) => Promise<T>): Promise<T> {
  const azurite = await EmbeddedAzurite.start(commandAzurite(path.join(dataDir, 'azurite')));
  try {
    return await job(TableStorageStore.fromConnectionString(azurite.tableConnectionString));
  } finally {
    await azurite.stop(COMMAND_AZURITE_STOP_MS);
  }
}

async function measureReplayAll(logDir: string, dataDir: string, tables: TableStore): Promise<PhaseOutcome> {
  const t = process.hrtime.bigint();
  const projections = await replayAll(logDir, dataDir, tables);
  const windows = projections.find((p) => p.name === 'windows')!;
  return { seconds: seconds(t), metrics: windows.totals.metrics, rssMb: peakRssMb(), projections };
}

async function runPhaseHere(phase: PhaseName, dir: string, minutes: number): Promise<PhaseOutcome> {
  gc();
  const t = process.hrtime.bigint();
  switch (phase) {
    case 'baseline': {
      const metrics = await readNdjson(path.join(dir, 'messages.ndjson'));
      return { seconds: seconds(t), metrics, rssMb: peakRssMb() };
    }
    case 'ingest': {
      const ingested = await ingest(path.join(dir, 'log'), minutes);
      return { seconds: seconds(t), metrics: ingested.metrics, rssMb: peakRssMb(), extra: { records: ingested.records, rejected: ingested.rejected } };
    }
    case 'replay-memory':
      return measureReplayAll(path.join(dir, 'log'), path.join(dir, phase), new MemoryTableStore());
    case 'replay-tables':
      return withAzurite(path.join(dir, phase), (store) => measureReplayAll(path.join(dir, 'log'), path.join(dir, phase), store));
    case 'replay-tables-windows-only':
      return withAzurite(path.join(dir, phase), async (store) => {
        const started = process.hrtime.bigint();
        const stats = await replayWindowsOnly(path.join(dir, 'log'), store);
        return { seconds: seconds(started), metrics: stats.metrics, rssMb: peakRssMb(), extra: { windows: stats.windowsEmitted, revisions: stats.revisions, late: stats.late, flushes: stats.flushes } };
      });
  }
}

function runPhase(phase: PhaseName, dir: string, minutes: number): Promise<PhaseOutcome> {
  // Rebuilds run with the heap cap `opsfold replay` applies (--heap-mb); V8 otherwise lets a heap whose live
  // part stays ~100 MB grow to several hundred MB between major collections (BENCH_HEAP_MB=0 to see that).
  const asRebuild = phase.startsWith('replay-tables') && REPLAY_HEAP_MB > 0;
  const heap = asRebuild ? rebuildNodeFlags(REPLAY_HEAP_MB) : [];
  const env = asRebuild ? rebuildEnv(process.env) : process.env;
  const child = fork(__filename, [], { env: { ...env, BENCH_PHASE: phase, BENCH_DIR: dir, BENCH_MINUTES: String(minutes) }, execArgv: ['--expose-gc', ...heap] });
  return new Promise((resolve, reject) => {
    let outcome: PhaseOutcome | undefined;
    child.on('message', (m) => (outcome = m as PhaseOutcome));
    child.once('exit', (code) => (outcome && code === 0 ? resolve(outcome) : reject(new Error(`bench phase ${phase} exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  const requested = metricsArg(1_000_000, PER_MINUTE);
  const minutes = Math.floor(requested / PER_MINUTE);
  const n = minutes * PER_MINUTE;
  console.log(`opsfold bench: ${fmt(n)} metrics = ${TENANTS} tenants × ${VMS} VMs × ${KEYS} keys × ${minutes} minutes` +
    ` (${fmt(TENANTS * minutes)} messages of ${VMS * KEYS} metrics); node ${process.version}, ${os.cpus()[0]?.model ?? '?'}`);
  if (n !== requested) console.log(`(rounded down from ${fmt(requested)} to whole minutes)`);
  // The commands as users run them, each a process timed from spawn to exit, beside the decode baseline as a process (see cliBench.ts)
  if (process.env.BENCH_SKIP_CLI !== '1') printCliBench(await runCliBench(n, runsArg()));
  if (CLI_ONLY) return;
  const root = await mkdtemp(path.join(os.tmpdir(), 'opsfold-bench-'));
  const ndjson = path.join(root, 'messages.ndjson');
  const logDir = path.join(root, 'log');
  const results: PhaseResult[] = [];
  try {
    // 0. generate + write NDJSON (informational: the simulator's and JSON.stringify's cost)
    gc();
    const t = process.hrtime.bigint();
    const written = await writeNdjson(ndjson, minutes);
    results.push({ phase: 'generate+write NDJSON', seconds: seconds(t), metrics: written.metrics, bytes: written.bytes, rssMb: peakRssMb(), informational: true });

    // 1. baseline: read + JSON.parse, each phase below in a fresh process
    const base = await runPhase('baseline', root, minutes);
    results.push({ phase: 'baseline read+parse', ...base, bytes: written.bytes, baseline: true });
    await rm(ndjson, { force: true });

    // 2. ingest (includes the simulator's generation of the messages)
    const ingested = await runPhase('ingest', root, minutes);
    const logBytes = await dirBytes(logDir);
    results.push({ phase: 'ingest (FileLog)', ...ingested, bytes: logBytes });

    // 3. every projection rebuilt into memory, 4. into Table Storage, 5. the windows alone into Table Storage (informational)
    const mem = await runPhase('replay-memory', root, minutes);
    results.push({ phase: 'replay → memory', ...mem, bytes: logBytes });
    const ats = await runPhase('replay-tables', root, minutes);
    results.push({ phase: 'replay → Table Storage', ...ats, bytes: logBytes });
    const windowsOnly = await runPhase('replay-tables-windows-only', root, minutes);
    results.push({ phase: WINDOWS_ONLY, ...windowsOnly, bytes: logBytes, informational: true });

    console.log();
    printTable(results);
    console.log();
    console.log(`log: ${fmt(ingested.extra!.records)} records, ${fmt(logBytes / 1e6, 1)} MB (${fmt(logBytes / ingested.metrics, 1)} B/metric); ` +
      `NDJSON ${fmt(written.bytes / 1e6, 1)} MB; rejected ${fmt(ingested.extra!.rejected)}`);
    for (const [label, r] of [['replay → memory', mem], ['replay → Table Storage', ats]] as const) {
      console.log(`${label}, per projection (as \`opsfold replay all\`):`);
      for (const p of r.projections!) console.log(`  ${p.name.padEnd(8)} ${fmt(p.seconds, 3).padStart(8)} s  ${describeTotals(p.totals)}`);
    }
    const w = windowsOnly.extra!;
    console.log(`${WINDOWS_ONLY} (informational, ${fmt(windowsOnly.seconds / base.seconds, 2)}× baseline): ` +
      `windows ${fmt(w.windows)}, revisions ${fmt(w.revisions)}, late ${fmt(w.late)}, flushes ${w.flushes}`);
    console.log('MB = 10^6 bytes. MB/s: baseline = NDJSON bytes; ingest and replays = log bytes on disk. Each phase runs in a process of its own: peak RSS is that process\'s maximum (Azurite\'s own process not counted).');
    const ratio = ats.seconds / base.seconds;
    console.log(`target: full replay (every projection) into Table Storage ≤ ${TARGET_RATIO}× baseline — ${ratio <= TARGET_RATIO ? 'MET' : 'NOT MET'} (${fmt(ratio, 2)}×)`);
    console.log(`target: peak RSS of the full replay into Table Storage under 300 MB — ${ats.rssMb < 300 ? 'MET' : 'NOT MET'} (${fmt(ats.rssMb)} MB at ${fmt(n)} metrics` +
      `${REPLAY_HEAP_MB > 0 ? `, heap capped and environment set as opsfold replay's: ${rebuildNodeFlags(REPLAY_HEAP_MB).join(' ')} GLIBC_TUNABLES=${REBUILD_GLIBC_TUNABLES}` : ', heap not capped'}; replay → memory also holds the in-memory sink's every block)`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  // 6. SSE fan-out to 1,000 subscribers (its own processes and threads; see sseFanout.ts)
  if (process.env.BENCH_SKIP_SSE !== '1') {
    await runSseBench();
    await runSseResumeBench();
  }
  // 7. `opsfold replay` (a process) of logs of mostly too-late metrics: linear time, flat memory (see lateReplay.ts)
  if (process.env.BENCH_SKIP_LATE !== '1') printLateReplay(await runLateReplay([20_000, 40_000, 80_000, 400_000]));
  // 8. the read API of `opsfold start` under autocannon, from the tables and from the read cache (see readBench.ts)
  if (process.env.BENCH_SKIP_READS !== '1') printReadBench(await runReadBench());
}

if (process.env.BENCH_PHASE) {
  runPhaseHere(process.env.BENCH_PHASE as PhaseName, process.env.BENCH_DIR!, Number(process.env.BENCH_MINUTES))
    .then((outcome) => process.send!(outcome, () => process.exit(0)))
    .catch((error) => {
      console.error(error);
      process.exit(1);
    });
} else {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
