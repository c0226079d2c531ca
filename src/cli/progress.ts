import { SingleBar, Presets } from 'cli-progress';

/** A progress bar on a terminal; silent when stderr is not one (CI, pipes). */
export function progressBar(label: string, total: number, unit: string): { update(value: number): void; stop(): void } {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new SingleBar({ format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit}`, stream: process.stderr }, Presets.shades_classic);
  bar.start(total, 0);
  return { update: (v) => bar.update(Math.min(v, total)), stop: () => bar.stop() };
}
