import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeRecord } from '../../../src/base/recordio.js';
import type { Task } from '../../../src/model/mesos.js';
import { ClusterModel, History, filterTasks, sandboxOf } from './cluster.js';
import { explainError } from './errors.js';
import { DEFAULT_FOLLOW, applyRead, nextRead, startFollow } from './log-follower.js';
import { readRecords } from './recordio-stream.js';
import { groupTree } from './services.js';
import { serviceStatus, taskGroup, taskShown } from './status.js';
import { visibleWindow } from './virtual.js';

const enc = new TextEncoder();

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(ch);
      c.close();
    },
  });
}

const task = (id: string, state: Task['state'], agent = 'a1', fw = 'f1', cpus = 1): Task => ({
  name: id,
  task_id: { value: id },
  framework_id: { value: fw },
  agent_id: { value: agent },
  state,
  statuses: [],
  resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: cpus } }],
});

describe('RecordIO reader over a fetch body', () => {
  test('yields each record whole however the bytes are split, multi-byte characters included', async () => {
    const bytes = enc.encode(encodeRecord('{"type":"SUBSCRIBED"}') + encodeRecord('{"type":"TASK_ADDED","n":"é→"}') + encodeRecord('{"type":"HEARTBEAT"}'));
    for (const size of [1, 2, 3, 7, bytes.length]) {
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      const got: { type: string; n?: string }[] = [];
      for await (const r of readRecords<{ type: string; n?: string }>(streamOf(chunks))) got.push(r);
      assert.deepEqual(
        got.map((g) => g.type),
        ['SUBSCRIBED', 'TASK_ADDED', 'HEARTBEAT'],
        `chunk size ${size}`,
      );
      assert.equal(got[1]?.n, 'é→');
    }
  });

  test('a record announcing more than the limit is an error, not an unbounded buffer', async () => {
    await assert.rejects(async () => {
      for await (const _ of readRecords(streamOf([enc.encode('999999\n{')]), 1000)) {
      }
    }, /exceeds the limit/);
  });
});

describe('log follower offset arithmetic', () => {
  test('asks for the size first (offset -1), then starts one tail window before the end', () => {
    let s = startFollow();
    assert.deepEqual(nextRead(s), { offset: -1 });
    s = applyRead(s, { offset: 100_000, data: '' }).state;
    assert.equal(s.offset, 100_000 - DEFAULT_FOLLOW.tailBytes);
    assert.equal(s.truncated, true);
    assert.deepEqual(nextRead(s), { offset: 100_000 - DEFAULT_FOLLOW.tailBytes, length: DEFAULT_FOLLOW.pageBytes });
  });

  test('a small file is read from its start', () => {
    const s = applyRead(startFollow(), { offset: 10, data: '' }).state;
    assert.equal(s.offset, 0);
    assert.equal(s.truncated, false);
  });

  test('pages forward by the UTF-8 byte length of the data, not its JS length', () => {
    let s = applyRead(startFollow(), { offset: 0, data: '' }).state;
    s = applyRead(s, { offset: 0, data: 'héllo\n' }).state; // é is 2 bytes
    assert.equal(s.offset, 7);
    s = applyRead(s, { offset: 7, data: '😀\n' }).state; // 4 + 1 bytes
    assert.equal(s.offset, 12);
    assert.equal(s.text, 'héllo\n😀\n');
  });

  test('empty reads back off up to the maximum; new data resets the wait', () => {
    let s = applyRead(startFollow(), { offset: 0, data: '' }).state;
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = applyRead(s, { offset: s.offset, data: '' });
      delays.push(r.delayMs);
      s = r.state;
    }
    assert.deepEqual(delays, [250, 500, 1000, 2000, 2000, 2000]);
    assert.equal(applyRead(s, { offset: s.offset, data: 'x' }).delayMs, 0);
  });

  test('the kept text is bounded and starts at a line', () => {
    const o = { ...DEFAULT_FOLLOW, maxChars: 10 };
    let s = applyRead(startFollow(), { offset: 0, data: '' }, o).state;
    s = applyRead(s, { offset: 0, data: 'aaaa\nbbbb\ncccc\n' }, o).state;
    assert.equal(s.text, 'cccc\n');
    assert.equal(s.truncated, true);
    assert.equal(s.offset, 15);
  });
});

describe('status derivation', () => {
  test('tasks: a word and a group for every state', () => {
    assert.equal(taskShown('TASK_RUNNING').label, 'Running');
    assert.equal(taskGroup('TASK_RUNNING'), 'active');
    assert.equal(taskGroup('TASK_FINISHED'), 'completed');
    assert.equal(taskGroup('TASK_KILLED'), 'completed');
    assert.equal(taskGroup('TASK_FAILED'), 'failed');
    assert.equal(taskGroup('TASK_UNREACHABLE'), 'unreachable');
  });

  test('services: Suspended, Delayed, Waiting, Deploying, Recovering, Running', () => {
    assert.equal(serviceStatus({ instances: 0, tasksRunning: 0 }), 'Suspended');
    assert.equal(serviceStatus({ instances: 2, tasksRunning: 0 }, { delay: { overdue: false, timeLeftSeconds: 30 } }), 'Delayed');
    assert.equal(serviceStatus({ instances: 2, tasksRunning: 0, deployments: [{}] }, { unmatchedOffers: 4 }), 'Waiting');
    assert.equal(serviceStatus({ instances: 2, tasksRunning: 1, deployments: [{}] }), 'Deploying');
    assert.equal(serviceStatus({ instances: 2, tasksRunning: 1 }), 'Recovering');
    assert.equal(serviceStatus({ instances: 2, tasksRunning: 2 }), 'Running');
  });

  test('services are grouped into a tree by their path, with counts per group', () => {
    const root = groupTree([
      { id: '/prod/web/api', instances: 1, tasksRunning: 1 },
      { id: '/prod/db', instances: 1, tasksRunning: 0 },
      { id: '/tool', instances: 0 },
    ]);
    assert.deepEqual(
      root.apps.map((a) => a.app.id),
      ['/tool'],
    );
    const prod = root.groups[0]!;
    assert.equal(prod.path, '/prod');
    assert.deepEqual(prod.counts, { Running: 1, Recovering: 1 });
    assert.equal(prod.groups[0]?.apps[0]?.app.id, '/prod/web/api');
  });
});

describe('cluster model from the operator stream', () => {
  const agent = (id: string, cpus: number) => ({
    agent_info: { id: { value: id }, hostname: id, resources: [{ name: 'cpus', type: 'SCALAR' as const, scalar: { value: cpus } }] },
    active: true,
  });

  test('snapshot then events: allocation follows task states, removed agents leave the totals', () => {
    const m = new ClusterModel();
    m.apply({
      type: 'SUBSCRIBED',
      subscribed: { get_state: { get_agents: { agents: [agent('a1', 4), agent('a2', 4)] }, get_tasks: { tasks: [task('t1', 'TASK_RUNNING')] } } },
    });
    assert.equal(m.summary().total.cpus, 8);
    assert.equal(m.summary().allocated.cpus, 1);
    m.apply({ type: 'TASK_ADDED', task_added: { task: task('t2', 'TASK_STAGING', 'a2', 'f1', 2) } });
    assert.equal(m.summary().allocated.cpus, 3);
    m.apply({
      type: 'TASK_UPDATED',
      task_updated: { framework_id: { value: 'f1' }, state: 'TASK_FINISHED', status: { task_id: { value: 't1' }, state: 'TASK_FINISHED' } },
    });
    assert.equal(m.summary().allocated.cpus, 2);
    assert.equal(m.tasks.get('f1/t1')?.statuses.length, 1);
    assert.equal(m.allocationByAgent().get('a2')?.cpus, 2);
    m.apply({ type: 'AGENT_REMOVED', agent_removed: { agent_id: { value: 'a1' } } });
    assert.equal(m.summary().total.cpus, 4);
    assert.deepEqual(m.summary().nodes, { active: 1, unreachable: 0, removed: 1 });
    assert.equal(m.apply({ type: 'HEARTBEAT' }), false);
  });

  test('holds 10,000 tasks and filters them by state group, node and text', () => {
    const m = new ClusterModel();
    for (let i = 0; i < 10_000; i++)
      m.apply({ type: 'TASK_ADDED', task_added: { task: task(`t${i}`, i % 10 === 0 ? 'TASK_FAILED' : 'TASK_RUNNING', i % 2 ? 'a1' : 'a2') } });
    assert.equal(m.tasks.size, 10_000);
    assert.equal(filterTasks(m, { group: 'failed' }).length, 1000);
    assert.equal(filterTasks(m, { agentId: 'a1' }).length, 5000);
    assert.deepEqual(
      filterTasks(m, { text: 't9999' }).map((t) => t.task_id.value),
      ['t9999'],
    );
  });

  test('the service filter finds a Marathon app by its task-id prefix, among Marathon framework tasks only', () => {
    const m = new ClusterModel();
    const ids = (xs: Task[]) => xs.map((t) => t.task_id.value).sort();
    for (const t of [
      task('prod_web.instance-1._app.1', 'TASK_RUNNING', 'a1', 'marathon-fw'),
      task('prod_web.instance-2._app.1', 'TASK_KILLED', 'a2', 'marathon-fw'),
      task('prod_web2.instance-3._app.1', 'TASK_RUNNING', 'a1', 'marathon-fw'),
      task('prod_web.instance-4._app.1', 'TASK_RUNNING', 'a1', 'other-fw'),
    ])
      m.apply({ type: 'TASK_ADDED', task_added: { task: t } });
    assert.deepEqual(ids(filterTasks(m, { appId: '/prod/web', marathonFrameworkId: 'marathon-fw' })), [
      'prod_web.instance-1._app.1',
      'prod_web.instance-2._app.1',
    ]);
    // Without Marathon's framework id the prefix alone decides.
    assert.equal(filterTasks(m, { appId: '/prod/web' }).length, 3);
    assert.equal(filterTasks(m, { appId: '/prod/web', group: 'active', marathonFrameworkId: 'marathon-fw' }).length, 1);
    assert.equal(filterTasks(m, { appId: '/prod', marathonFrameworkId: 'marathon-fw' }).length, 0, 'a group is not an app');
  });

  test('the task bound drops the oldest finished tasks, never running ones', () => {
    const m = new ClusterModel(3);
    m.apply({ type: 'TASK_ADDED', task_added: { task: task('old', 'TASK_FINISHED') } });
    m.apply({ type: 'TASK_ADDED', task_added: { task: task('r1', 'TASK_RUNNING') } });
    m.apply({ type: 'TASK_ADDED', task_added: { task: task('r2', 'TASK_RUNNING') } });
    m.apply({ type: 'TASK_ADDED', task_added: { task: task('r3', 'TASK_RUNNING') } });
    assert.deepEqual([...m.tasks.keys()], ['f1/r1', 'f1/r2', 'f1/r3']);
  });

  test('the sandbox of a task is its executor directory in the agent state', () => {
    const s = { frameworks: [{ id: 'f1', executors: [{ id: 'e1', directory: '/sb/e1', tasks: [{ id: 't1' }] }] }], completed_frameworks: [] };
    assert.equal(sandboxOf(s, 'f1', 't1'), '/sb/e1');
    assert.equal(sandboxOf(s, 'f1', 'nope'), undefined);
  });
});

describe('virtual window and error words', () => {
  test('renders only the rows in view plus overscan, with padding for the rest', () => {
    const w = visibleWindow(36 * 5000, 540, 36, 10_000, 8);
    assert.equal(w.start, 4992);
    assert.equal(w.end, 5024);
    assert.equal(w.padTop + (w.end - w.start) * 36 + w.padBottom, 10_000 * 36);
    assert.deepEqual(visibleWindow(0, 540, 36, 0), { start: 0, end: 0, padTop: 0, padBottom: 0 });
  });

  test('errors say what failed and what to do', () => {
    assert.match(explainError('the event stream', undefined, '').title, /Could not reach the cluster/);
    assert.match(explainError('Marathon apps', 503, '').hint, /retries/);
  });
});

describe('plot samples kept across a reload', () => {
  const HOUR = 3_600_000;
  const sum = (cpus: number) => ({ allocated: { cpus, mem: 10, disk: 0, gpus: 0 }, total: { cpus: 8, mem: 100, disk: 50, gpus: 0 } });

  test('the ring keeps at most max samples and none older than the window', () => {
    const h = new History(5, 60_000);
    for (let i = 0; i < 8; i++) h.add(i * 1000, sum(i));
    assert.deepEqual(
      h.samples.map((x) => x.atMs),
      [3000, 4000, 5000, 6000, 7000],
    );
    h.add(70_000, sum(1));
    assert.deepEqual(
      h.samples.map((x) => x.atMs),
      [70_000],
      'older than a minute before the newest: gone',
    );
  });

  test('a stored hour restores into a new page, in order, before its own samples', () => {
    const before = new History();
    const t0 = 10 * HOUR;
    for (let i = 0; i < 720; i++) before.add(t0 + i * 5000, sum(i % 8));
    const text = before.serialize();
    assert.ok(text.length < 60_000, `stored form stays small (${text.length} characters)`);

    const now = t0 + 720 * 5000 + 30_000;
    const after = new History();
    after.add(now, sum(3)); // the new page's first sample arrives before the restore in some orders
    const n = after.restore(text, now);
    // The window is the hour before now: samples at or before now - 1 h are left out.
    const expected = before.samples.filter((x) => x.atMs > now - HOUR);
    assert.equal(n, expected.length);
    assert.equal(after.samples.length, expected.length + 1);
    assert.deepEqual(after.samples[0], expected[0]);
    assert.equal(after.samples[after.samples.length - 1]?.atMs, now);
    const times = after.samples.map((x) => x.atMs);
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
  });

  test('restored samples never exceed the bound, and a day-old store restores nothing', () => {
    const big = new History(10_000, 10 * HOUR);
    for (let i = 0; i < 5000; i++) big.add(i * 1000, sum(1));
    const h = new History(720);
    assert.equal(h.restore(big.serialize(), 5000 * 1000), 720);
    assert.equal(h.samples.length, 720);
    assert.equal(new History().restore(big.serialize(), 5000 * 1000 + 25 * HOUR), 0);
  });

  test('malformed or foreign stores restore nothing and do not throw', () => {
    const h = new History();
    for (const bad of [
      null,
      '',
      'not json',
      'null',
      '{"v":2,"samples":[]}',
      '{"v":1,"samples":[[1,2]]}',
      '{"v":1,"samples":[[1,"x",0,0,0,0,0,0,0]]}',
      '{"v":1}',
    ])
      assert.equal(h.restore(bad, 1000), 0, String(bad));
    assert.equal(h.samples.length, 0);
  });
});
