/**
 * The command line of the benchmarks: the size as `--metrics N`, `--metrics=N` or bare (`2M`, `10M`,
 * `500k`, `2000000`, `2_000_000`), else BENCH_METRICS; how many runs as `--runs N`, else BENCH_RUNS.
 *
 *   npm run bench -- 10M            npm run bench -- 2M --runs 3
 */

/** `2M` → 2,000,000; `500k` → 500,000; `2_000_000` → 2,000,000; NaN when it is none of these. */
export function parseSize(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(raw.replace(/[_,]/g, ''));
  if (!m) return Number.NaN;
  const scale = { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6 }[m[2]] ?? Number.NaN;
  return Math.round(Number(m[1]) * scale);
}

function option(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name) return argv[i + 1];
    if (argv[i].startsWith(`${name}=`)) return argv[i].slice(name.length + 1);
  }
  return undefined;
}

/** The metrics asked for; at least `min` (one simulated minute of the fleet). */
export function metricsArg(fallback: number, min: number, argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): number {
  const bare = argv.find((a, i) => !a.startsWith('--') && !(i > 0 && argv[i - 1].startsWith('--') && !argv[i - 1].includes('=')));
  const raw = option(argv, '--metrics') ?? bare ?? env.BENCH_METRICS;
  const n = raw === undefined ? fallback : parseSize(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`the size must be a whole number of metrics of at least ${min} (e.g. 2M, 10M, 500k), got ${raw}`);
  return n;
}

/** How many times to run the commands (their spread is reported); 1 by default. */
export function runsArg(argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): number {
  const raw = option(argv, '--runs') ?? env.BENCH_RUNS;
  const n = raw === undefined ? 1 : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--runs must be a whole number, 1 or more, got ${raw}`);
  return n;
}
