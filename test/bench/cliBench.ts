/**
 * The commands as users run them (a script, not a test: prints figures, asserts nothing):
 *
 *   node dist/test/bench/cliBench.js [2M | 10M | --metrics N] [--runs 3]      (also the first part of `npm run bench`)
 *
 * One NDJSON file of N SPOC metrics (200 tenants × 10 VMs × 25 keys a minute; ids with `/ + = #`),
 * then, each as a process timed from spawn to exit (as `time` would), in one run:
 *   decode baseline  – a plain Node loop reading the file and JSON.parse-ing each line
 *   opsfold ingest   – `opsfold ingest FILE` into a fresh data dir
 *   fold into memory – the windows projection's fold of that log with no storage behind it
 *                      (foldIntoMemory.ts, a process started as `opsfold replay` starts its rebuild; its
 *                      figure is the fold's own time, without Node's start and the log's opening)
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
import { metricsArg, runsArg } from './benchArgs';
import { rebuildEnv, rebuildNodeFlags } from '../../src/rebuildNode';

/** The opsfold run: this build's, or another's named by BENCH_BIN (e.g. a checkout of main, to compare before and after in one run). */
const BIN = process.env.BENCH_BIN ?? path.resolve(__dirname, '../../../bin/opsfold.js');
const PEAK_RSS = path.resolve(__dirname, 'peakRss.js');
const DECODE = path.resolve(__dirname, 'decodeBaseline.js');
const FOLD = path.resolve(__dirname, 'foldIntoMemory.js');
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
  /** From spawn to exit, where `seconds` is a time the process reports of itself (the fold into memory). */
  wallSeconds?: number;
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
export async function timeProcess(what: string, args: string[], dir: string, baseEnv: NodeJS.ProcessEnv = process.env): Promise<CommandFigure> {
  const rssFile = path.join(dir, `rss-${Date.now()}-${Math.random().toString(36).slice(2)}.ndjson`);
  const env = { ...baseEnv, NODE_OPTIONS: `${baseEnv.NODE_OPTIONS ?? ''} --require ${PEAK_RSS}`.trim(), BENCH_RSS_FILE: rssFile };
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

/** What one run of the commands measured, in order: the baseline, ingest, replay, projection add. */
export interface CliRun {
  figures: CommandFigure[];
}

export interface CliBenchResult {
  metrics: number;
  bytes: number;
  runs: CliRun[];
}

const WHAT = {
  baseline: 'decode baseline (read + JSON.parse)',
  ingest: 'opsfold ingest FILE',
  fold: 'fold into memory (windows, in-process time)',
  replay: 'opsfold replay --projection all',
  add: 'opsfold projection add (5m by Region, p95, vms)',
} as const;

/**
 * The baseline and the CLI commands on one file of `metrics` metrics, `runs` times in a row, each
 * run into a fresh data dir (the baseline measured again in each run: each ratio is to its own run's).
 */
export async function runCliBench(metrics: number, runs = 1): Promise<CliBenchResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'opsfold-cli-bench-'));
  try {
    const file = path.join(dir, 'spoc.ndjson');
    const written = await writeSpocFile(file, metrics);
    const definition = path.join(dir, 'by-region.json');
    await writeFile(definition, JSON.stringify(BY_REGION));
    const out: CliRun[] = [];
    for (let run = 0; run < runs; run++) {
      const data = path.join(dir, `data-${run}`);
      const figures = [
        await timeProcess(WHAT.baseline, [DECODE, file], dir),
        await timeProcess(WHAT.ingest, [BIN, 'ingest', file, '--data-dir', data], dir),
        // As `opsfold replay` starts its rebuild: its Node flags (rebuildNodeFlags, the default --heap-mb) and environment.
        ownTime(await timeProcess(WHAT.fold, [...rebuildNodeFlags(), FOLD, data], dir, rebuildEnv(process.env))),
        await timeProcess(WHAT.replay, [BIN, 'replay', '--projection', 'all', '--data-dir', data], dir),
        await timeProcess(WHAT.add, [BIN, 'projection', 'add', definition, '--data-dir', data], dir),
      ];
      out.push({ figures });
      await rm(data, { recursive: true, force: true });
      if (runs > 1) process.stderr.write(`cli bench: run ${run + 1} of ${runs} done\n`);
    }
    return { metrics: written, bytes: (await stat(file)).size, runs: out };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The figure of a process that reports its own `seconds` (the fold, without Node's start and module loading). */
function ownTime(figure: CommandFigure): CommandFigure {
  const { seconds } = JSON.parse(figure.stdout.trim().split('\n').pop()!) as { seconds: number };
  return { ...figure, seconds, wallSeconds: figure.seconds };
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
/** `a` or `a–b` (the spread over runs). */
const spread = (values: number[], digits: number) => {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return fmt(lo, digits) === fmt(hi, digits) ? fmt(lo, digits) : `${fmt(lo, digits)}–${fmt(hi, digits)}`;
};

/** Each projection's seconds from the replay's summary lines (from its start to its line), e.g. "windows 3.10 s". */
function projectionSeconds(stdout: string): string {
  return stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { projection: string; seconds: number })
    .map((p) => `${p.projection} ${fmt(p.seconds, 2)} s`).join(', ');
}

export function printCliBench(result: CliBenchResult): void {
  const { metrics, bytes, runs } = result;
  console.log(`\nthe commands as users run them: ${fmt(metrics)} metrics, NDJSON ${fmt(bytes / 1e6, 1)} MB; each a process, wall clock from spawn to exit` +
    `${runs.length > 1 ? `; ${runs.length} runs, each beside its own baseline` : ''}`);
  const header = `${'command'.padEnd(48)} ${'seconds'.padStart(12)} ${'metrics/s'.padStart(17)} ${'× decode'.padStart(11)} ${'peak RSS MB'.padStart(12)}`;
  console.log(header);
  const commands = runs[0].figures.map((f) => f.what);
  const ratios = (i: number) => runs.map((r) => r.figures[i].seconds / r.figures[0].seconds);
  commands.forEach((what, i) => {
    const seconds = runs.map((r) => r.figures[i].seconds);
    console.log(`${what.padEnd(48)} ${spread(seconds, 2).padStart(12)} ${spread(seconds.map((s) => metrics / s), 0).padStart(17)} ` +
      `${spread(ratios(i), 2).padStart(11)} ${spread(runs.map((r) => r.figures[i].peakMb), 0).padStart(12)}`);
  });
  const fold = commands.indexOf(WHAT.fold);
  console.log(`(the fold into memory's process, from spawn to exit: ${spread(runs.map((r) => r.figures[fold].wallSeconds ?? 0), 2)} s)`);
  runs.forEach((r, k) => console.log(`run ${k + 1}: ${r.figures.map((f) => `${f.what.split(' (')[0]} ${fmt(f.seconds, 2)} s`).join(', ')}; replay: ${projectionSeconds(r.figures[commands.indexOf(WHAT.replay)].stdout)}`));
  const replay = commands.indexOf(WHAT.replay);
  const worst = Math.max(...ratios(replay));
  const peak = Math.max(...runs.map((r) => r.figures[replay].peakMb));
  const met = (ok: boolean) => (ok ? 'MET' : 'NOT MET');
  console.log('targets (issue 15): ingest ≤ 1.5× decode; the fold into memory at least 4× faster than decode (≤ 0.25×); replay --projection all ≤ 1.25× at 2M, ≤ 1.0× at 10M, peak RSS < 300 MB at 10M; a declared projection ≤ 1.0× at 10M');
  const foldWorst = Math.max(...ratios(fold));
  console.log(`  fold into memory ≥ 4× faster than decode: ${met(foldWorst <= 0.25)} (worst run ${fmt(1 / foldWorst, 1)}× faster, best ${fmt(1 / Math.min(...ratios(fold)), 1)}×)`);
  console.log(`  ingest ≤ 1.5×: ${met(Math.max(...ratios(commands.indexOf(WHAT.ingest))) <= 1.5)} (worst run ${fmt(Math.max(...ratios(commands.indexOf(WHAT.ingest))), 2)}×)`);
  if (metrics >= 2_000_000) console.log(`  replay ≤ ${metrics >= 10_000_000 ? '1.0' : '1.25'}× at this size: ${met(worst <= (metrics >= 10_000_000 ? 1 : 1.25))} (worst run ${fmt(worst, 2)}×, best ${fmt(Math.min(...ratios(replay)), 2)}×)`);
  console.log(`  replay peak RSS < 300 MB: ${met(peak < 300)} (${fmt(peak)} MB at ${fmt(metrics)} metrics${metrics < 10_000_000 ? '; the target is at 10M: npm run bench -- 10M' : ''})`);
  if (metrics >= 10_000_000) {
    const add = commands.indexOf(WHAT.add);
    console.log(`  declared projection ≤ 1.0× at 10M: ${met(Math.max(...ratios(add)) <= 1)} (worst run ${fmt(Math.max(...ratios(add)), 2)}×)`);
  }
}

if (require.main === module) {
  runCliBench(metricsArg(2_000_000, PER_MINUTE), runsArg()).then(printCliBench).catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
