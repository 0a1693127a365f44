import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RawJsonArray, stringifyWithRaw } from './raw-json.js';

describe('stringifyWithRaw', () => {
  it('splices pre-serialized items in place, nested and empty lists included', () => {
    const doc = { a: 1, fws: [{ tasks: new RawJsonArray(['{"id":"x"}', '{"id":"y","n":[1,2]}']) }, { tasks: new RawJsonArray([]) }], b: 'z' };
    const text = stringifyWithRaw(doc);
    assert.deepEqual(JSON.parse(text), { a: 1, fws: [{ tasks: [{ id: 'x' }, { id: 'y', n: [1, 2] }] }, { tasks: [] }], b: 'z' });
  });

  it('gives the same document as plain JSON.stringify (which parses the items)', () => {
    const doc = { t: new RawJsonArray(['{"s":"\\u0001rawjson:0\\u0001"}', '"quoted \\" text"']) };
    assert.equal(stringifyWithRaw(doc), JSON.stringify(doc));
  });

  it('is not fooled by a string that looks like a placeholder', () => {
    const doc = { name: '\u0001rawjson:0\u0001', t: new RawJsonArray(['{"x":1}']) };
    assert.deepEqual(JSON.parse(stringifyWithRaw(doc)), { name: '\u0001rawjson:0\u0001', t: [{ x: 1 }] });
  });

  it('renders RawJsonArray.map items while serializing, across chunk boundaries, same as plain JSON.stringify', () => {
    for (const n of [0, 1, 255, 256, 257, 1000]) {
      const list = Array.from({ length: n }, (_, i) => ({ i, s: `x${i}` }));
      let rendered = 0;
      const render = (x: { i: number; s: string }): string => {
        rendered++;
        return JSON.stringify(x);
      };
      const doc = { a: [RawJsonArray.map(list, render)], b: 1 };
      assert.equal(rendered, 0, 'nothing rendered before serialization');
      const text = stringifyWithRaw(doc);
      assert.equal(rendered, n);
      assert.equal(text, JSON.stringify({ a: [list], b: 1 }));
      assert.equal(JSON.stringify(doc), text, 'plain JSON.stringify renders them too');
    }
  });

  it('leaves documents without raw parts alone', () => {
    assert.equal(stringifyWithRaw({ a: [1, 'b'] }), '{"a":[1,"b"]}');
    assert.equal(stringifyWithRaw(undefined), 'null');
  });
});
