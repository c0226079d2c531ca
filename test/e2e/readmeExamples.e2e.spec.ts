import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SETTINGS } from '../../src/config/settings';
import { eventually } from '../support/eventually';
import { headDifference, jsonDifference, linesDifference, parseShownJson, readmeBlocks, type ReadmeStep } from '../support/readmeExamples';
import { BIN, ROOT, startServiceProcess, stopServiceProcess, type ServiceProcess } from '../support/serviceProcess';

/**
 * Runs the README's tested examples (```sh tested blocks; see test/support/readmeExamples.ts) as a
 * user would, in a fresh directory each, with the service their `npx opsfold start … &` line starts:
 * every command through `sh` as written, except that `npx opsfold` is this checkout's bin and the
 * service listens on a port the OS picks (`localhost:8080` in a command becomes it). curl writes the
 * status on stderr (a `write-out` in the session's own ~/.curlrc), so pipes see what a user's see.
 * A GET is asked again until it answers as shown (the projections fold asynchronously); a POST or a
 * CLI command runs once.
 */
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const BLOCKS = readmeBlocks(README);
const START = /^((?:[A-Z_][A-Z0-9_]*=\S+\s+)*)npx opsfold start\b([^&#]*)&\s*(?:#.*)?$/;
const EXPORT = /^export ([A-Z_][A-Z0-9_]*)=(?:'([^']*)'|(\S*))\s*(?:#.*)?$/s;
const STATUS = /^@status (\d{3})$/m;

/** The README's example SPOC message (`message.json`): the ```json block of its "The SPOC message" paragraph. */
function readmeMessage(): string {
  const m = /\*\*The SPOC message\*\*[\s\S]*?```json\n([\s\S]*?)```/.exec(README);
  assert.ok(m, 'README.md has the SPOC message');
  return m[1];
}

interface Session {
  dir: string;
  env: Record<string, string>;
  service?: ServiceProcess;
  port?: number;
}

/** The test runner's environment without opsfold's settings or node's options: the examples say which they set. */
function cleanEnv(dir: string): Record<string, string> {
  const drop = new Set<string>([...Object.values(SETTINGS).map((s) => s.env), 'NODE_OPTIONS']);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !drop.has(k))) as Record<string, string>;
  return { ...env, HOME: dir, XDG_CONFIG_HOME: dir, CURL_HOME: dir };
}

async function openSession(): Promise<Session> {
  const dir = await mkdtemp(join(tmpdir(), 'opsfold-readme-'));
  await writeFile(join(dir, '.curlrc'), 'write-out = "%{stderr}@status %{http_code}\\n"\n');
  await writeFile(join(dir, 'message.json'), readmeMessage());
  return { dir, env: cleanEnv(dir) };
}

async function closeSession(session: Session | undefined): Promise<void> {
  if (!session) return;
  if (session.service) await stopServiceProcess(session.service);
  await rm(session.dir, { recursive: true, force: true });
}

function run(session: Session, step: ReadmeStep): Promise<{ code: number; stdout: string; stderr: string }> {
  let command = step.command.replace(/\bnpx opsfold\b/g, `"${process.execPath}" "${BIN}"`);
  if (session.port !== undefined) command = command.replaceAll('localhost:8080', `127.0.0.1:${session.port}`);
  else assert.ok(!command.includes('localhost:8080'), `README.md:${step.line}: asks the service before a tested block started one`);
  return new Promise((done) => {
    execFile('sh', ['-c', command], { cwd: session.dir, env: session.env, timeout: 120_000, maxBuffer: 16 * 2 ** 20 }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

const printedLines = (text: string): string[] => {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
};

/** Where what `step` did differs from what the README shows, or undefined when it is as shown. */
function difference(step: ReadmeStep, result: { code: number; stdout: string; stderr: string }): string | undefined {
  const isCurl = /^curl\b/.test(step.command);
  const shownErr = step.shown.filter((l) => l.startsWith('stderr: ')).map((l) => l.slice('stderr: '.length));
  let shownOut = step.shown.filter((l) => !l.startsWith('stderr: '));
  const withHead = isCurl && /\s-\w*i\w*\s/.test(` ${step.command} `);
  if (result.code !== 0) return `exit ${result.code}: ${result.stderr}`;
  if (isCurl) {
    assert.ok(shownOut.length > 0, `README.md:${step.line}: a curl example shows what it prints`);
    const status = STATUS.exec(result.stderr)?.[1];
    let expected = '200';
    const shownStatus = withHead ? undefined : /^(\d{3})(?: (.*))?$/.exec(shownOut[0]);
    if (shownStatus) {
      expected = shownStatus[1];
      shownOut = [shownStatus[2] ?? '', ...shownOut.slice(1)].filter((l, i) => i > 0 || l !== '');
    }
    if (!withHead && status !== expected) return `status ${status}, shown ${expected}: ${result.stdout}`;
  }
  const stderrLines = printedLines(result.stderr.replace(new RegExp(STATUS.source, 'gm'), ''));
  for (const line of shownErr) {
    if (!stderrLines.some((l) => linesDifference([line], [l]) === undefined)) return `stderr has no line ${JSON.stringify(line)}:\n${result.stderr}`;
  }
  if (withHead) return headDifference(shownOut, printedLines(result.stdout.split(/\r?\n\r?\n/)[0]));
  const text = shownOut.join('\n');
  if (/^\s*[[{]/.test(text)) {
    let actual: unknown;
    try {
      actual = JSON.parse(result.stdout);
    } catch {
      return `not JSON: ${result.stdout}`;
    }
    const d = jsonDifference(parseShownJson(text), actual);
    return d === undefined ? undefined : `${d}\nprinted: ${result.stdout}`;
  }
  return linesDifference(shownOut, printedLines(result.stdout));
}

async function runStep(session: Session, step: ReadmeStep): Promise<void> {
  const exported = EXPORT.exec(step.command);
  if (exported) {
    session.env[exported[1]] = exported[2] ?? exported[3];
    return;
  }
  const start = START.exec(step.command);
  if (start) {
    assert.equal(session.service, undefined, `README.md:${step.line}: one service per session`);
    const env = { ...session.env };
    for (const [, name, value] of start[1].matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)) env[name] = value.replace(/^'(.*)'$/, '$1');
    const args = start[2].trim().split(/\s+/).filter(Boolean);
    session.service = await startServiceProcess('', { cwd: session.dir, env, command: [process.execPath, BIN, 'start', ...args, '--port', '0'] });
    session.port = Number(new URL(session.service.base).port);
    return;
  }
  const retried = /^curl\b/.test(step.command) && !/\s(-d|--data\S*|-X\s*POST)\s/.test(` ${step.command} `);
  const what = `README.md:${step.line}: ${step.command.split('\n')[0]}`;
  if (!retried) {
    const d = difference(step, await run(session, step));
    assert.equal(d, undefined, `${what}\n${d}`);
    return;
  }
  let last: string | undefined;
  try {
    await eventually(what, async () => {
      last = difference(step, await run(session, step));
      return last === undefined;
    }, 30_000);
  } catch {
    assert.fail(`${what}\nstill not as shown after 30 s: ${last}`);
  }
}

describe("the README's tested examples, run as written against a started service", () => {
  let session: Session | undefined;
  after(() => closeSession(session));

  it('the README has tested blocks: curl examples with what they print', () => {
    const curls = BLOCKS.flatMap((b) => b.steps).filter((s) => s.command.startsWith('curl'));
    assert.ok(curls.length >= 20, `only ${curls.length} tested curl examples`);
    assert.ok(curls.every((s) => s.shown.length > 0));
  });

  for (const block of BLOCKS) {
    it(`README.md:${block.line} (${block.steps.length} commands)`, async () => {
      if (!block.continued) {
        await closeSession(session);
        session = await openSession();
      }
      assert.ok(session, `README.md:${block.line}: continues a session, but no tested block came before`);
      for (const step of block.steps) await runStep(session, step);
    });
  }
});

