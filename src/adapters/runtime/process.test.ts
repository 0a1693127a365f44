import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { LaunchSpec } from '../../ports/runtime.js';
import { ProcessRuntime, commandArgv } from './process.js';

const root = mkdtempSync(join(tmpdir(), 'dcos-process-runtime-'));
/** Every task group started here, killed at the end even when a test failed half-way. */
const groups: number[] = [];
after(() => {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(root, { recursive: true, force: true });
});

/** Fails instead of hanging when a process does not end. */
function within<T>(p: Promise<T>, ms = 5000): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms).unref())]);
}

let seq = 0;
function spec(command: LaunchSpec['command'], env: Record<string, string> = {}): LaunchSpec {
  const id = `c${++seq}`;
  return { containerId: id, sandboxDir: join(root, 'sandboxes', id), command, env: { PATH: '/usr/bin:/bin', ...env } };
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

/** A launch whose settling can be asked about while it is pending. */
function tracked<T>(p: Promise<T>): { p: Promise<T>; launched: () => boolean } {
  let done = false;
  return {
    p: p.then((v) => {
      done = true;
      return v;
    }),
    launched: () => done,
  };
}

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('process runtime', () => {
  const rt = new ProcessRuntime({ stateDir: join(root, 'state'), pollIntervalMs: 50 });
  const launch = rt.launch.bind(rt);
  rt.launch = async (s) => {
    const h = await launch(s);
    groups.push(h.pid);
    return h;
  };
  const wait = rt.wait.bind(rt);
  rt.wait = (id) => within(wait(id));
  after(() => rt.close());

  test('a shell command writes stdout and stderr to files in the sandbox and exits 0', async () => {
    const s = spec({ value: 'echo hello; echo oops >&2; echo "$GREETING"' }, { GREETING: 'from env' });
    const h = await rt.launch(s);
    assert.ok(h.pid > 1);
    const exit = await rt.wait(s.containerId);
    assert.deepEqual(exit, { exitCode: 0 });
    assert.equal(readFileSync(join(s.sandboxDir, 'stdout'), 'utf8'), 'hello\nfrom env\n');
    assert.equal(readFileSync(join(s.sandboxDir, 'stderr'), 'utf8'), 'oops\n');
  });

  test('the exit code of a failing command is reported', async () => {
    const s = spec({ value: 'exit 3' });
    await rt.launch(s);
    assert.deepEqual(await rt.wait(s.containerId), { exitCode: 3 });
  });

  test('argv form runs value with arguments[1..] and no shell', async () => {
    const s = spec({ shell: false, value: '/bin/echo', arguments: ['echo', 'a b', '$HOME'] });
    await rt.launch(s);
    assert.deepEqual(await rt.wait(s.containerId), { exitCode: 0 });
    assert.equal(readFileSync(join(s.sandboxDir, 'stdout'), 'utf8'), 'a b $HOME\n');
  });

  test('a missing executable in argv form fails with a non-zero exit code, reason in stderr', async () => {
    const s = spec({ shell: false, value: '/nonexistent/program', arguments: ['program'] });
    await rt.launch(s);
    const exit = await rt.wait(s.containerId);
    assert.notEqual(exit.exitCode, 0);
    assert.match(readFileSync(join(s.sandboxDir, 'stderr'), 'utf8'), /nonexistent/);
  });

  test('the task runs in the sandbox as its own process group leader', async () => {
    const s = spec({ value: 'pwd; ps -o pgid= -p $$' });
    const h = await rt.launch(s);
    await rt.wait(s.containerId);
    const [cwd, pgid] = readFileSync(join(s.sandboxDir, 'stdout'), 'utf8').trim().split('\n');
    assert.equal(cwd, s.sandboxDir);
    assert.equal(Number(pgid), h.pid);
  });

  test('kill sends SIGTERM first: a task that handles it exits within the grace period', async () => {
    const s = spec({ value: "trap 'echo got-term; exit 0' TERM; while true; do sleep 0.05; done" });
    await rt.launch(s);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await rt.kill(s.containerId, 5000);
    const exit = await rt.wait(s.containerId);
    assert.ok(Date.now() - t0 < 3000, 'did not wait for the whole grace period');
    assert.equal(exit.exitCode, 0);
    assert.match(readFileSync(join(s.sandboxDir, 'stdout'), 'utf8'), /got-term/);
  });

  test('a task that ignores SIGTERM is SIGKILLed after the grace period', async () => {
    const s = spec({ value: "trap '' TERM; while true; do sleep 0.05; done" });
    const h = await rt.launch(s);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await rt.kill(s.containerId, 400);
    const exit = await rt.wait(s.containerId);
    const took = Date.now() - t0;
    assert.ok(took >= 380, `killed after ${took} ms, before the grace period`);
    assert.equal(exit.signal, 9);
    assert.equal(exit.exitCode, 137);
    assert.equal(alive(h.pid), false);
  });

  test('kill takes the whole process group, grandchildren included', async () => {
    const s = spec({ value: "sh -c 'sleep 300 & echo $! > grandchild.pid; wait' & wait" });
    await rt.launch(s);
    const pidFile = join(s.sandboxDir, 'grandchild.pid');
    await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');
    const grandchild = Number(readFileSync(pidFile, 'utf8').trim());
    assert.equal(alive(grandchild), true);
    await rt.kill(s.containerId, 1000);
    await rt.wait(s.containerId);
    await until(() => !alive(grandchild));
  });

  test('processes left in the group die when the main process exits', async () => {
    const s = spec({ value: 'sleep 300 & echo $! > bg.pid' });
    await rt.launch(s);
    assert.deepEqual(await rt.wait(s.containerId), { exitCode: 0 });
    const bg = Number(readFileSync(join(s.sandboxDir, 'bg.pid'), 'utf8').trim());
    await until(() => !alive(bg));
  });

  test('a second runtime over the same state dir recovers a running task and sees its real exit code', async () => {
    const s = spec({ value: 'sleep 0.4; exit 7' });
    const h = await rt.launch(s);
    const rt2 = new ProcessRuntime({ stateDir: join(root, 'state'), pollIntervalMs: 50 });
    try {
      const [r] = await rt2.recover([{ containerId: s.containerId, sandboxDir: s.sandboxDir }]);
      assert.deepEqual(r, { containerId: s.containerId, state: 'running', pid: h.pid });
      assert.deepEqual(await within(rt2.wait(s.containerId)), { exitCode: 7 });
    } finally {
      rt2.close();
    }
  });

  test('recovery reports a task that exited while nobody watched with its exit code', async () => {
    const s = spec({ value: 'exit 42' });
    await rt.launch(s);
    await rt.wait(s.containerId);
    const rt2 = new ProcessRuntime({ stateDir: join(root, 'state') });
    const [r] = await rt2.recover([{ containerId: s.containerId, sandboxDir: s.sandboxDir }]);
    assert.deepEqual(r, { containerId: s.containerId, state: 'exited', exit: { exitCode: 42 } });
    const [u] = await rt2.recover([{ containerId: 'never-launched', sandboxDir: join(root, 'x') }]);
    assert.equal(u?.state, 'unknown');
    rt2.close();
  });

  test('a recovered task can be killed by the new runtime', async () => {
    const s = spec({ value: 'sleep 300' });
    const h = await rt.launch(s);
    const rt2 = new ProcessRuntime({ stateDir: join(root, 'state'), pollIntervalMs: 50 });
    try {
      await rt2.recover([{ containerId: s.containerId, sandboxDir: s.sandboxDir }]);
      await rt2.kill(s.containerId, 1000);
      // Generous: CI runs the unit files in parallel on 2 cores (this once missed 5 s there).
      const exit = await within(rt2.wait(s.containerId), 20_000);
      assert.equal(exit.signal, 15);
      assert.equal(alive(h.pid), false);
    } finally {
      rt2.close();
    }
  });

  test('bad launches are rejected', async () => {
    await assert.rejects(rt.launch(spec({ value: '' })), /command.value is required/);
    await assert.rejects(rt.launch({ ...spec({ value: 'true' }), containerId: '../evil' }), /invalid container id/);
    assert.deepEqual(commandArgv({ shell: false, arguments: ['/bin/ls', '-l'] }), ['/bin/ls', '-l']);
  });
});

describe('process runtime: the launcher', () => {
  const rt = new ProcessRuntime({ stateDir: join(root, 'state-launcher'), pollIntervalMs: 50 });
  after(() => rt.close());

  test('one long-lived launcher starts every supervisor; an argument with a newline is spawned directly and works the same', async () => {
    const a = spec({ value: 'exit 3' });
    await rt.launch(a);
    const launcher = rt.launcherPid;
    assert.ok(launcher !== undefined && alive(launcher), 'a launcher runs');
    assert.deepEqual(await within(rt.wait(a.containerId)), { exitCode: 3 });
    const b = spec({ shell: false, value: '/bin/sh', arguments: ['sh', '-c', 'echo "$0" >out; exit 4', 'two\nlines'] }, { ODD: 'x\ny' });
    await rt.launch(b);
    assert.deepEqual(await within(rt.wait(b.containerId)), { exitCode: 4 });
    assert.equal(readFileSync(join(b.sandboxDir, 'out'), 'utf8'), 'two\nlines\n');
    const c = spec({ value: 'printf "%s" "$QUOTED" >out' }, { QUOTED: `it's "quoted" $HOME \\ ;` });
    await rt.launch(c);
    assert.deepEqual(await within(rt.wait(c.containerId)), { exitCode: 0 });
    assert.equal(readFileSync(join(c.sandboxDir, 'out'), 'utf8'), `it's "quoted" $HOME \\ ;`);
    assert.equal(rt.launcherPid, launcher, 'the same launcher throughout');
  });

  test("the command travels in a file the launcher sources; the task's environment is what it was given, none of the launcher's variables", async () => {
    const s = spec({ value: 'env >env.txt' }, { GIVEN: 'yes' });
    await rt.launch(s);
    assert.deepEqual(await within(rt.wait(s.containerId)), { exitCode: 0 });
    const command = readFileSync(join(root, 'state-launcher', s.containerId, 'launch'), 'utf8');
    assert.match(command, /^export .*GIVEN='yes'.*; set -- .*; eval "\$__s1"\n$/s);
    const env = readFileSync(join(s.sandboxDir, 'env.txt'), 'utf8');
    assert.match(env, /^GIVEN=yes$/m);
    // The launcher keeps its scripts and loop state in shell variables: never exported to tasks.
    assert.doesNotMatch(env, /^__/m, env);
  });

  test('a launcher killed while its tasks run loses no exit status, and the next launch starts a new one', async () => {
    const running = [spec({ value: 'sleep 0.5; exit 7' }), spec({ value: 'sleep 0.6; exit 0' })];
    for (const s of running) await rt.launch(s);
    const first = rt.launcherPid as number;
    process.kill(first, 'SIGKILL');
    await until(() => !alive(first));
    assert.deepEqual(await within(rt.wait(running[0]?.containerId as string)), { exitCode: 7 });
    assert.deepEqual(await within(rt.wait(running[1]?.containerId as string)), { exitCode: 0 });
    const next = spec({ value: 'exit 5' });
    await rt.launch(next);
    assert.notEqual(rt.launcherPid, first);
    assert.deepEqual(await within(rt.wait(next.containerId)), { exitCode: 5 });
  });

  test("a supervisor killed without a word is found by the liveness sweep; the task's group is killed, not left behind", async () => {
    const s = spec({ value: 'sleep 300' });
    const h = await rt.launch(s);
    groups.push(h.pid);
    const rec = JSON.parse(readFileSync(join(root, 'state-launcher', s.containerId, 'runtime.json'), 'utf8')) as { supervisorPid?: number };
    assert.ok(rec.supervisorPid !== undefined, 'the launcher told the supervisor pid');
    process.kill(rec.supervisorPid, 'SIGKILL');
    // The task lives on, watched by polling; killing it is then reported as its exit.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(alive(h.pid), true);
    await rt.kill(s.containerId, 100);
    const exit = await within(rt.wait(s.containerId), 10_000);
    assert.ok(exit.signal === 15 || exit.message !== undefined, JSON.stringify(exit));
    assert.equal(alive(h.pid), false);
  });
});

describe('process runtime: launches prepared before the checkpoint is durable (LaunchSpec.ready)', () => {
  const stateDir = join(root, 'state-ready');
  const released: string[] = [];
  const rt = new ProcessRuntime({ stateDir, release: async (id) => void released.push(id) });
  after(() => rt.close());

  test('nothing starts before ready resolves; a rejected ready starts nothing and removes what was made', async () => {
    let go!: () => void;
    const s = { ...spec({ value: 'touch ran' }), ready: new Promise<void>((r) => (go = r)) };
    const { p, launched } = tracked(rt.launch(s));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(launched(), false);
    assert.equal(existsSync(join(stateDir, s.containerId, 'pid')), false, 'no supervisor yet');
    assert.equal(existsSync(join(s.sandboxDir, 'ran')), false);
    go();
    await p;
    assert.deepEqual(await within(rt.wait(s.containerId)), { exitCode: 0 });
    assert.equal(existsSync(join(s.sandboxDir, 'ran')), true);

    const failing = Promise.reject(new Error('checkpoint failed: ENOSPC'));
    failing.catch(() => {}); // (awaited by the runtime)
    const r = { ...spec({ value: 'touch ran' }), ready: failing };
    await assert.rejects(rt.launch(r), /ENOSPC/);
    assert.equal(existsSync(join(stateDir, r.containerId)), false, 'its state dir is gone');
    assert.ok(released.includes(r.containerId), 'what prepare made is released');
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(existsSync(join(r.sandboxDir, 'ran')), false, 'never ran');
  });

  test('recovery removes state no checkpoint names that never started or has ended, never a container that runs', async () => {
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(join(stateDir, 'never-started'), { recursive: true });
    mkdirSync(join(stateDir, 'ended-and-forgotten'), { recursive: true });
    writeFileSync(join(stateDir, 'ended-and-forgotten', 'pid'), '999999\n');
    writeFileSync(join(stateDir, 'ended-and-forgotten', 'exit_status'), '0\n');
    const running = spec({ value: 'sleep 300' });
    const h = await rt.launch(running);
    groups.push(h.pid);
    const rt2 = new ProcessRuntime({ stateDir, release: async (id) => void released.push(id) });
    try {
      await rt2.recover([]);
      assert.equal(existsSync(join(stateDir, 'never-started')), false);
      assert.equal(existsSync(join(stateDir, 'ended-and-forgotten')), false);
      assert.ok(released.includes('never-started') && released.includes('ended-and-forgotten'));
      assert.equal(existsSync(join(stateDir, running.containerId, 'runtime.json')), true, 'a running container is left alone');
      assert.equal(alive(h.pid), true);
    } finally {
      rt2.close();
      await rt.kill(running.containerId, 0);
    }
  });
});

describe('process runtime: gated launches (the chain starts before ready and waits at the gate)', () => {
  const stateDir = join(root, 'state-gate');
  const released: string[] = [];
  // Stands in for the OCI runtime's MOUNT_AND_RUN: work before the gate ("before"), the gate on
  // fd 3, then the task ("ran").
  const GATED = 'touch before; read -r g <&3; exec 3<&-; [ "$g" = go ] || exit 120; touch ran';
  const prepare = async (s: LaunchSpec) => ({ argv: ['/bin/sh', '-c', GATED], joinCgroups: false, newSession: true, gated: s.ready !== undefined });
  const make = () => new ProcessRuntime({ stateDir, pollIntervalMs: 50, prepare, release: async (id) => void released.push(id) });
  const rt = make();
  after(() => rt.close());
  const gateOf = (id: string) => join(stateDir, id, 'gate');

  test('the chain runs up to the gate while ready is pending, and the task only after it resolves', async () => {
    let go!: () => void;
    const s = { ...spec({ value: 'unused' }), ready: new Promise<void>((r) => (go = r)) };
    const { p, launched } = tracked(rt.launch(s));
    await until(() => existsSync(join(s.sandboxDir, 'before')));
    assert.equal(existsSync(gateOf(s.containerId)), true, 'held at its gate');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(launched(), false);
    assert.equal(existsSync(join(s.sandboxDir, 'ran')), false, 'nothing of the task before ready');
    go();
    const h = await within(p);
    groups.push(h.pid);
    assert.deepEqual(await within(rt.wait(s.containerId)), { exitCode: 0 });
    assert.equal(existsSync(join(s.sandboxDir, 'ran')), true);
    assert.equal(existsSync(gateOf(s.containerId)), false, 'the gate is removed once opened');
  });

  test('a rejected ready turns the chain back: the task never runs and nothing of the container is left', async () => {
    let fail!: (e: Error) => void;
    const ready = new Promise<void>((_, rej) => (fail = rej));
    ready.catch(() => {});
    const s = { ...spec({ value: 'unused' }), ready };
    const p = rt.launch(s);
    await until(() => existsSync(join(s.sandboxDir, 'before')));
    fail(new Error('the task is no longer to be launched'));
    await assert.rejects(within(p), /no longer to be launched/);
    assert.equal(existsSync(join(stateDir, s.containerId)), false, 'its state dir is gone');
    assert.ok(released.includes(s.containerId), 'what prepare made is released');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(existsSync(join(s.sandboxDir, 'ran')), false, 'never ran');
  });

  test('after a crash at the gate, recovery lets a checkpointed container go and turns an unnamed one back', async () => {
    const crashed = make();
    const pending = () => {
      const s = { ...spec({ value: 'unused' }), ready: new Promise<void>(() => {}) }; // never durable before the "crash"
      void crashed.launch(s).catch(() => {});
      return s;
    };
    const named = pending();
    const unnamed = pending();
    for (const s of [named, unnamed]) await until(() => existsSync(join(s.sandboxDir, 'before')) && existsSync(join(stateDir, s.containerId, 'pid')));
    crashed.close(); // the agent is gone; the chains wait at their gates

    const rt2 = make();
    try {
      const out = await within(rt2.recover([{ containerId: named.containerId, sandboxDir: named.sandboxDir }]), 10_000);
      assert.equal(out.length, 1);
      assert.equal(existsSync(join(stateDir, unnamed.containerId)), false, 'the unnamed one is turned back and removed');
      assert.ok(released.includes(unnamed.containerId));
      assert.equal(existsSync(join(unnamed.sandboxDir, 'ran')), false, 'its task never ran');
      const exit = await within(rt2.wait(named.containerId), 10_000);
      assert.deepEqual(exit, { exitCode: 0 }, 'the checkpointed one went on and finished');
      assert.equal(existsSync(join(named.sandboxDir, 'ran')), true);
    } finally {
      rt2.close();
    }
  });
});
