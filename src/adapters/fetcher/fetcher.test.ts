import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { archiveKind, Fetcher, outputName } from './fetcher.js';

const dir = mkdtempSync(join(tmpdir(), 'fetcher-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function sandbox(): string {
  const s = mkdtempSync(join(dir, 'sb-'));
  return s;
}

describe('fetcher', () => {
  const src = join(dir, 'src');
  mkdirSync(join(src, 'tree'), { recursive: true });
  writeFileSync(join(src, 'tree', 'a.txt'), 'A');
  execFileSync('tar', ['-czf', join(src, 'a.tgz'), '-C', join(src, 'tree'), 'a.txt']);
  writeFileSync(join(src, 'tool'), '#!/bin/sh\n');
  writeFileSync(join(src, 'plain.tar.gz'), 'not really gzip');
  const fetcher = new Fetcher({ cacheDir: join(dir, 'cache'), cacheMaxBytes: 1_000 });

  test('names: last path segment, output_file, never outside the sandbox', () => {
    assert.equal(outputName({ value: 'http://h/x/y.tgz?q=1' }), 'y.tgz');
    assert.equal(outputName({ value: '/opt/a%20b' }), 'a%20b');
    assert.equal(outputName({ value: 'http://h/x', output_file: 'sub/z' }), 'sub/z');
    assert.throws(() => outputName({ value: 'http://h/x', output_file: '../z' }), /inside the sandbox/);
    assert.equal(archiveKind('x.tar.xz'), 'tar');
    assert.equal(archiveKind('x.ZIP'), 'zip');
    assert.equal(archiveKind('x.gz'), undefined);
  });

  test('file URIs and paths: extracted by default, not when extract is false; executable gets 0755', async () => {
    const sb = sandbox();
    await fetcher.fetch([{ value: `file://${src}/a.tgz` }, { value: join(src, 'tool'), executable: true }], sb);
    assert.equal(readFileSync(join(sb, 'a.txt'), 'utf8'), 'A');
    assert.ok(existsSync(join(sb, 'a.tgz')), 'the archive stays');
    assert.equal(statSync(join(sb, 'tool')).mode & 0o777, 0o755);
    const sb2 = sandbox();
    await fetcher.fetch([{ value: join(src, 'a.tgz'), extract: false }], sb2);
    assert.deepEqual(readdirSync(sb2), ['a.tgz']);
  });

  test('a failure removes everything this fetch made and names the URI', async () => {
    const sb = sandbox();
    await assert.rejects(fetcher.fetch([{ value: join(src, 'a.tgz') }, { value: join(src, 'plain.tar.gz') }], sb), (e: Error) => {
      assert.match(e.message, new RegExp(`^Failed to fetch '${src}/plain.tar.gz': cannot extract plain.tar.gz`));
      return true;
    });
    assert.deepEqual(readdirSync(sb), []);
    await assert.rejects(fetcher.fetch([{ value: join(src, 'nothere') }], sb), /no such file/);
  });

  test('the cache serves a URI again after its origin is gone, and stays under its bound', async () => {
    writeFileSync(join(src, 'once'), 'x'.repeat(600));
    await fetcher.fetch([{ value: join(src, 'once'), cache: true }], sandbox());
    rmSync(join(src, 'once'));
    const sb = sandbox();
    await fetcher.fetch([{ value: join(src, 'once'), cache: true }], sb);
    assert.equal(readFileSync(join(sb, 'once'), 'utf8').length, 600);
    writeFileSync(join(src, 'twice'), 'y'.repeat(600));
    await fetcher.fetch([{ value: join(src, 'twice'), cache: true }], sandbox());
    assert.equal(readdirSync(join(dir, 'cache')).length, 1, 'the older entry was evicted (1000-byte bound)');
  });
});
