import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Random } from '../base/random.js';
import { MemoryCheckpointer } from '../adapters/runtime/checkpoint-memory.js';
import { Agent } from '../services/agent/agent.js';
import { FakeMasterLink, FakeRuntime, ManualClock, settle } from '../services/agent/fakes.js';
import { FILES_READ_MAX_BYTES, agentRoutes } from './agent.js';
import { Router } from './http.js';

const workDir = mkdtempSync(join(tmpdir(), 'dcos-agent-api-'));
const outside = mkdtempSync(join(tmpdir(), 'dcos-agent-api-outside-'));
let server: Server;
let base: string;
let agent: Agent;
let link: FakeMasterLink;
let runtime: FakeRuntime;
let sandbox: string;

before(async () => {
  link = new FakeMasterLink();
  runtime = new FakeRuntime();
  agent = new Agent({
    clock: new ManualClock(),
    random: new Random(3),
    link,
    runtime,
    checkpointer: new MemoryCheckpointer(),
    config: {
      workDir,
      hostname: 'node-1',
      ip: '127.0.0.1',
      port: 5051,
      version: '1.12.0',
      resources: [
        { name: 'cpus', type: 'SCALAR', scalar: { value: 4 } },
        { name: 'mem', type: 'SCALAR', scalar: { value: 2048 } },
        { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 32000 }] } },
      ],
      attributes: [{ name: 'rack', type: 'TEXT', text: { value: 'r1' } }],
      flags: { work_dir: workDir, port: '5051' },
    },
  });
  await agent.start();
  await settle();
  link.push({
    type: 'RUN_TASK',
    framework_id: { value: 'fw-1' },
    framework_info: { user: 'root', name: 'marathon', id: { value: 'fw-1' } },
    task: {
      name: 'web',
      task_id: { value: 't1' },
      agent_id: { value: 'agent-1' },
      resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 } }],
      command: { value: 'sleep 100' },
    },
  });
  await settle();
  sandbox = runtime.launched[0]!.sandboxDir;
  mkdirSync(join(sandbox, 'sub'), { recursive: true });
  writeFileSync(join(sandbox, 'stdout'), 'hello world\n');
  writeFileSync(join(sandbox, 'big'), 'x'.repeat(100_000));
  writeFileSync(join(sandbox, 'utf8'), 'aé€b');
  writeFileSync(join(outside, 'secret'), 'top secret');
  symlinkSync('/etc', join(sandbox, 'etc-link'));
  symlinkSync(join(outside, 'secret'), join(sandbox, 'secret-link'));
  symlinkSync('stdout', join(sandbox, 'stdout-link'));
  writeFileSync(join(workDir, 'not-a-sandbox'), 'agent private');

  const router = new Router();
  agentRoutes(router, agent, { systemMetrics: () => ({ 'system/cpus_total': 2 }) });
  server = createServer((req, res) => {
    void router.handle(req, res).then((handled) => {
      if (!handled) {
        res.writeHead(404);
        res.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await agent.stop();
  await new Promise((r) => server.close(r));
  rmSync(workDir, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

async function get(path: string, query: Record<string, string> = {}): Promise<{ status: number; text: string; json: () => any }> {
  const qs = new URLSearchParams(query).toString();
  const res = await fetch(`${base}${path}${qs ? `?${qs}` : ''}`);
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
}

describe('agent /state', () => {
  test('has the legacy shape with the sandbox directory of each executor', async () => {
    for (const p of ['/state', '/state.json', '/slave(1)/state']) {
      const r = await get(p);
      assert.equal(r.status, 200, p);
      const s = r.json();
      assert.equal(s.id, 'agent-1');
      assert.equal(s.pid, 'slave(1)@127.0.0.1:5051');
      assert.equal(s.hostname, 'node-1');
      assert.deepEqual(s.resources, { cpus: 4, gpus: 0, mem: 2048, disk: 0, ports: '[31000-32000]' });
      assert.deepEqual(s.attributes, { rack: 'r1' });
      assert.equal(s.flags.port, '5051');
      const fw = s.frameworks[0];
      assert.equal(fw.id, 'fw-1');
      assert.equal(fw.name, 'marathon');
      const ex = fw.executors[0];
      assert.equal(ex.id, 't1');
      assert.equal(ex.directory, sandbox);
      assert.equal(ex.container, runtime.launched[0]!.containerId);
      assert.equal(ex.tasks[0].id, 't1');
      assert.equal(ex.tasks[0].state, 'TASK_RUNNING');
      assert.equal(ex.tasks[0].slave_id, 'agent-1');
      assert.deepEqual(ex.tasks[0].resources, { cpus: 0.5, gpus: 0, mem: 0, disk: 0 });
      assert.deepEqual(
        ex.tasks[0].statuses.map((x: { state: string }) => x.state),
        ['TASK_STARTING', 'TASK_RUNNING'],
      );
    }
  });

  test('supports jsonp', async () => {
    const r = await get('/state', { jsonp: 'cb' });
    assert.match(r.text, /^cb\(\{.*\}\);$/s);
  });

  test('/health, /flags and /metrics/snapshot', async () => {
    const h = await get('/health');
    assert.equal(h.status, 200);
    assert.equal(h.text, '');
    assert.deepEqual((await get('/flags')).json(), { flags: { work_dir: workDir, port: '5051' } });
    const m = (await get('/metrics/snapshot')).json();
    assert.equal(m['slave/registered'], 1);
    assert.equal(m['slave/tasks_running'], 1);
    assert.equal(m['slave/cpus_total'], 4);
    assert.equal(m['slave/cpus_used'], 0.5);
    assert.equal(m['system/cpus_total'], 2);
  });
});

describe('/files/read', () => {
  const stdout = () => join(sandbox, 'stdout');

  test('without a path: 400 with the Mesos message', async () => {
    const r = await get('/files/read');
    assert.equal(r.status, 400);
    assert.equal(r.text, "Expecting 'path=value' in query.\n");
  });

  test('offset missing or -1 returns the file size and no data (the tail loop starts there)', async () => {
    assert.deepEqual((await get('/files/read', { path: stdout() })).json(), { offset: 12, data: '' });
    assert.deepEqual((await get('/files/read', { path: stdout(), offset: '-1' })).json(), { offset: 12, data: '' });
  });

  test('reads from an offset, with an optional length', async () => {
    assert.deepEqual((await get('/files/read', { path: stdout(), offset: '0' })).json(), { offset: 0, data: 'hello world\n' });
    assert.deepEqual((await get('/files/read', { path: stdout(), offset: '6', length: '3' })).json(), { offset: 6, data: 'wor' });
    assert.deepEqual((await get('/files/read', { path: stdout(), offset: '6', length: '-1' })).json(), { offset: 6, data: 'world\n' });
    assert.deepEqual((await get('/files/read', { path: stdout(), offset: '0', length: '0' })).json(), { offset: 0, data: '' });
  });

  test('an offset at or past the end returns that offset and no data', async () => {
    assert.deepEqual((await get('/files/read', { path: stdout(), offset: '12' })).json(), { offset: 12, data: '' });
    assert.deepEqual((await get('/files/read', { path: stdout(), offset: '500' })).json(), { offset: 500, data: '' });
  });

  test('negative values other than -1 and non-numbers are 400', async () => {
    assert.equal((await get('/files/read', { path: stdout(), offset: '-2' })).status, 400);
    assert.equal((await get('/files/read', { path: stdout(), offset: '0', length: '-5' })).status, 400);
    assert.equal((await get('/files/read', { path: stdout(), offset: 'abc' })).status, 400);
  });

  test('every read is capped at 16 pages', async () => {
    const r = (await get('/files/read', { path: join(sandbox, 'big'), offset: '0' })).json();
    assert.equal(r.data.length, FILES_READ_MAX_BYTES);
    assert.equal(FILES_READ_MAX_BYTES, 65536);
    const r2 = (await get('/files/read', { path: join(sandbox, 'big'), offset: '0', length: '1000000' })).json();
    assert.equal(r2.data.length, 65536);
  });

  test('a read does not split a UTF-8 character', async () => {
    // 'a' (1 byte) 'é' (2) '€' (3) 'b' (1): bytes 0..6
    assert.deepEqual((await get('/files/read', { path: join(sandbox, 'utf8'), offset: '0', length: '4' })).json(), { offset: 0, data: 'aé' });
    assert.deepEqual((await get('/files/read', { path: join(sandbox, 'utf8'), offset: '3', length: '4' })).json(), { offset: 3, data: '€b' });
  });

  test('a directory is 400 and an unknown file 404', async () => {
    assert.equal((await get('/files/read', { path: sandbox, offset: '0' })).status, 400);
    assert.equal((await get('/files/read', { path: join(sandbox, 'nope'), offset: '0' })).status, 404);
  });

  test('the virtual path of the latest run maps to the sandbox', async () => {
    const r = await get('/files/read', { path: '/frameworks/fw-1/executors/t1/runs/latest/stdout', offset: '0' });
    assert.deepEqual(r.json(), { offset: 0, data: 'hello world\n' });
    assert.equal((await get('/files/read', { path: '/frameworks/fw-1/executors/nope/runs/latest/stdout' })).status, 404);
  });

  test('a symlink that stays inside the sandbox is followed', async () => {
    assert.deepEqual((await get('/files/read', { path: join(sandbox, 'stdout-link'), offset: '0' })).json(), { offset: 0, data: 'hello world\n' });
  });
});

describe('files API confinement', () => {
  const hostile = () => [
    '../../etc/passwd',
    '/etc/passwd',
    `${sandbox}/../../../../../../../../etc/passwd`,
    `${sandbox}/../../../../../../../../../../../../../../etc/passwd`,
    '/frameworks/fw-1/executors/t1/runs/latest/../../../../../../../../../../etc/passwd',
    join(workDir, 'not-a-sandbox'),
    join(workDir, 'slaves'),
    join(workDir, 'slaves', 'agent-1'),
    join(workDir, 'slaves', 'agent-1', 'frameworks', 'fw-1', 'executors', 't1', 'runs'),
    `${join(outside, 'secret')}`,
  ];

  test('paths outside the sandboxes are never served', async () => {
    for (const path of hostile()) {
      for (const ep of ['/files/read', '/files/browse', '/files/download']) {
        const r = await get(ep, { path, offset: '0' });
        assert.ok(r.status === 404 || r.status === 403, `${ep} ${path} gave ${r.status}`);
        assert.doesNotMatch(r.text, /root:|top secret|agent private/);
      }
    }
  });

  test('symlinks out of the sandbox are refused with 403', async () => {
    for (const path of [join(sandbox, 'etc-link'), join(sandbox, 'etc-link', 'passwd'), join(sandbox, 'secret-link')]) {
      for (const ep of ['/files/read', '/files/browse', '/files/download']) {
        const r = await get(ep, { path, offset: '0' });
        assert.equal(r.status, 403, `${ep} ${path}`);
        assert.doesNotMatch(r.text, /root:|top secret/);
      }
    }
  });

  test('a NUL byte in the path is rejected', async () => {
    assert.equal((await get('/files/read', { path: `${sandbox}/stdout\0.txt` })).status, 400);
  });
});

describe('/files/browse and /files/download', () => {
  test('browse lists a sandbox with Mesos entry fields', async () => {
    const r = await get('/files/browse', { path: sandbox });
    assert.equal(r.status, 200);
    const entries = r.json() as { path: string; mode: string; size: number; uid: string; nlink: number; mtime: number }[];
    const byName = new Map(entries.map((e) => [e.path.slice(sandbox.length + 1), e]));
    assert.ok(byName.has('stdout') && byName.has('sub') && byName.has('etc-link'));
    assert.equal(byName.get('stdout')!.size, 12);
    assert.match(byName.get('stdout')!.mode, /^-rw/);
    assert.match(byName.get('sub')!.mode, /^d/);
    assert.match(byName.get('etc-link')!.mode, /^l/);
    assert.equal(typeof byName.get('stdout')!.uid, 'string');
    assert.ok(byName.get('stdout')!.mtime > 1_600_000_000);
  });

  test('browse without a path is 400; an unknown path 404; a file gives its own entry', async () => {
    const r = await get('/files/browse');
    assert.equal(r.status, 400);
    assert.equal(r.text, "Expecting 'path=value' in query.\n");
    assert.equal((await get('/files/browse', { path: join(sandbox, 'missing') })).status, 404);
    const f = (await get('/files/browse', { path: join(sandbox, 'stdout') })).json();
    assert.equal(f.length, 1);
    assert.equal(f[0].path, join(sandbox, 'stdout'));
  });

  test('download returns the raw bytes; a directory is 400', async () => {
    const r = await get('/files/download', { path: join(sandbox, 'big') });
    assert.equal(r.status, 200);
    assert.equal(r.text.length, 100_000);
    const d = await get('/files/download', { path: sandbox });
    assert.equal(d.status, 400);
    assert.equal(d.text, 'Cannot download a directory.\n');
  });
});

describe('completed tasks in /state', () => {
  test('a finished task moves to completed_frameworks/completed_executors/completed_tasks', async () => {
    runtime.exit(runtime.launched[0]!.containerId, { exitCode: 0 });
    await settle();
    const s = (await get('/state')).json();
    assert.equal(s.frameworks.length, 0);
    const ex = s.completed_frameworks[0].completed_executors[0];
    assert.equal(ex.directory, sandbox);
    assert.equal(ex.completed_tasks[0].state, 'TASK_FINISHED');
    // The sandbox of a completed task stays readable.
    assert.deepEqual((await get('/files/read', { path: '/frameworks/fw-1/executors/t1/runs/latest/stdout', offset: '0' })).json(), {
      offset: 0,
      data: 'hello world\n',
    });
  });
});
