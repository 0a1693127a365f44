import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FsCheckpointer } from './checkpoint-fs.js';
import { MemoryCheckpointer } from './checkpoint-memory.js';

const root = mkdtempSync(join(tmpdir(), 'dcos-ckpt-'));
after(() => rmSync(root, { recursive: true, force: true }));

for (const [name, make] of [
  ['fs', () => new FsCheckpointer(join(root, String(Math.random()).slice(2)))],
  ['memory', () => new MemoryCheckpointer()],
] as const) {
  test(`${name} checkpointer: write replaces, append appends, list and remove work on trees`, async () => {
    const c = make();
    assert.equal(await c.read('meta/a.json'), undefined);
    await c.write('meta/a.json', '1');
    await c.write('meta/a.json', '2');
    assert.equal(await c.read('meta/a.json'), '2');
    await c.append('meta/x/y/updates', 'l1\n');
    await c.append('meta/x/y/updates', 'l2\n');
    await c.append('meta/x/y/updates', 'l3\n', { sync: false });
    assert.equal(await c.read('meta/x/y/updates'), 'l1\nl2\nl3\n');
    await c.append('meta/new/dir/unsynced', 'u\n', { sync: false });
    assert.equal(await c.read('meta/new/dir/unsynced'), 'u\n');
    assert.deepEqual((await c.list('meta')).sort(), ['a.json', 'new', 'x']);
    assert.deepEqual(await c.list('meta/none'), []);
    await c.remove('meta/x');
    await c.remove('meta/new');
    assert.deepEqual(await c.list('meta'), ['a.json']);
    await c.remove('meta/x');
  });
}

test('fs checkpointer leaves no temp files behind and refuses paths that leave its root', async () => {
  const dir = join(root, 'strict');
  const c = new FsCheckpointer(dir);
  await c.write('meta/agent.json', '{}');
  assert.deepEqual(readdirSync(join(dir, 'meta')), ['agent.json']);
  writeFileSync(join(dir, 'meta', 'agent.json.tmp-1-1'), 'torn');
  assert.deepEqual(await c.list('meta'), ['agent.json']);
  await assert.rejects(c.write('../escape', 'x'), /escapes/);
  await assert.rejects(c.read('/etc/passwd'), /bad checkpoint path/);
  await assert.rejects(c.remove('meta/../../x'), /escapes/);
});
