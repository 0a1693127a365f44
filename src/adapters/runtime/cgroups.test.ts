import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Cgroups, cfsQuotaUs, cpuShares, detectCgroups } from './cgroups.js';
import { ProcessRuntime } from './process.js';

const mode = detectCgroups();
const skip = mode.kind === 'none' ? `cgroups cannot be managed here: ${mode.reason}` : false;
if (skip) process.stdout.write(`# SKIP cgroup tests: ${skip}\n`);

const root = mkdtempSync(join(tmpdir(), 'dcos-cgroups-'));
const cgRoot = `dcos-ts-test-${process.pid}`;
after(async () => {
  if (mode.kind !== 'none') {
    // The agent-owned root itself (the runtime removes only the containers' cgroups).
    const dirs = mode.kind === 'v2' ? [join(mode.mount, cgRoot)] : [...new Set(Object.values(mode.mounts))].map((m) => join(m, cgRoot));
    for (const d of dirs) if (existsSync(d)) rmdirSync(d);
  }
  rmSync(root, { recursive: true, force: true });
});

function within<T>(p: Promise<T>, ms = 15_000): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms).unref())]);
}

describe('cgroup limits', () => {
  test('cpu shares and CFS quota follow Mesos: 1024 shares and 100 ms per cpu', () => {
    assert.equal(cpuShares(0.5), 512);
    assert.equal(cpuShares(0.001), 2);
    assert.equal(cfsQuotaUs(1.5), 150_000);
    assert.equal(cfsQuotaUs(0.001), 1_000);
  });
});

describe('process runtime in cgroups', { skip }, () => {
  const cg = mode.kind === 'none' ? undefined : new Cgroups(mode, cgRoot);
  const rt = new ProcessRuntime({ stateDir: join(root, 'state'), pollIntervalMs: 50, ...(cg ? { cgroups: cg } : {}), pidsMax: 64 });
  let seq = 0;
  const id = () => `cg${++seq}`;

  test('the task runs inside its cgroup, whose files hold the limits of its cpus and mem', async () => {
    const c = id();
    const sandboxDir = join(root, 'sb', c);
    await rt.launch({
      containerId: c,
      sandboxDir,
      command: { value: 'cat /proc/self/cgroup; sleep 0.3' },
      env: { PATH: '/usr/bin:/bin' },
      resources: { cpus: 0.5, memMb: 64 },
    });
    const limits = cg?.readLimits(c);
    if (mode.kind === 'v1') assert.equal(limits?.cpuShares, 512);
    else assert.equal(limits?.cpuWeight, 50);
    assert.equal(limits?.cfsQuotaUs, 50_000);
    assert.equal(limits?.memBytes, 64 * 1024 * 1024);
    assert.equal(limits?.pidsMax, '64');
    const stats = await rt.stats(c);
    assert.ok(stats && typeof stats.cpuUserSeconds === 'number', 'stats come from the cgroup');
    const exit = await within(rt.wait(c));
    assert.equal(exit.exitCode, 0);
    assert.equal(exit.oomKilled, undefined);
    const own = readFileSync(join(sandboxDir, 'stdout'), 'utf8');
    assert.match(own, new RegExp(`/${cgRoot}/${c}\\n`), own);
    await rt.cleanup(c);
    for (const d of cg?.dirs(c) ?? []) assert.equal(existsSync(d), false, `${d} removed`);
  });

  test('a task that allocates past its memory limit is OOM-killed and the exit says so', async () => {
    const c = id();
    await rt.launch({
      containerId: c,
      sandboxDir: join(root, 'sb', c),
      command: { shell: false, value: 'python3', arguments: ['python3', '-c', 'b = []\nwhile True: b.append(bytearray(4 << 20))'] },
      env: { PATH: '/usr/bin:/bin' },
      resources: { cpus: 1, memMb: 48 },
    });
    const exit = await within(rt.wait(c));
    assert.equal(exit.signal, 9, JSON.stringify(exit));
    assert.equal(exit.oomKilled, true);
    await rt.cleanup(c);
  });

  test('a task killed by SIGKILL without reaching its limit is not reported as OOM', async () => {
    const c = id();
    await rt.launch({
      containerId: c,
      sandboxDir: join(root, 'sb', c),
      command: { value: 'kill -9 $$' },
      env: { PATH: '/usr/bin:/bin' },
      resources: { memMb: 64 },
    });
    const exit = await within(rt.wait(c));
    assert.equal(exit.signal, 9);
    assert.notEqual(exit.oomKilled, true);
    await rt.cleanup(c);
  });
});
