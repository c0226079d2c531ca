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

/** The text of a file, without its comments (a comment may name what the code must not). */
function codeOf(file: string): string {
  return readFileSync(join(ROOT, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

const CODE = ['src', 'streams', 'projections'].flatMap(sources);
/** A projection's definition file: it declares the definition object (see src/core/projection.ts). */
const isDefinition = (file: string): boolean => /:\s*Projection</.test(codeOf(file));

describe('projections own their tables', () => {
  it('a layout is named only in the definition file that declares it, nowhere else (no test either)', () => {
    const declared = new Map<string, string>();
    for (const file of CODE) {
      for (const [, name] of codeOf(file).matchAll(/\bconst ([A-Z][A-Z0-9_]*_LAYOUT)\b/g)) {
        assert.ok(isDefinition(file), `${file} declares ${name} but is no projection's definition`);
        declared.set(name, file);
      }
    }
    assert.ok(declared.size >= 3, 'the windows projection declares its layouts');
    for (const file of [...CODE, ...sources('test')].filter((f) => !f.endsWith('architecture.unit.spec.ts'))) {
      for (const [name] of codeOf(file).matchAll(/\b[A-Z][A-Z0-9_]*_LAYOUT\b/g)) {
        assert.equal(file, declared.get(name), `${file} names ${name}: open the table through its definition (openTable, openMerged…)`);
      }
    }
  });

  it('table names are built in one place (projectionTables.ts), besides the service\'s own tables and the window-event history\'s', () => {
    const builders = ['projections/projectionTables.ts', 'projections/projectionCatalog.ts', 'projections/windowEventHistory.ts'];
    for (const file of CODE.filter((f) => !builders.includes(f))) {
      const built = /`\$\{[^}`]*[Pp]refix[^}`]*\}[A-Z][A-Za-z]+V\$\{/.exec(codeOf(file));
      assert.equal(built, null, `${file} builds a table name (${built?.[0]}…): take it from the projection's definition`);
    }
  });

  it('tables are opened through their definition: elsewhere only the service\'s own tables and the history\'s are opened by name', () => {
    const service = /^(metaTable|idempotencyTable|logKeysTable|historyTable)\(/;
    const openers = (f: string) => f === 'projections/projectionTables.ts' || f.startsWith('src/adapters/tableStorage/');
    for (const file of CODE.filter((f) => !openers(f))) {
      for (const [call, argument] of codeOf(file).matchAll(/\.(?:blockTable|rowTable)\(([^)]*)/g)) {
        assert.match(argument.trim(), service, `${file} opens a table by name (${call}…): open it through its projection's definition`);
      }
    }
  });

  it('one projector loop: only streams/Projector.ts saves the projections\' checkpoints, and every fold is part of a definition in projections/', () => {
    for (const file of CODE.filter((f) => f !== 'streams/Projector.ts' && f !== 'streams/projectionVersions.ts')) {
      assert.doesNotMatch(codeOf(file), /\.saveCheckpoint\(/, `${file} saves a checkpoint: let the projector loop do it`);
    }
    const folds = CODE.filter((f) => /implements Fold</.test(codeOf(f)));
    assert.ok(folds.length >= 3, `the built-in projections' folds: ${folds}`);
    for (const file of folds) assert.ok(file.startsWith('projections/'), `${file}: a fold is part of a projection's definition, in projections/`);
  });
});
