import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidInputError } from '../../src/core/errors';
import {
  assertKeyLength, bucketKey, decodeKeyPart, decodePartition, encodeKeyPart, encodePartition, MAX_KEY_LENGTH,
} from '../../src/adapters/tableStorage/keyEncoding';

/** What Table Storage refuses in a key (Azurite checks exactly this), plus our separator and quote. */
const FORBIDDEN_IN_KEY = /[\u0000-\u001f\u007f-\u009f/\\#?|']/;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('keyEncoding', () => {
  it('leaves ids without reserved characters unchanged', () => {
    assert.equal(encodeKeyPart('win_disk.percent_idle_time'), 'win_disk.percent_idle_time');
    assert.equal(encodeKeyPart('Shared-ngXXH+=: é漢字😀'), 'Shared-ngXXH+=: é漢字😀');
  });

  it('escapes the slash of a masked tenant id and decodes it back', () => {
    const tenant = 'wYAVC3oWQU+ozhgAAg5f/w==637841132085596403';
    const encoded = encodeKeyPart(tenant);
    assert.equal(encoded, 'wYAVC3oWQU+ozhgAAg5f%2Fw==637841132085596403');
    assert.equal(decodeKeyPart(encoded), tenant);
  });

  it('escapes # ? \\ \' % and | as %XX', () => {
    assert.equal(encodeKeyPart("a#b?c\\d'e"), 'a%23b%3Fc%5Cd%27e');
    assert.equal(encodeKeyPart('100%|x'), '100%25%7Cx');
    assert.equal(decodeKeyPart('a%23b%3Fc%5Cd%27e'), "a#b?c\\d'e");
  });

  it('escapes control characters, C1 ones as their two UTF-8 bytes', () => {
    assert.equal(encodeKeyPart('a\u0000b\tc\u007f'), 'a%00b%09c%7F');
    assert.equal(encodeKeyPart('\u0085\u009f'), '%C2%85%C2%9F');
    assert.equal(decodeKeyPart('%C2%85%C2%9F'), '\u0085\u009f');
  });

  it('joins partition components with | and splits them back, also when they contain |', () => {
    const parts = ['wYAVC3oWQU+ozhgAAg5f/w==637841132085596403', 'a|b', '', 'Sharedfk6hZ4v5Xkmu0clBsg+aYw==63784'];
    const encoded = encodePartition(parts);
    assert.equal(encoded.split('|').length, 4);
    assert.deepEqual(decodePartition(encoded), parts);
  });

  it('refuses a partition without components', () => {
    assert.throws(() => encodePartition([]), InvalidInputError);
  });

  it('refuses to decode a % that starts no escape', () => {
    assert.throws(() => decodeKeyPart('50%'), InvalidInputError);
    assert.throws(() => decodeKeyPart('%zz'), InvalidInputError);
  });

  it('refuses to decode escapes that are not UTF-8', () => {
    assert.throws(() => decodeKeyPart('%C2'), InvalidInputError);
  });

  it('names the id when an encoded key is too long', () => {
    assert.throws(() => assertKeyLength('x'.repeat(MAX_KEY_LENGTH + 1), 'row "x…"'), /row "x…" is 513 characters/);
    assertKeyLength('x'.repeat(MAX_KEY_LENGTH), 'row');
  });

  it('refuses text that is not well-formed UTF-16 (a lone surrogate): no request could carry it', () => {
    for (const raw of ['v\ud800', '\udc00x', 'a\ud800\ud800b']) assert.throws(() => encodeKeyPart(raw), /not well-formed Unicode/);
    assert.equal(decodeKeyPart(encodeKeyPart('😀/')), '😀/');
  });

  it('round-trips any well-formed string, and never leaves a character a key may not hold', () => {
    const anyString = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)) }),
      fc.string({ unit: fc.constantFrom('/', '\\', '#', '?', '%', '|', "'", '+', '=', 'a', '\u0000', '\u0085', '😀') }),
    );
    fc.assert(
      fc.property(anyString, (raw) => {
        if (LONE_SURROGATE.test(raw)) return void assert.throws(() => encodeKeyPart(raw), InvalidInputError);
        const encoded = encodeKeyPart(raw);
        assert.equal(decodeKeyPart(encoded), raw);
        assert.doesNotMatch(encoded, FORBIDDEN_IN_KEY);
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips any list of components through a partition key', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }), { minLength: 1, maxLength: 5 }), (parts) => {
        assert.deepEqual(decodePartition(encodePartition(parts)), parts);
      }),
      { numRuns: 1000 },
    );
  });

  it('hashes a key to the same bucket as ever (FNV-1a: blocks already stored are found where they were written)', () => {
    assert.equal(bucketKey('a', 32), 'b12'); // FNV-1a("a") = 0xe40c292c
    assert.equal(bucketKey('a', 1000), 'b220');
    assert.equal(bucketKey('wYAVC3oWQU+ozhgAAg5f%2Fw==637841132085596403', 32), 'b22');
    assert.equal(bucketKey('anything', 1), 'b0');
    assert.doesNotMatch(bucketKey('a/b', 7), FORBIDDEN_IN_KEY);
  });
});
