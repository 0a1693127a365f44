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

  it('leaves documents without raw parts alone', () => {
    assert.equal(stringifyWithRaw({ a: [1, 'b'] }), '{"a":[1,"b"]}');
    assert.equal(stringifyWithRaw(undefined), 'null');
  });
});
