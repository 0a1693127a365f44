/**
 * The agent's container flags through startAgent (what `dcos agent` runs), with real crun:
 * --docker_config gives the image store its registry credentials (a registry on loopback that
 * answers only with them: Debian's docker-registry behind a basic-auth gate in this test), and
 * --seccomp=unconfined turns the default profile off. Bad flag values stop `dcos agent` with the
 * reason.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { detectCgroups } from '../src/adapters/runtime/cgroups.js';
import { findOciRuntime } from '../src/adapters/runtime/oci.js';
import { type RunningAgent, startAgent } from '../src/main/agent.js';
import type { TaskStatus } from '../src/model/mesos.js';
import { FakeMasterLink } from '../src/services/agent/fakes.js';
import { cgroupDirsNamed, pushBusybox, removeCgroupTree, startRegistry, unmountUnder } from './lib/images.js';

const DCOS = resolve('dist/src/main/dcos.js');
const registryBin = ['/usr/bin/docker-registry', '/usr/bin/registry'].find((p) => existsSync(p));
const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : detectCgroups().kind === 'none'
      ? 'no cgroups'
      : !findOciRuntime('crun')
        ? 'crun is not installed'
        : !registryBin
          ? 'docker-registry is not installed'
          : !existsSync('/bin/busybox')
            ? 'busybox-static is not installed'
            : false;
if (skip) process.stdout.write(`# SKIP agent flag tests: ${skip}\n`);

const TERMINAL = ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST'];

function dcos(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [DCOS, ...args], { timeout: 30_000 }, (err, _out, stderr) =>
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

describe('agent container flags', { skip }, () => {
  const work = mkdtempSync(join(tmpdir(), 'dcos-agent-flags-'));
  const cgRoot = `dcos-ts-flags-${process.pid}`;
  let registry: ChildProcess | undefined;
  let gate: Server;
  let gateAddr = '';
  const seenAuth: (string | undefined)[] = [];
  const agents: { running: RunningAgent; link: FakeMasterLink; workDir: string }[] = [];

  before(async () => {
    const r = await startRegistry(work, registryBin as string);
    registry = r.child;
    await pushBusybox(work, '/bin/busybox', r.addr, 'private/busybox', '1', false);
    // The gate: basic auth alice:secret, then the request goes on to the real registry.
    const expected = `Basic ${Buffer.from('alice:secret').toString('base64')}`;
    gate = createServer((req, res) => {
      seenAuth.push(req.headers.authorization);
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="gate"' }).end();
        return;
      }
      const headers: Record<string, string> = {};
      if (typeof req.headers.accept === 'string') headers.Accept = req.headers.accept;
      fetch(`http://${r.addr}${req.url}`, { headers }).then(
        async (up) => {
          const out: Record<string, string> = {};
          for (const h of ['content-type', 'docker-content-digest']) if (up.headers.get(h)) out[h] = up.headers.get(h) as string;
          res.writeHead(up.status, out).end(Buffer.from(await up.arrayBuffer()));
        },
        () => res.writeHead(502).end(),
      );
    });
    await new Promise<void>((ok) => gate.listen(0, '127.0.0.1', ok));
    const a = gate.address();
    gateAddr = `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });

  after(async () => {
    for (const a of agents) await a.running.stop();
    gate?.close();
    registry?.kill('SIGKILL');
    for (const d of cgroupDirsNamed(cgRoot)) await removeCgroupTree(d);
    unmountUnder(work);
    rmSync(work, { recursive: true, force: true });
  });

  async function boot(name: string, opts: { dockerConfig?: string; seccomp?: 'default' | 'unconfined' }) {
    const link = new FakeMasterLink();
    const workDir = join(work, name);
    const running = await startAgent({ master: '127.0.0.1:1', link, workDir, port: 0, cgroupsRoot: cgRoot, resources: 'cpus:2;mem:512', ...opts });
    agents.push({ running, link, workDir });
    await running.registered;
    return { link, workDir };
  }

  async function runTask(a: { link: FakeMasterLink; workDir: string }, id: string, command: string, image: string): Promise<{ s: TaskStatus; out: string }> {
    a.link.push({
      type: 'RUN_TASK',
      framework_id: { value: 'fw' },
      framework_info: { user: 'root', name: 'fw', id: { value: 'fw' } },
      task: {
        name: id,
        task_id: { value: id },
        agent_id: { value: 'a' },
        command: { value: command },
        resources: [{ name: 'mem', type: 'SCALAR', scalar: { value: 32 } }],
        container: { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: image } } } },
      },
    });
    const statuses = () =>
      a.link
        .callsOf('STATUS_UPDATE')
        .map((c) => c.status)
        .filter((s) => s.task_id.value === id);
    const end = Date.now() + 30_000;
    while (!statuses().some((s) => TERMINAL.includes(s.state))) {
      if (Date.now() > end) throw new Error(`no terminal update for ${id}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const s = statuses().at(-1) as TaskStatus;
    const runs = join(a.workDir, 'slaves');
    const find = (d: string): string | undefined => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) {
          const f = find(p);
          if (f) return f;
        } else if (e.name === 'stdout' && p.includes(`/executors/${id}/`)) return p;
      }
      return undefined;
    };
    const f = find(runs);
    return { s, out: f ? readFileSync(f, 'utf8') : '' };
  }

  test('--docker_config: the image comes from a registry that needs the credentials; without them the launch fails naming the registry', async () => {
    const cfg = join(work, 'docker-config.json');
    writeFileSync(cfg, JSON.stringify({ auths: { [gateAddr]: { auth: Buffer.from('alice:secret').toString('base64') } } }));
    const withCreds = await boot('with-creds', { dockerConfig: cfg });
    const ok = await runTask(withCreds, 'ok', 'cat /etc/image-name', `${gateAddr}/private/busybox:1`);
    assert.equal(ok.s.state, 'TASK_FINISHED', JSON.stringify(ok.s));
    assert.equal(ok.out, 'private/busybox:1\n');
    assert.ok(seenAuth.length > 0 && seenAuth.every((h) => h?.startsWith('Basic ')), 'every request to the gate carried basic auth');

    const anonymous = await boot('anonymous', {});
    const bad = await runTask(anonymous, 'nocreds', 'true', `${gateAddr}/private/busybox:1`);
    assert.equal(bad.s.state, 'TASK_FAILED');
    assert.equal(bad.s.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.match(bad.s.message ?? '', new RegExp(`registry ${gateAddr} requires credentials`), bad.s.message);
  });

  test('--seccomp=unconfined: unshare is allowed in image tasks (the default profile denies it)', async () => {
    const cfg = join(work, 'docker-config.json');
    const image = `${gateAddr}/private/busybox:1`;
    const cmd = 'if unshare -U true; then echo allowed; else echo denied; fi';
    const open = await boot('unconfined', { dockerConfig: cfg, seccomp: 'unconfined' });
    const r = await runTask(open, 'open', cmd, image);
    assert.equal(r.s.state, 'TASK_FINISHED', JSON.stringify(r.s));
    assert.equal(r.out, 'allowed\n');
    const confined = agents[0] as { link: FakeMasterLink; workDir: string };
    const d = await runTask(confined, 'confined', cmd, image);
    assert.equal(d.out, 'denied\n');
  });

  test('bad flag values stop dcos agent with the reason', async () => {
    const seccomp = await dcos(['agent', '--master=127.0.0.1:1', `--work_dir=${join(work, 'bad1')}`, '--seccomp=strict']);
    assert.notEqual(seccomp.code, 0);
    assert.match(seccomp.stderr, /--seccomp must be default or unconfined, got 'strict'/);
    const cfg = await dcos(['agent', '--master=127.0.0.1:1', `--work_dir=${join(work, 'bad2')}`, '--port=0', `--docker_config=${join(work, 'missing.json')}`]);
    assert.notEqual(cfg.code, 0);
    assert.match(cfg.stderr, /--docker_config: cannot read .*missing\.json: ENOENT/);
  });
});
