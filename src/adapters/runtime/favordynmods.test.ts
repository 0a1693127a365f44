import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { cgroup2Mount, favorDynmodsArgv, setFavorDynmods } from './cgroups.js';

// Mount tables as the kernel prints them: a systemd v2 host, a hybrid host, a v1-only host.
const V2 = [
  '25 30 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot',
  '30 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw',
].join('\n');
const HYBRID = [
  '26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw',
  '27 25 0:24 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory',
].join('\n');
const V1_ONLY = '27 25 0:24 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory';

describe('favordynmods', () => {
  test('turning it on keeps the mount’s other options (systemd’s nsdelegate, memory_recursiveprot)', () => {
    assert.deepEqual(favorDynmodsArgv(true, V2), {
      argv: ['-o', 'remount,rw,nsdelegate,memory_recursiveprot,favordynmods', '--options-mode', 'ignore', '/sys/fs/cgroup'],
      point: '/sys/fs/cgroup',
    });
  });

  test('on a hybrid machine it goes on the unified mount; off drops only favordynmods', () => {
    assert.deepEqual(favorDynmodsArgv(true, HYBRID), {
      argv: ['-o', 'remount,rw,favordynmods', '--options-mode', 'ignore', '/sys/fs/cgroup/unified'],
      point: '/sys/fs/cgroup/unified',
    });
    const on = HYBRID.replace('cgroup2 cgroup2 rw', 'cgroup2 cgroup2 rw,favordynmods');
    assert.deepEqual(favorDynmodsArgv(false, on), {
      argv: ['-o', 'remount,rw', '--options-mode', 'ignore', '/sys/fs/cgroup/unified'],
      point: '/sys/fs/cgroup/unified',
    });
  });

  test('nothing to do when it is already as asked, or when there is no cgroup2 mount', () => {
    const on = V2.replace('memory_recursiveprot', 'memory_recursiveprot,favordynmods');
    const r = favorDynmodsArgv(true, on);
    assert.ok('skip' in r && /already on at \/sys\/fs\/cgroup/.test(r.skip), JSON.stringify(r));
    const off = favorDynmodsArgv(false, V2);
    assert.ok('skip' in off && /already off/.test(off.skip));
    const v1 = favorDynmodsArgv(true, V1_ONLY);
    assert.ok('skip' in v1 && /no cgroup2 mount/.test(v1.skip));
  });

  // The real kernel: on, then off, then back as it was (the option is machine-wide).
  const mountinfo = () => readFileSync('/proc/self/mountinfo', 'utf8');
  const v2 = () => cgroup2Mount(mountinfo());
  const canTry = process.getuid?.() === 0 && v2() !== undefined;
  test('the real cgroup2 mount takes it and gives it back', { skip: canTry ? false : 'needs root and a cgroup2 mount' }, async () => {
    const before = v2()?.superOptions.includes('favordynmods') ?? false;
    try {
      await setFavorDynmods(true);
      assert.ok(v2()?.superOptions.includes('favordynmods'), `on: ${v2()?.superOptions.join(',')}`);
      assert.match(await setFavorDynmods(true), /already on/);
      await setFavorDynmods(false);
      assert.ok(!v2()?.superOptions.includes('favordynmods'), `off: ${v2()?.superOptions.join(',')}`);
    } finally {
      await setFavorDynmods(before);
    }
  });
});
