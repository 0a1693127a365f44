import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { findOciRuntime, hybridCgroupTrap } from './oci.js';
import { defaultSeccompProfile } from './seccomp.js';
import { compileSeccompBpf } from './seccomp-bpf.js';

const crun = findOciRuntime('crun');
const skip = !crun ? 'crun is not installed (apt-get install crun)' : process.geteuid?.() !== 0 ? 'needs root' : false;
const root = mkdtempSync(join(tmpdir(), 'dcos-seccomp-bpf-'));
after(() => rmSync(root, { recursive: true, force: true }));

const ociArgv = (args: string[]): string[] => {
  const argv = [crun as string, '--root', join(root, 'state'), ...args];
  return hybridCgroupTrap()
    ? ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified || exit 125; exec "$0" "$@"', ...argv]
    : argv;
};
const options = (profile: Record<string, unknown>) => ({
  ociArgv,
  stateRoot: join(root, 'state'),
  scratchDir: join(root, 'scratch'),
  profile,
  cgroupsPath: `/dcos-ts-seccomp-test-${process.pid}`,
});

test('crun compiles the default profile into a BPF program; nothing of the throwaway container is left', { skip }, async () => {
  const bpf = Buffer.from(await compileSeccompBpf(options(defaultSeccompProfile())), 'base64');
  assert.ok(bpf.length > 8 && bpf.length % 8 === 0, `a program of ${bpf.length} bytes`);
  assert.deepEqual(readdirSync(join(root, 'scratch')), [], 'no bundle left');
  assert.deepEqual(
    readdirSync(join(root, 'state')).filter((n) => !n.startsWith('.')),
    [],
    'no container state left',
  );
});

test('a profile crun refuses fails with crun’s own message, and leaves nothing behind', { skip }, async () => {
  const bad = { defaultAction: 'SCMP_ACT_NOSUCHTHING', syscalls: [] };
  await assert.rejects(compileSeccompBpf(options(bad)), /seccomp|NOSUCHTHING/i);
  assert.deepEqual(readdirSync(join(root, 'scratch')), []);
  assert.deepEqual(
    readdirSync(join(root, 'state')).filter((n) => !n.startsWith('.')),
    [],
  );
});
