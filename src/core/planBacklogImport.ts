import type { CsvSample, LineError } from './backlogCsv';

export interface ImportPlan {
  /** Samples not yet in the log, ascending by time: what an import appends. */
  fresh: CsvSample[];
  /** Lines whose sample (team + instant, same count) is already in the log. */
  alreadyInLog: number;
  /** Lines that repeat an earlier line of the same file (same instant, same count). */
  repeatedInFile: number;
  /** Lines that contradict the log or an earlier line: same instant, another count. */
  errors: LineError[];
}

/**
 * Decides what an import of one team's history appends, so that importing the same rows again
 * adds nothing. A sample's identity is team + instant; the log is append-only, so a line that
 * gives another count for an instant already recorded is an error rather than a silent change.
 */
export function planBacklogImport(rows: readonly CsvSample[], inLog: ReadonlyMap<number, number> = new Map()): ImportPlan {
  const firstLine = new Map<number, CsvSample>();
  const fresh: CsvSample[] = [];
  const errors: ImportPlan['errors'] = [];
  let alreadyInLog = 0;
  let repeatedInFile = 0;
  const iso = (ms: number) => new Date(ms).toISOString();
  for (const row of rows) {
    const logged = inLog.get(row.sampledAtMs);
    const earlier = firstLine.get(row.sampledAtMs);
    if (logged !== undefined) {
      if (logged === row.count) alreadyInLog++;
      else errors.push({ line: row.line, message: `the log already holds ${logged} incidents at ${iso(row.sampledAtMs)}; this line says ${row.count}` });
    } else if (earlier !== undefined) {
      if (earlier.count === row.count) repeatedInFile++;
      else errors.push({ line: row.line, message: `line ${earlier.line} gives ${earlier.count} incidents for the same instant ${iso(row.sampledAtMs)}; this line says ${row.count}` });
    } else {
      firstLine.set(row.sampledAtMs, row);
      fresh.push(row);
    }
  }
  fresh.sort((a, b) => a.sampledAtMs - b.sampledAtMs);
  return { fresh, alreadyInLog, repeatedInFile, errors };
}
