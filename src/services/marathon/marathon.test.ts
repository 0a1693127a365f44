import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Random } from '../../base/random.js';
import { MemoryStore } from '../../adapters/store/memory.js';
import type { EventSink } from '../../ports/sink.js';
import { ManualClock, settle } from '../agent/fakes.js';
import { Marathon } from './marathon.js';
import type { SchedulerTransport } from './transport.js';

// Scheduler calls as plain objects: the tests look into them.
type Json = Record<string, any>;

/** A master stand-in: records calls, hands out offers and status updates on demand. */
class FakeMaster implements SchedulerTransport {
  readonly calls: Json[] = [];
  sink: EventSink | undefined;
  private offerSeq = 0;
  async subscribe(call: Json, sink: EventSink): Promise<undefined> {
    this.sink = sink;
    const id = (call.framework_id as Json | undefined)?.value ?? 'fw-1';
    sink.send({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: id }, master_info: { hostname: 'm', port: 5050 } } });
    return undefined;
  }
  async call(call: Json): Promise<{ status: number }> {
    this.calls.push(call);
    return { status: 202 };
  }
  of(type: string): Json[] {
    return this.calls.filter((c) => c.type === type);
  }
  offer(host: string, cpus = 4, mem = 4096): void {
    const n = ++this.offerSeq;
    this.sink?.send({
      type: 'OFFERS',
      offers: {
        offers: [
          {
            id: { value: `o${n}` },
            framework_id: { value: 'fw-1' },
            agent_id: { value: `agent-${host}` },
            hostname: host,
            resources: [
              { name: 'cpus', type: 'SCALAR', scalar: { value: cpus } },
              { name: 'mem', type: 'SCALAR', scalar: { value: mem } },
              { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31100 }] } },
            ],
          },
        ],
      },
    });
  }
  launched(): Json[] {
    return this.of('ACCEPT').flatMap((c) => c.accept.operations[0].launch.task_infos);
  }
  update(taskId: string, state: string, host = 'h1'): void {
    this.sink?.send({ type: 'UPDATE', update: { status: { task_id: { value: taskId }, state, agent_id: { value: `agent-${host}` }, uuid: 'dXVpZA==' } } });
  }
}

async function setup(store = new MemoryStore(), clock = new ManualClock()) {
  const master = new FakeMaster();
  const m = new Marathon({ clock, random: new Random(7), store, transport: master, defer: (fn) => setImmediate(fn) });
  await m.start();
  await settle(10);
  return { m, master, clock, store };
}

describe('Marathon service (fake master, manual clock)', () => {
  test('wants nothing: suppresses; an app to run: revives, launches on a fitting offer, declines the rest with a filter', async () => {
    const { m, master } = await setup();
    assert.equal(master.of('SUPPRESS').length, 1);
    const r = await m.createApp({ id: '/a', cmd: 'sleep 1', cpus: 1, mem: 64 }, false);
    assert.ok(r.ok);
    assert.equal(master.of('REVIVE').length, 1);
    master.offer('small', 0.5);
    await settle(10);
    assert.equal(master.of('DECLINE').length, 1);
    assert.ok(master.of('DECLINE')[0]?.decline.filters.refuse_seconds > 0);
    master.offer('h1');
    await settle(10);
    assert.equal(master.launched().length, 1);
    assert.equal(master.launched()[0]?.name, 'a');
    assert.equal(master.of('SUPPRESS').length, 2, 'suppressed again once nothing is wanted');
    const q = m.queue();
    assert.equal(q.length, 0);
  });

  test('a failed task is relaunched only after backoffSeconds × backoffFactor^n', async () => {
    const { m, master, clock } = await setup();
    await m.createApp({ id: '/f', cmd: 'false', cpus: 1, mem: 64, backoffSeconds: 10, backoffFactor: 2 }, false);
    master.offer('h1');
    await settle(10);
    const first = master.launched()[0]?.task_id.value as string;
    master.update(first, 'TASK_FAILED');
    await settle(10);
    master.offer('h1');
    await settle(10);
    assert.equal(master.launched().length, 1, 'still in backoff');
    assert.equal(m.queue()[0]?.delay.timeLeftSeconds, 10);
    await clock.advance(10_000);
    master.offer('h1');
    await settle(10);
    assert.equal(master.launched().length, 2);
    master.update(master.launched()[1]?.task_id.value, 'TASK_FAILED');
    await settle(10);
    assert.equal(m.queue()[0]?.delay.timeLeftSeconds, 20, 'the second failure doubles the delay');
    assert.ok(m.resetDelay('/f'));
    master.offer('h1');
    await settle(10);
    assert.equal(master.launched().length, 3, 'DELETE /v2/queue/{app}/delay lets it launch at once');
  });

  test('scale down kills by killSelection: YOUNGEST_FIRST kills the last launched', async () => {
    const { m, master, clock } = await setup();
    await m.createApp({ id: '/s', cmd: 'sleep 1', cpus: 0.1, mem: 16, instances: 3 }, false);
    for (let i = 0; i < 3; i++) {
      master.offer('h1', 0.1, 16);
      await settle(10);
      await clock.advance(1000);
    }
    const ids = master.launched().map((t) => t.task_id.value as string);
    assert.equal(ids.length, 3);
    for (const id of ids) master.update(id, 'TASK_RUNNING');
    await settle(10);
    const r = await m.updateApp('/s', { instances: 1 }, { force: false, partial: true });
    assert.ok(r.ok);
    await settle(10);
    assert.deepEqual(
      master
        .of('KILL')
        .map((k) => k.kill.task_id.value)
        .sort(),
      [ids[1], ids[2]].sort(),
    );
  });

  test('a restarted Marathon re-subscribes as the same framework, reconciles its tasks and finishes the deployment', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const one = await setup(store, clock);
    await one.m.createApp({ id: '/r', cmd: 'sleep 1', cpus: 0.1, mem: 16, instances: 2 }, false);
    one.master.offer('h1', 0.1, 16);
    await settle(10);
    const [t1] = one.master.launched().map((t) => t.task_id.value as string);
    await one.m.stop();
    const two = await setup(store, clock);
    assert.equal(two.m.frameworkId, 'fw-1');
    assert.equal(two.m.apps.get('/r')?.instances, 2);
    assert.equal(two.m.deployments.size, 1, 'the deployment survived');
    const explicit = two.master.of('RECONCILE').find((c) => c.reconcile.tasks.length > 0);
    assert.deepEqual(
      explicit?.reconcile.tasks.map((t: Json) => t.task_id.value),
      [t1],
    );
    two.master.update(t1 as string, 'TASK_RUNNING');
    two.master.offer('h2', 0.1, 16);
    await settle(10);
    const [t2] = two.master.launched().map((t) => t.task_id.value as string);
    two.master.update(t2 as string, 'TASK_RUNNING', 'h2');
    await settle(10);
    assert.equal(two.m.deployments.size, 0, 'finished after the restart');
  });

  test('an app waits for the apps it depends on: /web launches only once /db runs', async () => {
    const { m, master } = await setup();
    const r = await m.updateGroup(
      '/shop',
      {
        apps: [
          { id: 'db', cmd: 'db', cpus: 0.1, mem: 16 },
          { id: 'web', cmd: 'web', cpus: 0.1, mem: 16, dependencies: ['db'] },
        ],
      },
      { force: false, create: true },
    );
    assert.ok(r.ok);
    master.offer('h1');
    await settle(10);
    assert.deepEqual(
      master.launched().map((t) => t.name),
      ['db.shop'],
      'only the dependency starts',
    );
    master.update(master.launched()[0]?.task_id.value, 'TASK_RUNNING');
    await settle(10);
    master.offer('h1');
    await settle(10);
    assert.deepEqual(
      master.launched().map((t) => t.name),
      ['db.shop', 'web.shop'],
    );
  });

  test('a task the master reports that Marathon does not know is killed', async () => {
    const { master } = await setup();
    master.update('other.instance-00000000-0000-4000-8000-000000000000._app.1', 'TASK_RUNNING');
    await settle(10);
    assert.equal(master.of('KILL')[0]?.kill.task_id.value, 'other.instance-00000000-0000-4000-8000-000000000000._app.1');
  });
});
