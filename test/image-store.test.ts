/**
 * The agent's image cache on its own: loading `docker save` and OCI-layout archives (digests
 * verified, hostile archives refused), images served from the cache without a registry, and
 * garbage collection by age and size that never removes an image a container uses.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseBytes, startImageGc } from '../src/adapters/runtime/image-gc.js';
import { RegistryImageStore } from '../src/adapters/runtime/image-store.js';
import { ManualClock } from '../src/services/agent/fakes.js';
import { dockerSaveArchive, makeRootfs, ociArchive } from './lib/images.js';

const work = mkdtempSync(join(tmpdir(), 'dcos-images-'));
const root = process.getuid?.() === 0;

describe('the image cache', () => {
  after(() => {
    for (const m of execFileSync('cat', ['/proc/self/mounts']).toString().split('\n')) {
      const t = m.split(' ')[1];
      if (t?.startsWith(work)) execFileSync('umount', ['-l', t]);
    }
    rmSync(work, { recursive: true, force: true });
  });

  const rootfsA = makeRootfs(mkdtempSync(join(work, 'a-')), { 'etc/image-name': 'a\n' });
  const rootfsB = makeRootfs(mkdtempSync(join(work, 'b-')), { 'etc/image-name': 'b\n', 'etc/big': 'x'.repeat(200_000) });

  test('a docker save tarball and an OCI layout load, list with digest and size, and serve pulls without a registry', async () => {
    const store = new RegistryImageStore(join(work, 'cache1'));
    const a = await store.load(dockerSaveArchive(work, rootfsA, 'example/a:1'), 1000);
    assert.equal(a.length, 1);
    assert.equal(a[0]?.reference, 'example/a:1');
    assert.match(a[0]?.manifestDigest ?? '', /^sha256:[a-f0-9]{64}$/);
    assert.ok((a[0]?.sizeBytes ?? 0) > 0);
    const b = await store.load(ociArchive(work, rootfsB, 'example/b:2'), 2000);
    assert.equal(b[0]?.reference, 'example/b:2');
    const list = await store.list();
    assert.deepEqual(
      list.map((i) => [i.reference, i.source, i.lastUsedMs]),
      [
        ['example/a:1', 'archive', 1000],
        ['example/b:2', 'archive', 2000],
      ],
    );
    // registry-1.docker.io is never asked: the loaded image is in the cache.
    const pulled = await store.pull('example/a:1');
    assert.equal(pulled.manifestDigest, a[0]?.manifestDigest);
    assert.deepEqual(pulled.config.cmd, ['/bin/sh']);
  });

  test('a layer whose bytes do not match its digest is refused, and nothing is listed', async () => {
    const store = new RegistryImageStore(join(work, 'cache2'));
    await assert.rejects(
      store.load(dockerSaveArchive(work, rootfsA, 'example/bad:1', true), 1),
      /layer\.tar in the archive failed verification: expected sha256:[a-f0-9]{64}, got sha256:/,
    );
    assert.deepEqual(await store.list(), []);
  });

  test('hostile and broken archives are refused with a reason', async () => {
    const store = new RegistryImageStore(join(work, 'cache3'));
    const junk = join(work, 'junk.tar');
    writeFileSync(junk, 'this is not a tar archive at all'.repeat(40));
    await assert.rejects(store.load(junk, 1), /not a tar archive/);
    // manifest.json pointing out of the archive, and a symlink to the host's /etc/passwd.
    const d = mkdtempSync(join(work, 'hostile-'));
    writeFileSync(join(d, 'manifest.json'), JSON.stringify([{ Config: '../../../../etc/passwd', RepoTags: ['evil:1'], Layers: ['/etc/shadow'] }]));
    const t1 = join(work, 'climb.tar');
    execFileSync('tar', ['-cf', t1, '-C', d, 'manifest.json']);
    await assert.rejects(store.load(t1, 1), /has no file \.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd/);
    const d2 = mkdtempSync(join(work, 'hostile-'));
    symlinkSync('/etc/passwd', join(d2, 'manifest.json'));
    const t2 = join(work, 'link.tar');
    execFileSync('tar', ['-cf', t2, '-C', d2, 'manifest.json']);
    await assert.rejects(store.load(t2, 1), /neither manifest\.json|has no file manifest\.json/);
    const truncated = join(work, 'truncated.tar');
    const full = dockerSaveArchive(work, rootfsA, 'example/t:1');
    execFileSync('sh', ['-c', `head -c 3000 ${full} > ${truncated}`]);
    await assert.rejects(store.load(truncated, 1), /truncated|no file/);
  });

  test(
    'gc removes unused images by age, then by size, least recently used first, never one a container uses',
    { skip: !root && 'needs root (overlay mounts)' },
    async () => {
      const dir = join(work, 'cache4');
      const store = new RegistryImageStore(dir);
      await store.load(dockerSaveArchive(work, rootfsA, 'example/a:1'), 1_000);
      await store.load(ociArchive(work, rootfsB, 'example/b:2'), 5_000);
      const c = makeRootfs(mkdtempSync(join(work, 'c-')), { 'etc/image-name': 'c\n' });
      await store.load(dockerSaveArchive(work, c, 'example/c:3'), 9_000);
      // A container uses a (the oldest).
      const a = await store.pull('example/a:1');
      const target = join(work, 'ctr-rootfs');
      mkdirSync(target, { recursive: true });
      await store.provision(a, 'ctr-1', target);
      const blobsBefore = readdirSync(join(dir, 'blobs', 'sha256')).length;

      const byAge = await store.gc({ maxAgeMs: 10_000 }, 17_000); // b unused for 12 s: gone; c for 8 s: kept
      assert.deepEqual(byAge.removed, ['example/b:2']);
      assert.ok(byAge.freedBytes > 200_000, `freed ${byAge.freedBytes}`);
      assert.ok(readdirSync(join(dir, 'blobs', 'sha256')).length < blobsBefore, 'its blobs are gone');

      const bySize = await store.gc({ maxBytes: 0 }, 17_000);
      assert.deepEqual(bySize.removed, ['example/c:3'], 'a is in use: only c goes');
      assert.deepEqual(
        (await store.list()).map((i) => [i.reference, i.inUse]),
        [['example/a:1', 1]],
      );
      assert.ok(existsSync(join(target, 'etc', 'image-name')), 'the container still sees its rootfs');

      await store.release('ctr-1', target);
      assert.deepEqual((await store.gc({ maxBytes: 0 }, 17_000)).removed, ['example/a:1']);
      assert.deepEqual(readdirSync(join(dir, 'rootfs')), []);
    },
  );

  test("the sandbox's mount point is in the image's tree; released containers leave nothing, written to or not", async () => {
    const dir = join(work, 'cache-mp');
    const store = new RegistryImageStore(dir);
    // An image without /mnt at all (makeRootfs makes the mount point: taken out again).
    const bare = makeRootfs(mkdtempSync(join(work, 'bare-')), { 'etc/image-name': 'bare\n' });
    rmSync(join(bare, 'mnt'), { recursive: true });
    await store.load(dockerSaveArchive(work, bare, 'example/mp:1'), 1_000);
    const image = await store.pull('example/mp:1');
    const lower = join(dir, 'rootfs', readdirSync(join(dir, 'rootfs'))[0] as string);
    assert.ok(lstatSync(join(lower, 'mnt', 'mesos', 'sandbox')).isDirectory(), 'made when the image was built');
    for (const [id, writes] of [
      ['mp-1', false],
      ['mp-2', true],
    ] as const) {
      const target = join(work, `mp-target-${id}`);
      const m = await store.prepareMount(image, id, target);
      // What a container that wrote files leaves in its writable layer.
      if (writes) {
        mkdirSync(join(m.upperDir, 'var', 'log'), { recursive: true });
        writeFileSync(join(m.upperDir, 'var', 'log', 'out'), 'x\n');
      }
      await store.release(id, target);
      assert.equal(existsSync(target), false, `${id}: mount point removed`);
      assert.equal(existsSync(join(dir, 'containers', id)), false, `${id}: upper and work dirs removed`);
    }
    assert.deepEqual(
      (await store.list()).map((i) => i.inUse),
      [0],
    );
  });

  test('the agent runs gc on the injected clock at its interval', async () => {
    const store = new RegistryImageStore(join(work, 'cache5'));
    await store.load(dockerSaveArchive(work, rootfsA, 'example/a:1'), 1_700_000_000_000);
    const clock = new ManualClock(1_700_000_000_000);
    const logs: string[] = [];
    const timer = startImageGc(store, clock, { maxAgeMs: 45_000 }, 30_000, (_l, m) => logs.push(m));
    await clock.advance(30_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await store.list()).length, 1, 'not yet 45 s unused');
    await clock.advance(30_000);
    for (let i = 0; i < 100 && logs.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await store.list(), []);
    assert.match(logs.join('\n'), /image gc removed example\/a:1/);
    timer.cancel();
    assert.equal(parseBytes('10GB'), 10 * 1024 ** 3);
    assert.equal(parseBytes('ten'), undefined);
  });
});
