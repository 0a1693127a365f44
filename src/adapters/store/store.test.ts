import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Store, StoreOp } from '../../ports/store.js';
import { MemoryStore } from './memory.js';
import { SqliteStore } from './sqlite.js';

/** One contract, every adapter. */
function contract(name: string, make: () => { store: Store; cleanup: () => void }) {
  describe(`${name} store`, () => {
    test('put, get, versions and delete', async () => {
      const { store, cleanup } = make();
      assert.equal(await store.get('a'), undefined);
      assert.equal(await store.put('a', '1'), 1);
      assert.equal(await store.put('a', '2'), 2);
      assert.deepEqual(await store.get('a'), { key: 'a', value: '2', version: 2 });
      await store.delete('a');
      assert.equal(await store.get('a'), undefined);
      await store.close();
      cleanup();
    });

    test('compare-and-set writes only on the expected version', async () => {
      const { store, cleanup } = make();
      assert.equal(await store.compareAndSet('k', 0, 'x'), true);
      assert.equal(await store.compareAndSet('k', 0, 'y'), false);
      assert.equal(await store.compareAndSet('k', 1, 'y'), true);
      assert.equal((await store.get('k'))?.value, 'y');
      await store.close();
      cleanup();
    });

    test('list by prefix returns only that prefix, in key order', async () => {
      const { store, cleanup } = make();
      await store.batch([
        { type: 'put', key: 'm/t/2', value: 'b' },
        { type: 'put', key: 'm/t/1', value: 'a' },
        { type: 'put', key: 'm/u/1', value: 'c' },
        { type: 'put', key: 'm/t', value: 'no' },
      ]);
      assert.deepEqual(
        (await store.list('m/t/')).map((e) => e.key),
        ['m/t/1', 'm/t/2'],
      );
      if (store.scan) {
        // An adapter that scans must give what list gives, entry by entry.
        const scanned: string[] = [];
        await store.scan('m/t/', (e) => scanned.push(`${e.key}=${e.value}@${e.version}`));
        assert.deepEqual(scanned, ['m/t/1=a@1', 'm/t/2=b@1']);
      }
      await store.close();
      cleanup();
    });

    test('a batch is applied whole, and watchers see each change', async () => {
      const { store, cleanup } = make();
      const seen: StoreOp[] = [];
      const stop = store.watch('w/', (op) => seen.push(op));
      await store.batch([
        { type: 'put', key: 'w/1', value: 'a' },
        { type: 'put', key: 'x/1', value: 'b' },
        { type: 'delete', key: 'w/1' },
      ]);
      stop();
      await store.put('w/2', 'c');
      assert.deepEqual(seen, [
        { type: 'put', key: 'w/1', value: 'a' },
        { type: 'delete', key: 'w/1' },
      ]);
      await store.close();
      cleanup();
    });
  });
}

contract('memory', () => ({ store: new MemoryStore(), cleanup: () => {} }));
contract('sqlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'store-'));
  return { store: new SqliteStore(join(dir, 'r.db')), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
});

test('sqlite: a committed batch survives kill -9 of the writing process', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'store-kill-'));
  const db = join(dir, 'r.db');
  const mod = new URL('./sqlite.js', import.meta.url).pathname;
  // The child commits, prints, and is killed with SIGKILL before it can close the database.
  const script = `import(${JSON.stringify(mod)}).then(async ({ SqliteStore }) => {
    const s = new SqliteStore(${JSON.stringify(db)});
    await s.batch([{ type: 'put', key: 'k1', value: 'v1' }, { type: 'put', key: 'k2', value: 'v2' }]);
    process.kill(process.pid, 'SIGKILL');
  });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script]);
  assert.equal(r.signal, 'SIGKILL');
  const s = new SqliteStore(db);
  assert.deepEqual(
    (await s.list('k')).map((e) => [e.key, e.value]),
    [
      ['k1', 'v1'],
      ['k2', 'v2'],
    ],
  );
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

test('sqlite: scan reads in pages and gives exactly what list gives, across page boundaries', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'store-scan-'));
  const s = new SqliteStore(join(dir, 'r.db'));
  // Pages hold 2,000 rows: a prefix with exactly one page, one with three pages, and keys just
  // outside each prefix that must stay out.
  const ops: StoreOp[] = [
    { type: 'put', key: 'p', value: 'no' },
    { type: 'put', key: 'q/0', value: 'no' },
    { type: 'put', key: 't', value: 'no' },
    { type: 'put', key: 'u/0', value: 'no' },
  ];
  for (let i = 0; i < 2000; i++) ops.push({ type: 'put', key: `p/${String(i).padStart(5, '0')}`, value: `p${i}` });
  for (let i = 0; i < 4001; i++) ops.push({ type: 'put', key: `t/${String(i).padStart(5, '0')}`, value: `t${i}` });
  await s.batch(ops);
  for (const [prefix, n] of [
    ['p/', 2000],
    ['t/', 4001],
    ['v/', 0],
  ] as const) {
    const scanned: string[] = [];
    await s.scan(prefix, (e) => scanned.push(`${e.key}=${e.value}@${e.version}`));
    assert.equal(scanned.length, n);
    assert.deepEqual(
      scanned,
      (await s.list(prefix)).map((e) => `${e.key}=${e.value}@${e.version}`),
    );
  }
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});
