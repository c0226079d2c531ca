import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve, relative, dirname } from 'node:path';

const ROOT = resolve(__dirname, '../../..');

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    return statSync(join(ROOT, path)).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative import of a file, as a path from the project root, plus its package imports. */
function importsOf(file: string): { local: string[]; packages: string[] } {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
  return {
    local: specs.filter((s) => s.startsWith('.')).map((s) => relative(ROOT, resolve(ROOT, dirname(file), s))),
    packages: specs.filter((s) => !s.startsWith('.')),
  };
}

describe('imports point one way', () => {
  it('src/core imports nothing of ours outside src/core, and no rxjs, @azure/* or express', () => {
    for (const file of sources('src/core')) {
      const { local, packages } = importsOf(file);
      for (const target of local) assert.ok(target.startsWith('src/core'), `${file} imports ${target}`);
      for (const p of packages) assert.ok(!/^(rxjs|@azure\/|express)/.test(p), `${file} imports ${p}`);
    }
  });

  it('projections/ imports only src/core and itself', () => {
    for (const file of sources('projections')) {
      for (const target of importsOf(file).local) assert.ok(target.startsWith('src/core') || target.startsWith('projections'), `${file} imports ${target}`);
    }
  });

  it('streams/ imports only src/core, projections/ and itself', () => {
    for (const file of sources('streams')) {
      for (const target of importsOf(file).local) {
        assert.ok(['src/core', 'projections', 'streams'].some((p) => target.startsWith(p)), `${file} imports ${target}`);
      }
    }
  });
});
