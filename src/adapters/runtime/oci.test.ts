import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { bundleRlimits, resolveUser, serializeConfig } from './oci.js';
import { DENIED_SYSCALLS, defaultSeccompProfile } from './seccomp.js';

test('rlimit_info: RLMT_ names, both or neither of soft and hard, never above the agent own hard limit', () => {
  const own = (n: string) => (n === 'NOFILE' ? 4096 : 'unlimited') as number | 'unlimited';
  assert.deepEqual(bundleRlimits([], own), [{ type: 'RLIMIT_NOFILE', hard: 4096, soft: 4096 }]);
  const r = bundleRlimits([{ type: 'RLMT_NOFILE', soft: 10, hard: 20 }, { type: 'RLMT_CORE' }], own);
  assert.deepEqual(r, [
    { type: 'RLIMIT_NOFILE', hard: 20, soft: 10 },
    { type: 'RLIMIT_CORE', hard: 'RLIM_INFINITY', soft: 'RLIM_INFINITY' },
  ]);
  assert.match(serializeConfig({ process: { rlimits: r } }), /"hard": 18446744073709551615/);
  assert.throws(() => bundleRlimits([{ type: 'RLMT_NOFILE', soft: 1 }], own), /needs both soft and hard/);
  assert.throws(() => bundleRlimits([{ type: 'NOFILE', soft: 1, hard: 1 }], own), /unknown rlimit type 'NOFILE'/);
  assert.throws(() => bundleRlimits([{ type: 'RLMT_NOFILE', soft: 5, hard: 1 }], own), /0 <= soft <= hard/);
  assert.throws(() => bundleRlimits([{ type: 'RLMT_NOFILE', soft: 1, hard: 5000 }], own), /hard limit 5000 is above the agent's own \(4096\)/);
  assert.throws(() => bundleRlimits([{ type: 'RLMT_NOFILE' }], own), /hard limit unlimited is above/);
});

test('users: numeric uid[:gid], names from the rootfs passwd and group files, supplementary groups', async () => {
  const root = mkdtempSync(join(tmpdir(), 'oci-user-'));
  try {
    assert.deepEqual(await resolveUser('42', root), { uid: 42, gid: 0 });
    assert.deepEqual(await resolveUser('42:7', root), { uid: 42, gid: 7 });
    await assert.rejects(resolveUser('app', root), /user 'app' is not in the image's \/etc\/passwd/);
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n');
    writeFileSync(join(root, 'etc', 'group'), 'app:x:1001:\nwheel:x:10:root,app\nstaff:x:50:\n');
    assert.deepEqual(await resolveUser('app', root), { uid: 1000, gid: 1001, additionalGids: [10] });
    assert.deepEqual(await resolveUser('1000', root), { uid: 1000, gid: 1001, additionalGids: [10] });
    assert.deepEqual(await resolveUser('app:staff', root), { uid: 1000, gid: 50, additionalGids: [10] });
    await assert.rejects(resolveUser('app:nogroup', root), /group 'nogroup' is not in the image's \/etc\/group/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the default seccomp profile allows by default and denies the kernel-wide calls with EPERM', () => {
  const p = defaultSeccompProfile('x64') as { defaultAction: string; syscalls: { names: string[]; action: string; errnoRet: number }[] };
  assert.equal(p.defaultAction, 'SCMP_ACT_ALLOW');
  assert.equal(p.syscalls[0]?.action, 'SCMP_ACT_ERRNO');
  assert.equal(p.syscalls[0]?.errnoRet, 1);
  for (const s of ['kexec_load', 'init_module', 'finit_module', 'delete_module', 'reboot', 'keyctl', 'bpf', 'perf_event_open', 'open_by_handle_at', 'ptrace'])
    assert.ok(DENIED_SYSCALLS.includes(s), s);
  for (const s of ['clone', 'clone3', 'execve', 'personality', 'chown']) assert.ok(!DENIED_SYSCALLS.includes(s), `${s} must stay allowed`);
});
