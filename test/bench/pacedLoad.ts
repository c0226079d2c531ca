import http from 'node:http';

/**
 * An open-loop load at a fixed rate, as wrk2 and k6's constant-arrival-rate drive one: request i is
 * due at start + i / rate whatever became of the requests before it, and its latency counts from
 * when it was due, not from when a free connection sent it, so a stall of the server shows in every
 * request it held up (no coordinated omission).
 *
 * Why not autocannon's `overallRate`: autocannon gives each connection its share of the second and
 * lets it send that share back to back as soon as the second begins (httpClient.js resets
 * `reqsMadeThisSecond` on a 1 s interval), so "1,000 requests/s" over 16 connections is a burst
 * at full concurrency for part of each second and silence for the rest: its latencies are those of
 * the most the server can take. Requests arriving spread over the second are what a rate means.
 *
 * The pacing timer ticks about every millisecond; requests that fell due since the last tick go out
 * together, and the tick's own lateness is counted in their latency (it errs against the server).
 */
export interface PacedResult {
  /** Each answered request's latency from when it was due, ms, in ascending order. */
  latencies: Float64Array;
  /** Requests answered with a 2xx, per second of the run. */
  rate: number;
  /** Requests that failed (an error or a status other than 2xx). */
  failed: number;
}

export async function pacedLoad(options: { base: string; paths: string[]; rate: number; durationS: number; connections: number }): Promise<PacedResult> {
  const { base, paths, rate, durationS, connections } = options;
  const url = new URL(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const total = Math.round(rate * durationS);
  const intervalMs = 1000 / rate;
  const latencies = new Float64Array(total);
  let answered = 0;
  let ok = 0;
  let errors = 0;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const start = performance.now();

  const send = (i: number) => {
    const due = start + i * intervalMs;
    const req = http.request({ host: url.hostname, port: url.port, path: paths[i % paths.length], agent }, (res) => {
      res.resume();
      res.on('end', () => {
        latencies[answered++] = performance.now() - due;
        if (res.statusCode! >= 200 && res.statusCode! < 300) ok++;
        if (answered + errors === total) finish();
      });
    });
    req.on('error', () => {
      if (++errors + answered === total) finish();
    });
    req.end();
  };

  let sent = 0;
  const tick = () => {
    const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
    while (sent < due) send(sent++);
    if (sent < total) setTimeout(tick, 1);
  };
  tick();
  await done;
  const elapsedS = (performance.now() - start) / 1000;
  agent.destroy();
  return { latencies: latencies.subarray(0, answered).sort(), rate: ok / Math.max(elapsedS, durationS), failed: total - ok };
}

/** The q-quantile (0..1) of ascending values: the smallest value that at least q of them are at or under. */
export function quantileOfSorted(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
