import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { headDifference, jsonDifference, linesDifference, parseShownJson, readmeBlocks } from '../support/readmeExamples';

const differs = (shown: string, actual: unknown) => jsonDifference(parseShownJson(shown), actual);

describe("the README examples' reader: what a shown output allows", () => {
  it('reads commands across an open quote and a here-document, with the # lines under each as their output', () => {
    const readme = [
      'text', '```sh tested', 'npx opsfold start --no-simulate &', "curl -s -d '{\"a\":", ' 1}\' x   # a comment, not output', '# 202 {"ok":true}',
      "cat > f.csv <<'EOF'", 'a,b', '# not a comment here', 'EOF', '```', '```sh', 'curl -s nottested', '```', '```sh tested continued', 'curl -s y', '#', '# z', '```',
    ].join('\n');
    const blocks = readmeBlocks(readme);
    assert.deepEqual(blocks.map((b) => [b.line, b.continued, b.steps.length]), [[2, false, 3], [15, true, 1]]);
    assert.deepEqual(blocks[0].steps[1], { command: "curl -s -d '{\"a\":\n 1}' x   # a comment, not output", shown: ['202 {"ok":true}'], line: 4 });
    assert.deepEqual(blocks[0].steps[2].command, "cat > f.csv <<'EOF'\na,b\n# not a comment here\nEOF");
    assert.deepEqual(blocks[1].steps[0].shown, ['', 'z']);
  });

  it('compares JSON exactly: values, members and their order', () => {
    assert.equal(differs('{"a":1,"b":[2,"x"]}', { a: 1, b: [2, 'x'] }), undefined);
    assert.match(differs('{"a":1}', { a: 1.5 })!, /\$\.a/);
    assert.match(differs('{"a":1}', { a: 1, b: 2 })!, /members/);
    assert.match(differs('{"a":1,"b":2}', { b: 2, a: 1 })!, /members/);
    assert.match(differs('{"a":[1]}', { a: [1, 2] })!, /2 items/);
  });

  it('lets … stand for a value, the rest of an object, or text inside a string; nothing else', () => {
    assert.equal(differs('{"at":…,"n":1}', { at: '2026-12-04T08:30:12.411Z', n: 1 }), undefined);
    assert.match(differs('{"at":…,"n":1}', { n: 1 })!, /members/);
    assert.equal(differs('{"status":"ok",…}', { status: 'ok', pid: 7, port: 1 }), undefined);
    assert.match(differs('{"status":"ok",…}', { status: 'failing', pid: 7 })!, /\$\.status/);
    assert.match(differs('{"status":"ok",…}', { pid: 7 })!, /members/);
    assert.equal(differs('{"row":"…-000004"}', { row: '0000000000000288-000004' }), undefined);
    assert.match(differs('{"row":"…-000004"}', { row: '0000000000000288-000005' })!, /\$\.row/);
    assert.equal(differs('["a…"]', ['a…']), undefined, 'an ellipsis inside a string is text around a wildcard, not a value');
  });

  it('compares printed lines exactly (… any text within a line), and a head by its status line and the shown headers in order', () => {
    assert.equal(linesDifference(['a 1', 'b …'], ['a 1', 'b 22']), undefined);
    assert.match(linesDifference(['a 1'], ['a 1', 'b 2'])!, /2 lines/);
    assert.match(linesDifference(['a 1'], ['a 2'])!, /line 1/);
    const head = ['HTTP/1.1 204 No Content', 'Vary: Origin', 'Access-Control-Allow-Origin: x', 'Date: now'];
    assert.equal(headDifference(['HTTP/1.1 204 No Content', 'Access-Control-Allow-Origin: x'], head), undefined);
    assert.match(headDifference(['HTTP/1.1 200 OK'], head)!, /status line/);
    assert.match(headDifference(['HTTP/1.1 204 No Content', 'Access-Control-Allow-Origin: x', 'Vary: Origin'], head)!, /in this order/);
  });
});
