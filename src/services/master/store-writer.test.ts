import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryStore } from '../../adapters/store/memory.js';
import type { StoreOp } from '../../ports/store.js';
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
});
