/**
 * Very late data benchmark (a script, not a test: prints figures, asserts nothing).
 *
 *   node dist/test/bench/lateReplay.js [--metrics 20000,40000,80000,400000]
 *
 * For each size N, a fresh data dir gets a file log of N metrics (20 tenants × 5 VMs × 25 keys a
 * minute, from the simulator) of which 9% are recent and come first, and 91% are two days old:
 * later than the allowed lateness (WINDOW_ALLOWED_LATENESS_SECONDS, 1800) by far, so they all go
 * to the late-events ledger. Then `opsfold replay` runs as a user runs it, a process of its own
 * (`node bin/opsfold.js replay --data-dir D`, default heap cap, its own embedded Azurite), and its
 * wall time and peak RSS are printed: the time per metric must not grow with N, nor the memory.
 * Peak RSS is the VmHWM of the process that folds (the capped child `opsfold replay` starts),
 * sampled from /proc while it runs; Azurite's process is shown apart.
 */
import { spawn } from 'node:child_process';
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileLog } from '../../src/adapters/fileLog/FileLog';
import { simulateSpoc } from '../../src/adapters/simulator/spocSimulator';
import { encodeEvent } from '../../src/core/logCodec';
import { validateSpocMessage } from '../../src/core/validateSpoc';

const TENANTS = 20;
const VMS = 5;
const KEYS = 25;
const PER_MINUTE = TENANTS * VMS * KEYS;
const LATE_FRACTION = 0.91;
/** How far behind the recent minutes the late ones are: far beyond the allowed lateness. */
const LATE_BY_SECONDS = 2 * 86400;
const APPEND_GROUP = 64;
const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'opsfold.js');

export interface LateReplayResult {
  metrics: number;
  late: number;
  seconds: number;
  /** Peak RSS of the folding process, MB (10^6 bytes). */
  rssMb: number;
  azuriteRssMb: number;
  /** The late count `opsfold replay` printed for the windows projection. */
  replayedLate: number;
  /** The seconds `opsfold replay` printed for the windows projection: the fold alone, without starting the process and Azurite. */
  foldSeconds: number;
}

/** Appends `metrics` metrics: the recent 9% first (they move the watermark), then the two-days-old rest. */
export async function writeLateLog(logDir: string, metrics: number, nowSeconds: number): Promise<{ metrics: number; late: number }> {
  const lateMinutes = Math.max(1, Math.round((metrics * LATE_FRACTION) / PER_MINUTE));
  const recentMinutes = Math.max(1, Math.round(metrics / PER_MINUTE) - lateMinutes);
  const recentStart = Math.floor(nowSeconds / 60) * 60 - recentMinutes * 60;
  const log = await FileLog.open(logDir);
  let written = 0;
  let late = 0;
  try {
    let group: Buffer[] = [];
    const append = async (message: { metrics: Record<string, unknown>[] }, isLate: boolean) => {
      const v = validateSpocMessage(message, { arrivalMs: Date.now(), maxFutureSeconds: 300 });
      written += v.metrics.length;
      if (isLate) late += v.metrics.length;
      group.push(encodeEvent({ type: 'MetricsReceived', source: 'simulator', receivedAtMs: Date.now(), metrics: v.metrics, rejected: v.rejected, gate: v.gate }));
      if (group.length === APPEND_GROUP) {
        await log.append(group);
        group = [];
      }
    };
    const fleet = { tenants: TENANTS, vmsPerTenant: VMS, keys: KEYS };
    for (const m of simulateSpoc({ ...fleet, startSeconds: recentStart, minutes: recentMinutes, seed: 1 })) await append(m, false);
    for (const m of simulateSpoc({ ...fleet, startSeconds: recentStart - LATE_BY_SECONDS, minutes: lateMinutes, seed: 2 })) await append(m, true);
    if (group.length > 0) await log.append(group);
  } finally {
    await log.close();
  }
  return { metrics: written, late };
}

/** The processes below `pid` (children, grandchildren…), from /proc. */
async function descendants(pid: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of parents.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

async function peakOf(pid: number): Promise<{ hwmKb: number; azurite: boolean } | undefined> {
  try {
    const [status, cmdline] = await Promise.all([readFile(`/proc/${pid}/status`, 'utf8'), readFile(`/proc/${pid}/cmdline`, 'utf8')]);
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    return hwm ? { hwmKb: Number(hwm[1]), azurite: /azurite/i.test(cmdline) } : undefined;
  } catch {
    return undefined;
  }
}

/** `opsfold replay` on `dataDir`, as a process; its wall time and the peak RSS of its processes. */
export async function timeReplay(dataDir: string): Promise<{ seconds: number; rssMb: number; azuriteRssMb: number; output: string }> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [BIN, 'replay', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let errors = '';
  child.stdout.on('data', (d: Buffer) => (output += d));
  child.stderr.on('data', (d: Buffer) => (errors += d));
  let rssKb = 0;
  let azuriteKb = 0;
  const sample = async () => {
    for (const pid of [child.pid!, ...(await descendants(child.pid!))]) {
      const peak = await peakOf(pid);
      if (!peak) continue;
      if (peak.azurite) azuriteKb = Math.max(azuriteKb, peak.hwmKb);
      else rssKb = Math.max(rssKb, peak.hwmKb);
    }
  };
  const timer = setInterval(() => void sample(), 50);
  const code: number = await new Promise((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
  clearInterval(timer);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`opsfold replay exited with ${code}: ${errors}`);
  return { seconds, rssMb: (rssKb * 1024) / 1e6, azuriteRssMb: (azuriteKb * 1024) / 1e6, output };
}

export async function runLateReplay(sizes: readonly number[]): Promise<LateReplayResult[]> {
  const results: LateReplayResult[] = [];
  for (const n of sizes) {
    const root = await mkdtemp(path.join(os.tmpdir(), 'opsfold-late-'));
    try {
      const written = await writeLateLog(path.join(root, 'log'), n, Math.floor(Date.now() / 1000));
      const replay = await timeReplay(root);
      const windows = replay.output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { projection: string; late?: number; seconds?: number })
        .find((l) => l.projection === 'windows');
      results.push({
        metrics: written.metrics, late: written.late, seconds: replay.seconds, rssMb: replay.rssMb, azuriteRssMb: replay.azuriteRssMb,
        replayedLate: windows?.late ?? NaN, foldSeconds: windows?.seconds ?? NaN,
      });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }
  return results;
}

export function printLateReplay(results: readonly LateReplayResult[]): void {
  const f = (n: number, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  console.log('opsfold replay of mostly too-late metrics (91% two days behind the watermark), as a process:');
  console.log('  metrics   too late   in ledger   process s   windows fold s   fold µs/metric   peak RSS MB   Azurite RSS MB');
  for (const r of results) {
    console.log(`${f(r.metrics).padStart(9)}  ${f(r.late).padStart(9)}  ${f(r.replayedLate).padStart(10)}  ${f(r.seconds, 2).padStart(10)}  ` +
      `${f(r.foldSeconds, 2).padStart(15)}  ${f((r.foldSeconds * 1e6) / r.metrics, 1).padStart(15)}  ${f(r.rssMb).padStart(12)}  ${f(r.azuriteRssMb).padStart(15)}`);
  }
  console.log('(process s: the whole `opsfold replay`, with starting Node and Azurite and the other projections; windows fold s: as it reports it.)');
}

function parseSizes(): number[] {
  const argv = process.argv.slice(2);
  let raw = process.env.BENCH_LATE_METRICS ?? '20000,40000,80000,400000';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--metrics') raw = argv[i + 1];
    else if (argv[i].startsWith('--metrics=')) raw = argv[i].slice('--metrics='.length);
  }
  const sizes = raw.split(',').map((s) => Number(s.replace(/_/g, '')));
  if (!sizes.every((n) => Number.isInteger(n) && n >= PER_MINUTE)) throw new Error(`--metrics: sizes of at least ${PER_MINUTE}, comma-separated; got ${raw}`);
  return sizes;
}

if (require.main === module) {
  runLateReplay(parseSizes()).then(printLateReplay).catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
