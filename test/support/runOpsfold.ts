import { execFile } from 'node:child_process';
import { BIN } from './serviceProcess';

/** How a command ended: its exit code (1 when it could not be run at all), and what it printed. */
export interface OpsfoldRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node bin/opsfold.js ARGS` to its end with exactly `env` as its environment (pass
 * `{ ...process.env, … }` to hand this process's on), and resolves however it exits.
 */
export function runOpsfold(args: readonly string[], env: NodeJS.ProcessEnv): Promise<OpsfoldRun> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { env }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}
