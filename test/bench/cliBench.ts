/**
 * The commands as users run them (a script, not a test: prints figures, asserts nothing):
 *
 *   node dist/test/bench/cliBench.js [--metrics 2000000]      (also the first part of `npm run bench`)
 *
 * One NDJSON file of N SPOC metrics (200 tenants × 10 VMs × 25 keys a minute; ids with `/ + = #`),
 * then, each as a process timed from spawn to exit (as `time` would), in one run:
 *   decode baseline  – a plain Node loop reading the file and JSON.parse-ing each line
 *   opsfold ingest   – `opsfold ingest FILE` into a fresh data dir
 *   opsfold replay   – `opsfold replay --projection all` on it (the embedded Azurite started and
 *                      stopped by the command, its heap capped as it caps it)
 *   projection add   – `opsfold projection add` of a declared projection: 5-minute windows by Region
 *                      (six regions) with count, avg, p95 and vms, built from the whole log
 * Each figure is also given as a ratio to the baseline; peak RSS is the largest of the command's
 * own Node processes (reported by peakRss.ts at their exit; the Azurite process is not counted).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { simulateSpoc } from '../../src/adapters/simulator/spocSimulator';

const BIN = path.resolve(__dirname, '../../../bin/opsfold.js');
const PEAK_RSS = path.resolve(__dirname, 'peakRss.js');
const DECODE = path.resolve(__dirname, 'decodeBaseline.js');
const TENANTS = 200;
const VMS = 10;
const KEYS = 25;
const PER_MINUTE = TENANTS * VMS * KEYS;
const REGIONS = ['westeurope', 'northeurope', 'eastus', 'westus2', 'centralindia', 'japaneast'];
/** The declared projection the bench builds (issue 13): 5-minute windows by Region with p95 and vms. */
const BY_REGION = { name: 'bench_by_region', groupBy: ['Region'], window: '5m', aggregates: ['count', 'avg', 'p95', 'vms'] };
/** An hour boundary, two days before now: inside the gate's bounds, and every window closes by the watermark. */
const startSeconds = (): number => Math.floor(Date.now() / 3_600_000) * 3600 - 2 * 86_400;

export interface CommandFigure {
  what: string;
  seconds: number;
  peakMb: number;
  /** The command's stdout (its JSON summary). */
  stdout: string;
}

/** Writes N metrics as NDJSON SPOC messages, one per tenant and minute; ids carry `/ + = #`. */
export async function writeSpocFile(file: string, metrics: number): Promise<number> {
  const minutes = Math.max(1, Math.floor(metrics / PER_MINUTE));
  const out = createWriteStream(file);
  let written = 0;
  for (const message of simulateSpoc({ tenants: TENANTS, vmsPerTenant: VMS, keys: KEYS, startSeconds: startSeconds(), minutes, seed: 42 })) {
    for (const m of message.metrics) {
      // Six regions, by tenant, for the declared projection grouped by Region.
      m.Region = REGIONS[Number(/^T(\d+)/.exec(String(m.MaskedTenantId))?.[1] ?? 0) % REGIONS.length];
      m.MaskedTenantId = `${String(m.MaskedTenantId)}#x`;
    }
    written += message.metrics.length;
    if (!out.write(`${JSON.stringify(message)}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return written;
}

/** Runs `node ARGS` as a process; wall clock from spawn to exit, and the peak RSS of its Node processes but Azurite's. */
export async function timeProcess(what: string, args: string[], dir: string): Promise<CommandFigure> {
  const rssFile = path.join(dir, `rss-${Date.now()}-${Math.random().toString(36).slice(2)}.ndjson`);
  const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${PEAK_RSS}`.trim(), BENCH_RSS_FILE: rssFile };
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`${what} exited with ${code}: ${stderr}`);
  const reports = (await readFile(rssFile, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean)
    .map((line) => JSON.parse(line) as { peakBytes: number; argv: string[] })
    .filter((r) => !r.argv.some((a) => a.includes('azurite')));
  return { what, seconds, peakMb: Math.max(0, ...reports.map((r) => r.peakBytes)) / 1e6, stdout };
}

/** The baseline and the CLI commands on one file of `metrics` metrics, in a fresh directory. */
export async function runCliBench(metrics: number): Promise<{ metrics: number; bytes: number; figures: CommandFigure[] }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'opsfold-cli-bench-'));
  try {
    const file = path.join(dir, 'spoc.ndjson');
    const written = await writeSpocFile(file, metrics);
    const data = path.join(dir, 'data');
    const figures = [
      await timeProcess('decode baseline (read + JSON.parse)', [DECODE, file], dir),
      await timeProcess('opsfold ingest FILE', [BIN, 'ingest', file, '--data-dir', data], dir),
      await timeProcess('opsfold replay --projection all', [BIN, 'replay', '--projection', 'all', '--data-dir', data], dir),
    ];
    const definition = path.join(dir, 'by-region.json');
    await writeFile(definition, JSON.stringify(BY_REGION));
    figures.push(await timeProcess('opsfold projection add (5m by Region, p95, vms)', [BIN, 'projection', 'add', definition, '--data-dir', data], dir));
    return { metrics: written, bytes: (await stat(file)).size, figures };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function printCliBench(run: { metrics: number; bytes: number; figures: CommandFigure[] }): void {
  const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const base = run.figures[0].seconds;
  console.log(`\nthe commands as users run them: ${fmt(run.metrics)} metrics, NDJSON ${fmt(run.bytes / 1e6, 1)} MB; each a process, wall clock from spawn to exit`);
  console.log(`${'command'.padEnd(48)} ${'seconds'.padStart(8)} ${'metrics/s'.padStart(11)} ${'× decode'.padStart(9)} ${'peak RSS MB'.padStart(12)}`);
  for (const f of run.figures) {
    console.log(`${f.what.padEnd(48)} ${fmt(f.seconds, 2).padStart(8)} ${fmt(run.metrics / f.seconds).padStart(11)} ${fmt(f.seconds / base, 2).padStart(9)} ${fmt(f.peakMb).padStart(12)}`);
  }
  console.log('targets (issue 15): ingest ≤ 1.5× decode; replay --projection all ≤ 1.25× at 2M, ≤ 1.0× at 10M, peak RSS < 300 MB at 10M; a declared projection ≤ 1.0× at 10M');
}

function metricsFromArgs(): number {
  const argv = process.argv.slice(2);
  const i = argv.findIndex((a) => a === '--metrics' || a.startsWith('--metrics='));
  const raw = i < 0 ? process.env.BENCH_METRICS : argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1];
  const n = Number(raw ?? 2_000_000);
  if (!Number.isInteger(n) || n < PER_MINUTE) throw new Error(`--metrics must be a whole number of at least ${PER_MINUTE}, got ${raw}`);
  return n;
}

if (require.main === module) {
  runCliBench(metricsFromArgs()).then(printCliBench).catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
