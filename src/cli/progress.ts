import { SingleBar, Presets } from 'cli-progress';

export interface Progress {
  update(value: number): void;
  /** For work whose size is known only once it started (e.g. the events of every partition). */
  setTotal(total: number): void;
  stop(): void;
}

/** A progress bar on a terminal; silent when stderr is not one (CI, pipes). */
export function progressBar(label: string, total: number, unit: string): Progress {
  if (!process.stderr.isTTY) return { update() {}, setTotal() {}, stop() {} };
  const bar = new SingleBar({ format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit}`, stream: process.stderr }, Presets.shades_classic);
  let max = total;
  bar.start(total, 0);
  return { update: (v) => bar.update(Math.min(v, max)), setTotal: (t) => { max = t; bar.setTotal(t); }, stop: () => bar.stop() };
}
