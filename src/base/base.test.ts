import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toBase64, utf8Length } from './bytes.js';
import { parseDurationMs } from './duration.js';
import { parseFlags } from './flags.js';
import { BoundedQueue, RingBuffer } from './queue.js';
import { Random } from './random.js';
import { RecordIODecoder, encodeRecord } from './recordio.js';

test('a seed replays the same random stream; another seed does not', () => {
  const a = new Random(42);
  const b = new Random(42);
  const c = new Random(43);
  const xs = Array.from({ length: 100 }, () => a.nextU32());
  assert.deepEqual(
    Array.from({ length: 100 }, () => b.nextU32()),
    xs,
  );
  assert.notDeepEqual(
    Array.from({ length: 100 }, () => c.nextU32()),
    xs,
  );
  assert.match(new Random(1).uuid(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('random integers stay in range and cover it', () => {
  const r = new Random(7);
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const v = r.int(10);
    assert.ok(v >= 0 && v < 10);
    seen.add(v);
  }
  assert.equal(seen.size, 10);
});

test('recordio frames by UTF-8 byte length and decodes split chunks', () => {
  const rec = encodeRecord('{"name":"héllo ✓"}');
  assert.equal(rec, `${Buffer.byteLength('{"name":"héllo ✓"}')}\n{"name":"héllo ✓"}`);
  const bytes = Buffer.from(encodeRecord('{"a":1}') + rec + encodeRecord('{"b":2}'));
  const dec = new RecordIODecoder();
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += 3) out.push(...dec.push(bytes.subarray(i, i + 3)));
  assert.deepEqual(out, ['{"a":1}', '{"name":"héllo ✓"}', '{"b":2}']);
});

test('recordio rejects a record longer than its limit and a garbage header', () => {
  assert.throws(() => new RecordIODecoder(10).push(Buffer.from('100\n{}')), /exceeds/);
  assert.throws(() => new RecordIODecoder().push(Buffer.from('abc\n{}')), /bad record length/);
});

test('base64 and utf8 length agree with Node', () => {
  for (const s of ['', 'a', 'ab', 'abc', 'abcd', '✓ snow ☃ 😀']) {
    assert.equal(utf8Length(s), Buffer.byteLength(s));
    assert.equal(toBase64(new Uint8Array(Buffer.from(s))), Buffer.from(s).toString('base64'));
  }
});

test('a bounded queue refuses past capacity; a ring buffer keeps the newest', () => {
  const q = new BoundedQueue<number>(2);
  assert.equal(q.push(1), true);
  assert.equal(q.push(2), true);
  assert.equal(q.push(3), false);
  assert.equal(q.shift(), 1);
  assert.equal(q.push(3), true);
  assert.deepEqual([...q], [2, 3]);
  const r = new RingBuffer<number>(3);
  for (let i = 1; i <= 5; i++) r.push(i);
  assert.deepEqual(r.toArray(), [3, 4, 5]);
});

test('durations parse in the Mesos forms', () => {
  assert.equal(parseDurationMs('15secs'), 15_000);
  assert.equal(parseDurationMs('500ms'), 500);
  assert.equal(parseDurationMs('2mins'), 120_000);
  assert.equal(parseDurationMs('1.5s'), 1500);
  assert.equal(parseDurationMs('3'), 3000);
  assert.equal(parseDurationMs('fast'), undefined);
});

test('flags: = and space forms, booleans, underscores equal dashes, -- ends flags', () => {
  const { flags, positionals } = parseFlags(
    ['--work_dir=/x', '--port', '5', '--json', 'list', '--no-follow', '--', '--not-a-flag'],
    new Set(['json', 'follow']),
  );
  assert.equal(flags.get('work-dir'), '/x');
  assert.equal(flags.get('port'), '5');
  assert.equal(flags.get('json'), 'true');
  assert.equal(flags.get('follow'), 'false');
  assert.deepEqual(positionals, ['list', '--not-a-flag']);
});
