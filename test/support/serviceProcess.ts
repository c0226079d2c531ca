import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const BIN = resolve(__dirname, '../../../bin/opsfold.js');
export const ROOT = resolve(__dirname, '../../..');

/** A service started by a test in a process group of its own, so that a signal can go to the whole group. */
export interface ServiceProcess {
  child: ChildProcess;
  /** The process group (the spawned process leads it). */
  pgid: number;
  base: string;
  stderr(): string;
  /** Resolves with the exit code (or 128 + the signal's number) once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  env?: Record<string, string | undefined>;
  /** The command to run instead of `node bin/opsfold.js start …` (e.g. npm start, or sh). */
  command?: [string, ...string[]];
  /** Where it runs (default: the repository's root). */
  cwd?: string;
}

/**
 * The process groups of the services this test file started that have not exited yet (node --test
 * runs each file in a process of its own), from their spawn on: see `killServiceProcesses`.
 */
const running = new Set<{ pgid: number; exited: Promise<unknown> }>();

/**
 * Starts `opsfold start --port 0 --no-simulate --data-dir DIR` in a new process group, and resolves
 * once it says where it listens. Rejects with its stderr when it exits before.
 */
export function startServiceProcess(dataDir: string, options: StartOptions = {}): Promise<ServiceProcess> {
  const [command, ...args] = options.command ?? [process.execPath, BIN, 'start', '--port', '0', '--no-simulate', '--data-dir', dataDir];
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    detached: true,
    env: { ...process.env, OPSFOLD_FLUSH_INTERVAL_MS: '200', WINDOW_IDLE_CLOSE_SECONDS: '1', ...options.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let text = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
  if (child.pid !== undefined) {
    const entry = { pgid: child.pid, exited };
    running.add(entry);
    void exited.then(() => running.delete(entry));
  }
  return new Promise((resolvePromise, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /read API and dashboard on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (m) resolvePromise({ child, pgid: child.pid!, base: m[1], stderr: () => text, exited });
    });
    void exited.then(({ code, signal }) => reject(new Error(`service exited (${signal ?? code}) before it listened: ${text}`)));
  });
}

/** Sends `signal` to the service's process group (unless it has exited), and resolves with how it exited. */
export async function stopServiceProcess(service: ServiceProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (service.child.exitCode === null && service.child.signalCode === null) process.kill(-service.pgid, signal);
  return service.exited;
}

/**
 * Kills the process group of every service this file started that still runs, and waits until each
 * has exited: for an `after` hook, so that a test that failed halfway leaves no service behind.
 */
export async function killServiceProcesses(): Promise<void> {
  await Promise.all([...running].map(({ pgid, exited }) => {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Gone between its exit and the 'exit' event.
    }
    return exited;
  }));
}

/** A process as /proc shows it: its state (R, S, Z…), parent and process group. */
export interface ProcInfo {
  pid: number;
  state: string;
  ppid: number;
  pgid: number;
}

/** /proc/PID/stat, or undefined when no such process exists (not even as a zombie). */
export function procInfo(pid: number): ProcInfo | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses, so split after the last ')'.
  const [state, ppid, pgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { pid, state, ppid: Number(ppid), pgid: Number(pgid) };
}

/** Every process of group `pgid` still running (zombies left out: they have ended, only their parent has not read it). */
export function livingInGroup(pgid: number): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number)
    .map(procInfo).filter((p): p is ProcInfo => p !== undefined && p.pgid === pgid && p.state !== 'Z').map((p) => p.pid);
}

/** Whether `pid` runs (exists and is not a zombie). */
export const isRunning = (pid: number): boolean => {
  const info = procInfo(pid);
  return info !== undefined && info.state !== 'Z';
};

/** The body of /healthz, with its status code. */
export async function health(base: string): Promise<{ status: number; body: Record<string, unknown> & { status: string; problems: string[] } }> {
  const res = await fetch(`${base}/healthz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { status: string; problems: string[] } };
}
