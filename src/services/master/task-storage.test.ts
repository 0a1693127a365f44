/**
 * The master keeps tasks compact (shared resources, ids and definitions; no per-task JSON) and
 * serializes them piecewise for the state views: none of that may change a byte of any view.
 * The expected task below is what the master stored before compaction, built by hand from the
 * TaskInfo in the same key order.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryStore } from '../../adapters/store/memory.js';
import { stringifyWithRaw } from '../../base/raw-json.js';
import { Random } from '../../base/random.js';
import { HierarchicalAllocator } from '../../core/allocator/index.js';
import { legacyTask, legacyTaskJson, taskJson } from '../../core/legacy.js';
import * as R from '../../core/resources/index.js';
import type { Offer, Resource, Task, TaskInfo } from '../../model/mesos.js';
import type { EventSink } from '../../ports/sink.js';
import { ManualClock, settle } from '../agent/fakes.js';
import { DEFAULT_MASTER_CONFIG } from './config.js';
import { Interner, sumOfLists } from './intern.js';
import { Master } from './master.js';
import { getState, getTasks, legacyState, legacyStateSummary, legacyTasks } from './views.js';

type Ev = { type: string; offers?: { offers: Offer[] }; subscribed?: { framework_id: { value: string } } };

class Sink implements EventSink<Ev> {
  readonly events: Ev[] = [];
  closed = false;
  send(e: Ev): boolean {
    this.events.push(e);
    return true;
  }
  close(): void {}
  onClose(): void {}
}

const AGENT_INFO = {
  hostname: 'a1.test',
  port: 5051,
  resources: [
    { name: 'cpus', type: 'SCALAR' as const, scalar: { value: 8 } },
    { name: 'mem', type: 'SCALAR' as const, scalar: { value: 8192 } },
    { name: 'ports', type: 'RANGES' as const, ranges: { range: [{ begin: 31000, end: 31010 }] } },
  ],
};

function richTask(id: string, agentId: string, port: number): TaskInfo {
  return {
    name: `web.${id}`,
    task_id: { value: id },
    agent_id: { value: agentId },
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
      { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
      { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: port, end: port }] } },
    ],
    command: { value: 'sleep 100', user: 'nobody' },
    labels: {
      labels: [
        { key: 'app', value: 'web' },
        { key: 'tier', value: 'front' },
      ],
    },
    discovery: { visibility: 'FRAMEWORK', name: 'web', ports: { ports: [{ number: 8080, name: 'http', protocol: 'tcp' }] } },
    container: { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: 'nginx:1.25' } } } },
    health_check: { type: 'HTTP', http: { port: 8080, path: '/health' }, interval_seconds: 5 },
    kill_policy: { grace_period: { nanoseconds: 3e9 } },
    limits: { cpus: 0.5 },
  } as TaskInfo;
}

async function cluster(durable = new MemoryStore(), seed = 1) {
  const clock = new ManualClock();
  const random = new Random(seed);
  const master = new Master({
    clock,
    random,
    store: durable,
    allocator: new HierarchicalAllocator({ random: random.fork() }),
    config: { ...DEFAULT_MASTER_CONFIG, hostname: 'm.test', ip: '127.0.0.1' },
    defer: (fn) => queueMicrotask(fn),
  });
  await master.start();
  return { clock, master, durable };
}

describe('compact task storage', () => {
  test('tasks launched with labels, discovery, container, health check and several statuses serialize as before, in every view and after a restart', async () => {
    const { clock, master, durable } = await cluster();
    const reg = await master.agentCall({ type: 'REGISTER', agent_info: AGENT_INFO, ip: '127.0.0.2', version: 'test' });
    const agentId = (reg.body as { agent_id: { value: string } }).agent_id.value;
    assert.equal(master.agentSubscribe(agentId, new Sink() as never), undefined);
    const sink = new Sink();
    await master.subscribe({ subscribe: { framework_info: { user: 'root', name: 'web', roles: ['*'], capabilities: [{ type: 'MULTI_ROLE' }] } } }, sink, 's1');
    const fwId = sink.events[0]!.subscribed!.framework_id.value;
    await clock.advance(DEFAULT_MASTER_CONFIG.allocationIntervalMs + 1);
    await settle();
    const offer = sink.events.find((e) => e.type === 'OFFERS')!.offers!.offers[0]!;
    const noPorts = (t: TaskInfo): TaskInfo => ({ ...t, resources: t.resources!.filter((r) => r.name !== 'ports') });
    const infos = [richTask('t1', agentId, 31001), richTask('t2', agentId, 31002), noPorts(richTask('t3', agentId, 0)), noPorts(richTask('t4', agentId, 0))];
    const accepted = await master.schedulerCall(
      { type: 'ACCEPT', framework_id: { value: fwId }, accept: { offer_ids: [offer.id], operations: [{ type: 'LAUNCH', launch: { task_infos: infos } }] } },
      's1',
    );
    assert.equal(accepted.status, 202);
    await settle();
    assert.deepEqual(
      sink.events.filter((e) => e.type === 'UPDATE'),
      [],
      'launched',
    );
    const statuses = [
      { state: 'TASK_STARTING', uuid: 'u1', timestamp: 10.5, source: 'SOURCE_EXECUTOR' },
      {
        state: 'TASK_RUNNING',
        uuid: 'u2',
        timestamp: 11.25,
        source: 'SOURCE_EXECUTOR',
        healthy: true,
        labels: { labels: [{ key: 'ip', value: '10.0.0.5' }] },
        container_status: { container_id: { value: 'c-1' }, network_infos: [{ ip_addresses: [{ ip_address: '10.0.0.5' }] }] },
        message: 'ok',
      },
    ] as const;
    for (const id of ['t1', 't2', 't3', 't4']) {
      for (const s of statuses) {
        const r = await master.agentCall({
          type: 'STATUS_UPDATE',
          agent_id: { value: agentId },
          framework_id: { value: fwId },
          status: { task_id: { value: id }, ...s } as never,
        });
        assert.equal(r.status, 200);
      }
    }
    await settle();
    // t1's first update acknowledged; u2 stays pending (status_update_* point at it).
    await master.schedulerCall(
      { type: 'ACKNOWLEDGE', framework_id: { value: fwId }, acknowledge: { agent_id: { value: agentId }, task_id: { value: 't1' }, uuid: 'u1' } },
      's1',
    );
    await settle();

    const fw = master.frameworks.get(fwId)!;
    const t1 = fw.tasks.get('t1')!.task;
    const t2 = fw.tasks.get('t2')!.task;
    const t3 = fw.tasks.get('t3')!.task;
    const t4 = fw.tasks.get('t4')!.task;

    // What the master stored before compaction, key for key.
    const info = richTask('t1', agentId, 31001);
    const expected = {
      name: 'web.t1',
      task_id: { value: 't1' },
      framework_id: { value: fwId },
      agent_id: { value: agentId },
      state: 'TASK_RUNNING',
      resources: R.normalize(info.resources!.map((r) => ({ ...r, allocation_info: { role: '*' } }))),
      statuses: statuses.map((s) => ({ task_id: { value: 't1' }, ...s, agent_id: { value: agentId } })),
      labels: info.labels,
      discovery: info.discovery,
      container: info.container,
      health_check: info.health_check,
      kill_policy: info.kill_policy,
      limits: info.limits,
      user: 'nobody',
      status_update_state: 'TASK_RUNNING',
      status_update_uuid: 'u2',
    };
    // The spread put `source` etc. in the status's own order; the master's stamping keeps it.
    const text = JSON.stringify(expected);
    assert.equal(JSON.stringify(t1), text, 'the stored task');
    assert.equal(taskJson(t1, master.shared), text, 'its v1 text in the views');
    assert.equal(taskJson(t1), text, 'and without the shared texts');
    assert.equal(legacyTaskJson(t1, master.shared), JSON.stringify(legacyTask(expected as Task)), 'its legacy text');
    for (const t of [t2, t3, t4]) {
      assert.equal(taskJson(t, master.shared), JSON.stringify(t));
      assert.equal(legacyTaskJson(t, master.shared), JSON.stringify(legacyTask(t)));
    }

    // Shared: equal definitions are one object; ids are one object per framework and agent.
    assert.equal(t1.labels, t2.labels);
    assert.equal(t1.container, t2.container);
    assert.equal(t1.framework_id, t2.framework_id);
    assert.equal(t1.agent_id, t2.agent_id);
    assert.equal(t1.statuses[0]!.task_id, t1.task_id);
    assert.equal(t1.statuses[1]!.agent_id, t1.agent_id);
    assert.notEqual(t1.resources, t2.resources, 'different ports: different lists');
    assert.equal(t3.resources, t4.resources, 'same resources: one list');
    // A copy of its own: the framework's objects may change after the call.
    assert.notEqual(t1.labels, infos[0]!.labels);
    (infos[0]!.labels!.labels as { key: string; value: string }[])[0]!.value = 'changed';
    assert.equal(taskJson(t1, master.shared), text);

    // Whole views: the raw (piecewise) form is byte for byte the plain one.
    const views = (m: Master) => ({
      state: stringifyWithRaw(legacyState(m, true)),
      getState: stringifyWithRaw(getState(m, true)),
      getTasks: stringifyWithRaw(getTasks(m, true)),
    });
    const before = views(master);
    assert.equal(before.state, JSON.stringify(legacyState(master, false)));
    assert.equal(before.getState, JSON.stringify(getState(master, false)));
    assert.equal(before.getTasks, JSON.stringify(getTasks(master, false)));
    const tasksBefore = JSON.stringify(legacyTasks(master, new URLSearchParams()));
    const summaryBefore = JSON.stringify(legacyStateSummary(master));
    // Task-level pieces of the views, compared with the reference serializers.
    const legacyFw = (JSON.parse(before.state) as { frameworks: { tasks: unknown[]; used_resources: unknown }[] }).frameworks[0]!;
    assert.deepEqual(
      legacyFw.tasks,
      [t1, t2, t3, t4].map((t) => JSON.parse(JSON.stringify(legacyTask(t)))),
    );
    assert.deepEqual(legacyFw.used_resources, R.toLegacy([...t1.resources, ...t2.resources, ...t3.resources, ...t4.resources]));

    // A restart recovers the tasks from the store and compacts them again: same text.
    await master.flush();
    await master.stop();
    const again = await cluster(durable, 2);
    const fw2 = again.master.frameworks.get(fwId)!;
    const r1 = fw2.tasks.get('t1')!;
    assert.equal(JSON.stringify(r1.task), text);
    assert.equal(taskJson(r1.task, again.master.shared), text);
    assert.equal(fw2.tasks.get('t3')!.task.resources, fw2.tasks.get('t4')!.task.resources);
    assert.equal(r1.pending[0], r1.task.statuses[1], 'a pending update and the same status are one object again');
    const after = {
      getTasks: stringifyWithRaw(getTasks(again.master, true)),
      tasks: JSON.stringify(legacyTasks(again.master, new URLSearchParams())),
    };
    assert.equal(after.getTasks, before.getTasks);
    assert.equal(after.tasks, tasksBefore);
    // The agent is recovered, not registered, until it reregisters: the summary lists none then.
    assert.ok(summaryBefore.includes('"slaves":[{'));
    await again.master.stop();
  });

  test('an acknowledged task keeps an empty update queue, and the status history stays bounded', async () => {
    const { clock, master } = await cluster();
    const reg = await master.agentCall({ type: 'REGISTER', agent_info: AGENT_INFO, ip: '127.0.0.2', version: 'test' });
    const agentId = (reg.body as { agent_id: { value: string } }).agent_id.value;
    const sink = new Sink();
    await master.subscribe({ subscribe: { framework_info: { user: 'root', name: 'web' } } }, sink, 's1');
    const fwId = sink.events[0]!.subscribed!.framework_id.value;
    void clock;
    for (let i = 0; i < 40; i++) {
      await master.agentCall({
        type: 'STATUS_UPDATE',
        agent_id: { value: agentId },
        framework_id: { value: fwId },
        status: { task_id: { value: 'a' }, state: 'TASK_RUNNING', uuid: `v${i}`, healthy: i % 2 === 0 },
      });
      await settle();
      await master.schedulerCall(
        { type: 'ACKNOWLEDGE', framework_id: { value: fwId }, acknowledge: { agent_id: { value: agentId }, task_id: { value: 'a' }, uuid: `v${i}` } },
        's1',
      );
      await settle();
    }
    const rec = master.frameworks.get(fwId)!.tasks.get('a')!;
    assert.equal(rec.pending.length, 0);
    assert.equal(rec.task.statuses.length, 32);
    assert.deepEqual(
      rec.task.statuses.map((s) => s.uuid),
      Array.from({ length: 32 }, (_, i) => `v${i + 8}`),
    );
    assert.equal(taskJson(rec.task, master.shared), JSON.stringify(rec.task));
    await master.stop();
  });
});

describe('Interner', () => {
  test('gives one copy of equal values, keeps its text, and forgets the least recently used beyond its capacity', () => {
    const sh = new Interner(2);
    const a = [{ name: 'cpus', type: 'SCALAR' as const, scalar: { value: 1 } }];
    const a1 = sh.intern(a);
    assert.notEqual(a1, a);
    assert.deepEqual(a1, a);
    assert.equal(sh.intern(JSON.parse(JSON.stringify(a)) as Resource[]), a1);
    assert.equal(sh.json(a1), JSON.stringify(a));
    assert.equal(sh.json(a), undefined, "the caller's object is not the shared one");
    assert.deepEqual(sh.legacy(a1), { resources: JSON.stringify(R.toLegacy(a)), role: '"*"' });
    const b1 = sh.intern({ x: 1 });
    sh.intern(a); // a1 used last
    sh.intern({ y: 2 }); // evicts b1
    assert.equal(sh.json(b1), undefined, 'evicted: no text kept');
    assert.equal(sh.json(a1), JSON.stringify(a), 'used more recently: kept');
    assert.notEqual(sh.intern({ x: 1 }), b1, 'and a new copy for the next equal value');
    const id = sh.id('agent-1');
    assert.equal(sh.id('agent-1'), id);
    assert.equal(sh.json(id), '{"value":"agent-1"}');
  });

  test('sumOfLists is R.normalize of the concatenation, and its legacy form that of the concatenation', () => {
    const rnd = new Random(7);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rnd.next() * xs.length)] as T;
    for (let round = 0; round < 200; round++) {
      const lists: Resource[][] = [];
      for (let i = 0; i < 1 + Math.floor(rnd.next() * 6); i++) {
        const rs: Resource[] = [];
        for (let j = 0; j < 1 + Math.floor(rnd.next() * 4); j++) {
          const role = pick(['*', 'a', 'b']);
          const kind = pick(['cpus', 'mem', 'gpus', 'ports', 'zones']);
          let r: Resource;
          if (kind === 'ports') r = R.ranges('ports', [{ begin: 31000 + Math.floor(rnd.next() * 20), end: 31020 + Math.floor(rnd.next() * 5) }], role);
          else if (kind === 'zones') r = { name: 'zones', type: 'SET', set: { item: [pick(['x', 'y', 'z'])] } };
          else r = R.scalar(kind, pick([0.1, 0.2, 0.3, 0.001, 1, 1024, 0.7]), role);
          if (rnd.next() < 0.5) r.allocation_info = { role: pick(['*', 'a']) };
          rs.push(r);
        }
        lists.push(rs);
      }
      // Tasks of one app share their list: repeat some lists by identity.
      const from: Resource[][] = [];
      for (let k = 0; k < 30; k++) from.push(pick(lists));
      const flat = from.flat();
      assert.equal(JSON.stringify(sumOfLists(from)), JSON.stringify(R.normalize(flat)), `round ${round}`);
      assert.equal(JSON.stringify(R.toLegacy(sumOfLists(from))), JSON.stringify(R.toLegacy(flat)), `round ${round} (legacy)`);
    }
    assert.deepEqual(sumOfLists([]), []);
  });
});
