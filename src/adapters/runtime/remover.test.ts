import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { removeTrees } from './remover.js';

const root = mkdtempSync(join(tmpdir(), 'dcos-remover-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('removeTrees removes whole trees off the event loop, in order, quietly for paths already gone', async () => {
  const trees = [0, 1, 2].map((i) => join(root, `t${i}`));
  for (const t of trees) {
    mkdirSync(join(t, 'a', 'b'), { recursive: true });
    writeFileSync(join(t, 'a', 'b', 'f'), 'x');
    writeFileSync(join(t, 'g'), 'y');
  }
  await Promise.all([removeTrees(trees.slice(0, 2)), removeTrees([trees[2] as string, join(root, 'missing')])]);
  for (const t of trees) assert.equal(existsSync(t), false, t);
  await removeTrees([]);
});

test('a process that waited for a removal exits on its own afterwards (the thread does not hold it)', () => {
  const dir = join(root, 'child');
  mkdirSync(join(dir, 'x'), { recursive: true });
  const mod = new URL('./remover.js', import.meta.url).href;
  const out = execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { removeTrees } = await import(${JSON.stringify(mod)}); await removeTrees([${JSON.stringify(dir)}]); console.log('done');`,
    ],
    {
      encoding: 'utf8',
      timeout: 10_000,
    },
  );
  assert.equal(out.trim(), 'done');
  assert.equal(existsSync(dir), false);
});
