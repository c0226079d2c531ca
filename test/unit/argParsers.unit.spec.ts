import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { ArgumentError, checkArgumentsByName, fraction, ianaTimeZone, oneOf, portNumber, positiveInt, readableFile, wholeNumber } from '../../src/cli/argParsers';

function refusal(parse: () => unknown): ArgumentError {
  try {
    parse();
  } catch (error) {
    assert.ok(error instanceof ArgumentError, String(error));
    return error;
  }
  assert.fail('the value was accepted');
}

describe('command-line argument parsers', () => {
  it('positiveInt takes digits only, 1 or more, and names the option in its refusal', () => {
    const tenants = positiveInt('--tenants');
    assert.equal(tenants('12'), 12);
    assert.equal(tenants(' 3 '), 3);
    for (const bad of ['abc', '-5', '0', '1.5', '1e3', '', '0x10', '9007199254740993']) {
      const error = refusal(() => tenants(bad));
      assert.equal(error.message, `--tenants must be a whole number, 1 or more, got ${JSON.stringify(bad)}`);
      assert.equal(error.parameter, '--tenants');
    }
  });

  it('wholeNumber and portNumber keep to their range', () => {
    assert.equal(wholeNumber('--heap-mb')('0'), 0);
    assert.equal(portNumber('--port')('65535'), 65535);
    assert.equal(refusal(() => portNumber('--port')('65536')).message, '--port must be a whole number, from 0 to 65535, got "65536"');
  });

  it('fraction takes decimals from 0 to 1', () => {
    const late = fraction('--late');
    assert.equal(late('0.25'), 0.25);
    assert.equal(late('.5'), 0.5);
    assert.equal(late('1'), 1);
    for (const bad of ['2', '-0.1', 'half', '1.0001', 'NaN']) assert.match(refusal(() => late(bad)).message, /^--late must be a fraction from 0 to 1/);
  });

  it('oneOf and ianaTimeZone name the choices', () => {
    assert.equal(oneOf('--to', ['log', 'servicebus'])('log'), 'log');
    assert.equal(refusal(() => oneOf('--to', ['log', 'servicebus'])('queue')).message, '--to must be one of log, servicebus, got "queue"');
    assert.equal(ianaTimeZone('--timezone')('America/Chicago'), 'America/Chicago');
    assert.match(refusal(() => ianaTimeZone('--timezone')('Central')).message, /^--timezone must be an IANA time zone/);
  });

  describe('readableFile', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'opsfold-args-'));
      await writeFile(join(dir, 'm.ndjson'), '{}\n');
    });
    after(() => rm(dir, { recursive: true, force: true }));

    it('passes a readable file and, where allowed, - for stdin', () => {
      assert.equal(readableFile('FILE')(join(dir, 'm.ndjson')), join(dir, 'm.ndjson'));
      assert.equal(readableFile('FILE', { stdin: true })('-'), '-');
    });

    it('names a missing file, a directory, and - where stdin is not read', () => {
      assert.equal(refusal(() => readableFile('FILE')(join(dir, 'nope.ndjson'))).message, `FILE ${join(dir, 'nope.ndjson')}: no such file`);
      assert.equal(refusal(() => readableFile('FILE')(dir)).message, `FILE ${dir}: is a directory, not a file`);
      assert.equal(refusal(() => readableFile('FILE')('-')).message, 'FILE -: no such file');
    });
  });

  it('checkArgumentsByName gives a command added later the parser of its option names, and keeps a parser of its own', async () => {
    const seen: Record<string, unknown> = {};
    const program = new Command('opsfold').exitOverride();
    program.command('late').option('--limit <n>', 'at most this many', '1000').action((o: Record<string, unknown>) => void Object.assign(seen, o));
    program.command('own').addOption(new Option('--limit <n>', 'anything').argParser((v: string) => `own:${v}`)).action((o: Record<string, unknown>) => void Object.assign(seen, o));
    checkArgumentsByName(program);

    await program.parseAsync(['node', 'opsfold', 'late', '--limit', '7']);
    assert.equal(seen.limit, 7);
    await assert.rejects(program.parseAsync(['node', 'opsfold', 'late', '--limit', 'abc']), (e: unknown) => e instanceof ArgumentError && e.message === '--limit must be a whole number, 1 or more, got "abc"');
    await program.parseAsync(['node', 'opsfold', 'own', '--limit', 'abc']);
    assert.equal(seen.limit, 'own:abc');
  });
});
