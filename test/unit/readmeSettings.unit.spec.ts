import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SETTINGS } from '../../src/config/settings';

describe('the README documents the settings', () => {
  it('names every environment variable the settings schema reads', () => {
    const readme = readFileSync(resolve(__dirname, '../../../README.md'), 'utf8');
    const missing = Object.values(SETTINGS).map((s) => s.env).filter((env) => !readme.includes(`\`${env}\``));
    assert.deepEqual(missing, []);
  });
});
