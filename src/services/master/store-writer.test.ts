import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryStore } from '../../adapters/store/memory.js';
import type { StoreOp } from '../../ports/store.js';
import { ManualClock, settle } from '../agent/fakes.js';
import { StoreWriter } from './store-writer.js';

const defer = (fn: () => void): void => queueMicrotask(fn);

describe('StoreWriter', () => {
  test('a put callback runs once its value is committed, and a later put of the key replaces it', async () => {
    const store = new MemoryStore();
    const w = new StoreWriter(store, defer);
    const seen: string[] = [];
    w.put('k', 1, () => seen.push(`k1 committed, store has ${store.commits} batch`));
    w.put('k', 2, () => seen.push(`k2 committed, store has ${store.commits} batch`));
    w.put('j', 1);
    assert.equal(seen.length, 0, 'nothing before the commit');
    await w.flush();
    assert.deepEqual(seen, ['k2 committed, store has 1 batch']);
    assert.equal((await store.get('k'))?.value, '2');
    w.put('k', 3, () => seen.push('k3'));
    w.delete('k');
    await w.flush();
    assert.deepEqual(seen, ['k2 committed, store has 1 batch'], 'a delete drops the callback of the value it replaced');
  });

  test('a failed batch fails its own flush and runs none of its callbacks; the next flush works', async () => {
    const store = new MemoryStore();
    let fail = true;
    const real = store.batch.bind(store);
    store.batch = (ops: StoreOp[]) => (fail ? Promise.reject(new Error('disk full')) : real(ops));
    const w = new StoreWriter(store, defer);
    const seen: string[] = [];
    w.put('a', 1, () => seen.push('a'));
    await assert.rejects(w.flush(), /disk full/);
    fail = false;
    w.put('b', 1, () => seen.push('b'));
    await w.flush();
    assert.deepEqual(seen, ['b']);
    assert.equal((await store.get('a'))?.value, undefined);
    assert.equal((await store.get('b'))?.value, '1');
  });

  test('group commit: after a commit of many writes the next waits out the interval and takes everything queued meanwhile; after a small one it goes at once', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const w = new StoreWriter(store, defer, { clock, intervalMs: 10, minOps: 3 });
    for (const k of ['a', 'b', 'c']) w.put(k, 1);
    await w.flush();
    assert.equal(store.commits, 1, 'the first commit of a burst goes at once');
    let done = 0;
    w.put('d', 1);
    const first = w.flush().then(() => done++);
    await settle();
    assert.equal(store.commits, 1, 'a commit right after a large one waits');
    w.put('e', 1);
    const second = w.flush().then(() => done++);
    await settle();
    assert.equal(done, 0);
    await clock.advance(9);
    assert.equal(store.commits, 1, 'still inside the interval');
    await clock.advance(1);
    await Promise.all([first, second]);
    assert.equal(store.commits, 2, 'both writes queued during the wait share one commit');
    assert.equal((await store.get('e'))?.value, '1');
    w.put('f', 1);
    await w.flush();
    assert.equal(store.commits, 3, 'after a small commit the next goes at once, with no time passing');
    assert.equal(w.commits, 3);
    assert.equal(w.writes, 6);
  });
});
