import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { defaultRuntimeDir, isTmpfs, prepareRuntimeDir } from './runtime-dir.js';

const root = mkdtempSync(join(tmpdir(), 'dcos-runtime-dir-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('the default runtime dir is under /run where it is a tmpfs, else in the work dir', () => {
  const d = defaultRuntimeDir('/var/lib/dcos-ts/agent');
  if (isTmpfs('/run')) assert.match(d, /^\/run\/dcos-ts\/[0-9a-f]{16}$/);
  else assert.equal(d, '/var/lib/dcos-ts/agent/run');
  assert.equal(defaultRuntimeDir('/var/lib/dcos-ts/agent'), d, 'the same work dir, the same runtime dir (across restarts)');
});

test('prepareRuntimeDir makes a private directory and refuses one that is not safely ours', () => {
  const fresh = join(root, 'a', 'b');
  prepareRuntimeDir(fresh);
  assert.equal(statSync(fresh).mode & 0o777, 0o700);
  prepareRuntimeDir(fresh); // again: fine

  const target = join(root, 'elsewhere');
  mkdirSync(target, { mode: 0o700 });
  const link = join(root, 'link');
  symlinkSync(target, link);
  assert.throws(() => prepareRuntimeDir(link), /is not a directory; remove it or pass another --runtime_dir/);

  const open = join(root, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  assert.throws(() => prepareRuntimeDir(open), /writable by others \(mode 777\)/);

  if (process.geteuid?.() === 0) {
    const theirs = join(root, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    assert.throws(() => prepareRuntimeDir(theirs), /belongs to uid 65534, not to this agent/);
  }
});
