/**
 * Preloaded (`node --require`) into every Node process a benchmark starts, through NODE_OPTIONS:
 * at exit, the process appends its peak RSS and what it ran to BENCH_RSS_FILE. A parent cannot
 * read a child's peak RSS once it has exited, and `opsfold replay` runs its work in a child of
 * its own (the heap cap), so each process reports itself.
 */
import { appendFileSync } from 'node:fs';

const file = process.env.BENCH_RSS_FILE;
if (file) {
  process.on('exit', () => {
    const peakBytes = process.resourceUsage().maxRSS * 1024;
    appendFileSync(file, `${JSON.stringify({ pid: process.pid, peakBytes, argv: process.argv.slice(1) })}\n`);
  });
}
