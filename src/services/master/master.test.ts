/**
 * The master's status-update path across a crash: an update reaches the framework only once the
 * store holds it at the head of its task's queue, so a new master never resends an update older
 * than one the framework already saw (sim seed 94 found the hole: an acknowledged update resent
 * after its successor).
 *
 * The store here commits only when the test says so, and a crash loses what it holds back, like
 * a transaction that had not reached the disk.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryStore } from '../../adapters/store/memory.js';
import { Random } from '../../base/random.js';
import { HierarchicalAllocator } from '../../core/allocator/index.js';
import type { TaskState } from '../../model/mesos.js';
import type { EventSink } from '../../ports/sink.js';
import type { Store, StoreEntry, StoreOp } from '../../ports/store.js';
import { ManualClock, settle } from '../agent/fakes.js';
import { DEFAULT_MASTER_CONFIG } from './config.js';
import { Master } from './master.js';

/** A store whose batches wait while `held`; `crash` drops them (they never commit nor resolve). */
class GatedStore implements Store {
  held = false;
  /** The next batch fails (a store error), committing nothing. */
  failNext = false;
  /** Every op of every batch committed or held, in order. */
  readonly log: StoreOp[] = [];
  private queue: { ops: StoreOp[]; resolve: () => void }[] = [];
  private dead = false;

  constructor(readonly durable: MemoryStore) {}

  get heldBatches(): number {
    return this.queue.length;
  }

  release(): void {
    const q = this.queue;
    this.queue = [];
    for (const b of q) void this.durable.batch(b.ops).then(b.resolve);
  }

  crash(): void {
    this.dead = true;
    this.queue = [];
  }

  private never<T>(): Promise<T> {
    return new Promise<T>(() => {});
  }

  get(key: string): Promise<StoreEntry | undefined> {
    return this.dead ? this.never() : this.durable.get(key);
  }
  list(prefix: string): Promise<StoreEntry[]> {
    return this.dead ? this.never() : this.durable.list(prefix);
  }
  async put(key: string, value: string): Promise<number> {
    await this.batch([{ type: 'put', key, value }]);
    return (await this.durable.get(key))?.version ?? 0;
  }
  compareAndSet(key: string, expectedVersion: number, value: string): Promise<boolean> {
    return this.dead ? this.never() : this.durable.compareAndSet(key, expectedVersion, value);
  }
  delete(key: string): Promise<void> {
    return this.batch([{ type: 'delete', key }]);
  }
  batch(ops: StoreOp[]): Promise<void> {
    if (this.dead) return this.never();
    if (this.failNext) {
      this.failNext = false;
      return Promise.reject(new Error('disk I/O error'));
    }
    this.log.push(...ops);
    if (!this.held) return this.durable.batch(ops);
    return new Promise<void>((resolve) => this.queue.push({ ops, resolve }));
  }
  watch(prefix: string, fn: (op: StoreOp) => void): () => void {
    return this.durable.watch(prefix, fn);
  }
  async close(): Promise<void> {}
}

type Ev = { type: string; update?: { status: { uuid?: string; state: TaskState } }; subscribed?: { framework_id: { value: string } } };

class Sink implements EventSink<Ev> {
  readonly events: Ev[] = [];
  closed = false;
  private closers: (() => void)[] = [];
  send(e: Ev): boolean {
    if (!this.closed) this.events.push(e);
    return !this.closed;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const f of this.closers) f();
  }
  onClose(fn: () => void): void {
    this.closers.push(fn);
  }
}

const FW_INFO = { user: 'root', name: 'ordered', failover_timeout: 3600 };
const AGENT_INFO = {
  hostname: 'a1.test',
  port: 5051,
  resources: [
    { name: 'cpus', type: 'SCALAR' as const, scalar: { value: 4 } },
    { name: 'mem', type: 'SCALAR' as const, scalar: { value: 4096 } },
  ],
};

/** The framework's SUBSCRIBE again with its id (a failover, or after a master restart), on a new stream. */
function resubscribe(master: Master, fwId: string, sink: Sink, streamId: string) {
  return master.subscribe({ framework_id: { value: fwId }, subscribe: { framework_info: { ...FW_INFO, id: { value: fwId } } } }, sink, streamId);
}

/** One master incarnation on a gated store over a durable registry shared by incarnations. */
async function startMaster(clock: ManualClock, durable: MemoryStore, seed: number) {
  const store = new GatedStore(durable);
  const random = new Random(seed);
  const master = new Master({
    clock,
    random,
    store,
    allocator: new HierarchicalAllocator({ random: random.fork() }),
    config: { ...DEFAULT_MASTER_CONFIG, hostname: 'm.test', ip: '127.0.0.1' },
    defer: (fn) => queueMicrotask(fn),
  });
  await master.start();
  return { master, store };
}

/** The updates a framework saw, by uuid, in the order it saw them (across its streams). */
function updatesSeen(...sinks: Sink[]): string[] {
  return sinks.flatMap((s) => s.events.filter((e) => e.type === 'UPDATE').map((e) => e.update!.status.uuid ?? '-'));
}

/** No update may arrive after one that the agent sent later (the framework's order rule). */
function assertInOrder(seen: string[], sentOrder: string[]): void {
  let highest = -1;
  for (const u of seen) {
    const i = sentOrder.indexOf(u);
    assert.ok(i >= highest, `update ${u} arrived after ${sentOrder[highest]}: ${JSON.stringify(seen)}`);
    highest = Math.max(highest, i);
  }
}

/** A master with one agent and one subscribed framework; `update` sends STATUS_UPDATEs of task t1. */
async function setupCluster() {
  const clock = new ManualClock();
  const durable = new MemoryStore();
  const m1 = await startMaster(clock, durable, 1);
  const reg = await m1.master.agentCall({ type: 'REGISTER', agent_info: AGENT_INFO, ip: '127.0.0.2', version: 'test' });
  assert.equal(reg.status, 200);
  const agentId = (reg.body as { agent_id: { value: string } }).agent_id.value;
  const f1 = new Sink();
  assert.equal(await m1.master.subscribe({ subscribe: { framework_info: FW_INFO } }, f1, 'stream-1'), undefined);
  const fwId = f1.events[0]!.subscribed!.framework_id.value;
  const update = (uuid: string, state: TaskState) =>
    m1.master.agentCall({
      type: 'STATUS_UPDATE',
      agent_id: { value: agentId },
      framework_id: { value: fwId },
      status: { task_id: { value: 't1' }, state, uuid, source: 'SOURCE_EXECUTOR' },
    });
  const ack = (m: Master, uuid: string, streamId: string) =>
    m.schedulerCall(
      { type: 'ACKNOWLEDGE', framework_id: { value: fwId }, acknowledge: { agent_id: { value: agentId }, task_id: { value: 't1' }, uuid } },
      streamId,
    );
  return { clock, durable, m1, agentId, fwId, f1, update, ack };
}

describe('Master status updates across a crash', () => {
  test('an acknowledgement whose write a crash lost cannot make the new master resend the acknowledged update after its successor', async () => {
    const { clock, durable, m1, fwId, f1, update, ack } = await setupCluster();
    assert.equal((await update('u1', 'TASK_STARTING')).status, 200);
    assert.equal((await update('u2', 'TASK_RUNNING')).status, 200);
    await settle();
    assert.deepEqual(updatesSeen(f1), ['u1'], 'the head goes out; its successor waits for its acknowledgement');

    // The acknowledgement of u1 is taken but its write does not reach the disk before the crash.
    m1.store.held = true;
    assert.equal((await ack(m1.master, 'u1', 'stream-1')).status, 202);
    await settle();
    assert.ok(m1.store.heldBatches > 0, 'the acknowledgement was written');
    // The periodic retry does not send the unstored head either.
    await clock.advance(DEFAULT_MASTER_CONFIG.statusUpdateRetryMs + 1);
    assert.deepEqual(updatesSeen(f1), ['u1'], 'u2 waits until the store no longer holds u1');
    m1.store.crash();
    void m1.master.stop();

    // The new master recovers [u1, u2]: it resends u1 (a duplicate), then u2 once u1 is acknowledged again.
    const m2 = await startMaster(clock, durable, 2);
    const f2 = new Sink();
    assert.equal(await resubscribe(m2.master, fwId, f2, 'stream-2'), undefined);
    await settle();
    assert.deepEqual(updatesSeen(f2), ['u1']);
    assert.equal((await ack(m2.master, 'u1', 'stream-2')).status, 202);
    await settle();
    assert.deepEqual(updatesSeen(f2), ['u1', 'u2']);
    assertInOrder(updatesSeen(f1, f2), ['u1', 'u2']);
    await m2.master.stop();
  });

  test('a new update goes to the framework only once it is stored, and after a crash the new master resends nothing older than the last one seen', async () => {
    const { clock, durable, m1, fwId, f1, update, ack } = await setupCluster();
    assert.equal((await update('u1', 'TASK_STARTING')).status, 200);
    await settle();
    assert.equal((await ack(m1.master, 'u1', 'stream-1')).status, 202);
    await settle();

    m1.store.held = true;
    let replied = false;
    void update('u2', 'TASK_RUNNING').then(() => {
      replied = true;
    });
    await settle();
    assert.equal(replied, false, 'the agent hears nothing before the update is stored');
    assert.deepEqual(updatesSeen(f1), ['u1'], 'nor does the framework');
    m1.store.release();
    await settle();
    assert.equal(replied, true);
    assert.deepEqual(updatesSeen(f1), ['u1', 'u2'], 'stored: it goes out');

    // Acknowledged in memory only, then a crash: the new master sends u2 again, nothing older.
    m1.store.held = true;
    assert.equal((await ack(m1.master, 'u2', 'stream-1')).status, 202);
    await settle();
    m1.store.crash();
    void m1.master.stop();
    const m2 = await startMaster(clock, durable, 2);
    const f2 = new Sink();
    await resubscribe(m2.master, fwId, f2, 'stream-2');
    await settle();
    assert.deepEqual(updatesSeen(f2), ['u2']);
    assertInOrder(updatesSeen(f1, f2), ['u1', 'u2']);
    await m2.master.stop();
  });
});

describe('Master status update replies', () => {
  test('a duplicate of an update whose write is still in flight is answered only once that write commits', async () => {
    const { m1, update } = await setupCluster();
    m1.store.held = true;
    const replies: string[] = [];
    void update('u1', 'TASK_RUNNING').then((r) => replies.push(`first ${r.status}`));
    await settle();
    // The agent timed out and sent it again (or the network duplicated it).
    void update('u1', 'TASK_RUNNING').then((r) => replies.push(`retry ${r.status}`));
    await settle();
    assert.deepEqual(replies, [], 'the 200 is the acknowledgement: nothing is acknowledged before it is stored');
    m1.store.release();
    await settle();
    assert.deepEqual(replies.sort(), ['first 200', 'retry 200']);
    await m1.master.stop();
  });
});

describe('Master status updates after a store error', () => {
  test('an update whose write failed is written again by the retry and only then goes to the framework', async () => {
    const { clock, m1, f1, update } = await setupCluster();
    m1.store.failNext = true;
    await assert.rejects(update('u1', 'TASK_RUNNING'), /disk I\/O error/);
    // The agent retries; the master has the update in memory already and answers 200.
    assert.equal((await update('u1', 'TASK_RUNNING')).status, 200);
    await settle();
    assert.deepEqual(updatesSeen(f1), [], 'not stored, not sent');
    await clock.advance(DEFAULT_MASTER_CONFIG.statusUpdateRetryMs + 1);
    await settle();
    assert.deepEqual(updatesSeen(f1), ['u1'], 'the retry stored it, then sent it');
    await m1.master.stop();
  });
});

describe('Master kills for tasks that must not run', () => {
  test('a kill for a task its framework was told is lost goes on every command stream the agent opens until the agent reports it ended', async () => {
    const clock = new ManualClock();
    const { master } = await startMaster(clock, new MemoryStore(), 3);
    const reg = await master.agentCall({ type: 'REGISTER', agent_info: AGENT_INFO, ip: '127.0.0.2', version: 'test' });
    const agentId = (reg.body as { agent_id: { value: string } }).agent_id.value;
    const f = new Sink();
    await master.subscribe({ subscribe: { framework_info: FW_INFO } }, f, 'stream-1');
    const fwId = f.events[0]!.subscribed!.framework_id.value;
    const status = (uuid: string, state: TaskState) => ({
      type: 'STATUS_UPDATE' as const,
      agent_id: { value: agentId },
      framework_id: { value: fwId },
      status: { task_id: { value: 't1' }, state, uuid, source: 'SOURCE_EXECUTOR' as const },
    });
    assert.equal((await master.agentCall(status('u1', 'TASK_RUNNING'))).status, 200);
    await settle();

    // The agent goes silent: the framework (not partition-aware) is told the task is lost.
    master.markUnreachable(master.agents.get(agentId)!);
    await settle(); // sent once stored
    const lost = f.events.filter((e) => e.type === 'UPDATE' && e.update!.status.state === 'TASK_LOST');
    assert.equal(lost.length, 1);

    // It comes back still running the task; its SUBSCRIBE is retried and the first stream never reaches it.
    const task = {
      name: 't1',
      task_id: { value: 't1' },
      framework_id: { value: fwId },
      agent_id: { value: agentId },
      state: 'TASK_RUNNING' as const,
      resources: [],
      statuses: [],
    };
    const rr = await master.agentCall({
      type: 'REREGISTER',
      agent_id: { value: agentId },
      agent_info: AGENT_INFO,
      ip: '127.0.0.2',
      version: 'test',
      session: 1,
      tasks: [task],
      frameworks: [],
    });
    assert.equal(rr.status, 200);
    const kills = (s: Sink) => s.events.filter((e) => e.type === 'KILL_TASK').length;
    const lostStream = new Sink();
    assert.equal(master.agentSubscribe(agentId, lostStream as unknown as EventSink<never>), undefined);
    assert.equal(kills(lostStream), 1);
    const stream = new Sink();
    assert.equal(master.agentSubscribe(agentId, stream as unknown as EventSink<never>), undefined);
    assert.equal(kills(stream), 1, 'the stream the agent reads gets the kill too');

    // Once the agent reports the task ended, no stream gets the kill again.
    assert.equal((await master.agentCall(status('u2', 'TASK_KILLED'))).status, 200);
    const later = new Sink();
    master.agentSubscribe(agentId, later as unknown as EventSink<never>);
    assert.equal(kills(later), 0);
    await master.stop();
  });
});

describe('Master kills across a restart', () => {
  test('a task its framework was told is lost is killed when its agent comes back to the next master', async () => {
    const { clock, durable, m1, agentId, fwId, f1, update } = await setupCluster();
    assert.equal((await update('u1', 'TASK_RUNNING')).status, 200);
    m1.master.markUnreachable(m1.master.agents.get(agentId)!);
    await m1.master.flush();
    assert.equal(f1.events.filter((e) => e.type === 'UPDATE' && e.update!.status.state === 'TASK_LOST').length, 1);
    // The master restarts; its list of completed tasks is gone, the agent's unreachable state is not.
    await m1.master.stop();
    const m2 = await startMaster(clock, durable, 2);
    const task = {
      name: 't1',
      task_id: { value: 't1' },
      framework_id: { value: fwId },
      agent_id: { value: agentId },
      state: 'TASK_RUNNING' as const,
      resources: [],
      statuses: [],
    };
    const rr = await m2.master.agentCall({
      type: 'REREGISTER',
      agent_id: { value: agentId },
      agent_info: AGENT_INFO,
      ip: '127.0.0.2',
      version: 'test',
      session: 1,
      tasks: [task],
      frameworks: [],
    });
    assert.equal(rr.status, 200);
    const stream = new Sink();
    assert.equal(m2.master.agentSubscribe(agentId, stream as unknown as EventSink<never>), undefined);
    assert.deepEqual(
      stream.events.filter((e) => e.type === 'KILL_TASK').map((e) => (e as unknown as { task_id: { value: string } }).task_id.value),
      ['t1'],
    );
    assert.equal(m2.master.frameworks.get(fwId)?.tasks.has('t1'), false, 'not adopted as running');
    await m2.master.stop();
  });
});

describe('Master-made updates and the store', () => {
  const lostSeen = (f: Sink) => f.events.filter((e) => e.type === 'UPDATE' && e.update!.status.state === 'TASK_LOST').length;

  test('a TASK_LOST the master makes goes to the framework only once its write commits', async () => {
    const { m1, agentId, f1, update } = await setupCluster();
    assert.equal((await update('u1', 'TASK_RUNNING')).status, 200);
    await settle();
    m1.store.held = true;
    m1.master.markUnreachable(m1.master.agents.get(agentId)!);
    await settle();
    assert.ok(m1.store.heldBatches > 0, 'the lost task and its unreachable agent are being written');
    assert.equal(lostSeen(f1), 0, 'nothing sent before the store holds it');
    m1.store.release();
    await settle();
    assert.equal(lostSeen(f1), 1, 'stored: it goes out, once');
    await m1.master.stop();
  });

  test('a master crash before that write leaves the framework and the next master agreeing the task runs', async () => {
    const { clock, durable, m1, agentId, fwId, f1, update } = await setupCluster();
    assert.equal((await update('u1', 'TASK_RUNNING')).status, 200);
    await settle();
    m1.store.held = true;
    m1.master.markUnreachable(m1.master.agents.get(agentId)!);
    await settle();
    m1.store.crash();
    void m1.master.stop();
    await settle();
    assert.equal(lostSeen(f1), 0, 'the framework was not told the task was lost');
    const m2 = await startMaster(clock, durable, 2);
    assert.notEqual(m2.master.agents.get(agentId)?.state, 'UNREACHABLE', 'the next master does not hold the agent unreachable');
    assert.equal(m2.master.frameworks.get(fwId)?.tasks.get('t1')?.task.state, 'TASK_RUNNING');
    await m2.master.stop();
  });
});

describe('Master updates of a task adopted from a reregistration', () => {
  for (const withHead of [true, false])
    test(`the updates an agent had not had acknowledged when it reregistered reach the framework, each in order (sim seed 116${withHead ? '' : '; the agent names no head: seed 33'})`, async () => {
      const { clock, durable, m1, agentId, fwId, f1, update } = await setupCluster();
      assert.equal((await update('u1', 'TASK_RUNNING')).status, 200);
      await settle();
      // The agent goes away: the framework is told t1 is lost; then the master restarts.
      m1.master.markUnreachable(m1.master.agents.get(agentId)!);
      await settle();
      assert.equal(f1.events.filter((e) => e.type === 'UPDATE' && e.update!.status.state === 'TASK_LOST').length, 1);
      await m1.master.stop();
      const m2 = await startMaster(clock, durable, 2);
      const f2 = new Sink();
      assert.equal(await resubscribe(m2.master, fwId, f2, 'stream-2'), undefined);
      const statusOf = (uuid: string, state: TaskState) => ({ task_id: { value: 't1' }, state, uuid, source: 'SOURCE_EXECUTOR' as const });
      const rereg = (session: number, state: TaskState, statuses: ReturnType<typeof statusOf>[], head?: string) =>
        m2.master.agentCall({
          type: 'REREGISTER',
          agent_id: { value: agentId },
          agent_info: AGENT_INFO,
          ip: '127.0.0.2',
          version: 'test',
          session,
          tasks: [
            {
              name: 't1',
              task_id: { value: 't1' },
              framework_id: { value: fwId },
              agent_id: { value: agentId },
              state,
              resources: [],
              statuses,
              ...(head ? { status_update_uuid: head } : {}),
            },
          ],
          frameworks: [],
        });
      // It comes back running t1, which is killed (its framework was told it is lost) ...
      assert.equal((await rereg(1, 'TASK_RUNNING', [statusOf('u1', 'TASK_RUNNING')])).status, 200);
      // ... and reregisters again (its command stream broke) with t1 TASK_KILLING, that update not
      // yet acknowledged: the master adopts t1 as TASK_KILLING.
      assert.equal((await rereg(2, 'TASK_KILLING', [statusOf('u1', 'TASK_RUNNING'), statusOf('u2', 'TASK_KILLING')], withHead ? 'u2' : undefined)).status, 200);
      assert.equal(m2.master.frameworks.get(fwId)?.tasks.get('t1')?.task.state, 'TASK_KILLING');
      // The agent resends u2, then sends u3: the framework gets both, in order.
      const agentUpdate = (uuid: string, state: TaskState) =>
        m2.master.agentCall({ type: 'STATUS_UPDATE', agent_id: { value: agentId }, framework_id: { value: fwId }, status: statusOf(uuid, state) });
      assert.equal((await agentUpdate('u2', 'TASK_KILLING')).status, 200);
      assert.equal((await agentUpdate('u3', 'TASK_KILLED')).status, 200);
      await settle();
      assert.deepEqual(updatesSeen(f2), ['u2'], 'the resent TASK_KILLING is not taken for a duplicate');
      const ack = await m2.master.schedulerCall(
        { type: 'ACKNOWLEDGE', framework_id: { value: fwId }, acknowledge: { agent_id: { value: agentId }, task_id: { value: 't1' }, uuid: 'u2' } },
        'stream-2',
      );
      assert.equal(ack.status, 202);
      await settle();
      assert.deepEqual(updatesSeen(f2), ['u2', 'u3']);
      if (withHead) {
        // A late retry of an update taken before the reregistration is still a duplicate.
        assert.equal((await agentUpdate('u1', 'TASK_RUNNING')).status, 200);
        await settle();
        assert.deepEqual(updatesSeen(f2), ['u2', 'u3']);
      }
      await m2.master.stop();
    });
});

describe('Master offers and SUBSCRIBED', () => {
  test('no OFFERS go out on a new event stream before SUBSCRIBED, while the subscription is being stored (bench:scale placement stall)', async () => {
    const clock = new ManualClock();
    const { master, store } = await startMaster(clock, new MemoryStore(), 6);
    const reg = await master.agentCall({ type: 'REGISTER', agent_info: AGENT_INFO, ip: '127.0.0.2', version: 'test' });
    assert.equal(reg.status, 200);
    const types = (f: Sink) => f.events.map((e) => e.type).filter((t) => t !== 'HEARTBEAT');
    const allocate = async () => {
      for (let i = 0; i < 3; i++) {
        await clock.advance(DEFAULT_MASTER_CONFIG.allocationIntervalMs + 1);
        await settle();
      }
    };

    // A new framework: its SUBSCRIBE waits for the store while allocations run.
    store.held = true;
    const f1 = new Sink();
    const sub1 = master.subscribe({ subscribe: { framework_info: FW_INFO } }, f1, 'stream-1');
    await allocate();
    assert.deepEqual(types(f1), [], 'nothing before SUBSCRIBED');
    store.release();
    assert.equal(await sub1, undefined);
    await allocate();
    assert.deepEqual(types(f1), ['SUBSCRIBED', 'OFFERS']);
    const fwId = f1.events[0]!.subscribed!.framework_id.value;

    // A failover to a new stream while the first holds the agent's offer: same rule.
    store.held = true;
    const f2 = new Sink();
    const sub2 = resubscribe(master, fwId, f2, 'stream-2');
    await allocate();
    assert.deepEqual(types(f2), [], 'nothing before SUBSCRIBED');
    store.release();
    assert.equal(await sub2, undefined);
    await allocate();
    assert.deepEqual(types(f2), ['SUBSCRIBED', 'OFFERS']);
    await master.stop();
  });
});

describe('Master reregistration', () => {
  test('an agent that reregisters reporting its tasks as the master has them causes no task writes; a changed one is written', async () => {
    const clock = new ManualClock();
    const { master, store } = await startMaster(clock, new MemoryStore(), 4);
    const reg = await master.agentCall({ type: 'REGISTER', agent_info: AGENT_INFO, ip: '127.0.0.2', version: 'test' });
    const agentId = (reg.body as { agent_id: { value: string } }).agent_id.value;
    const f = new Sink();
    await master.subscribe({ subscribe: { framework_info: FW_INFO } }, f, 'stream-1');
    const fwId = f.events[0]!.subscribed!.framework_id.value;
    for (const id of ['t1', 't2', 't3']) {
      const r = await master.agentCall({
        type: 'STATUS_UPDATE',
        agent_id: { value: agentId },
        framework_id: { value: fwId },
        status: { task_id: { value: id }, state: 'TASK_RUNNING', uuid: `u-${id}`, source: 'SOURCE_EXECUTOR' },
      });
      assert.equal(r.status, 200);
    }
    const task = (id: string, state: TaskState) => ({
      name: id,
      task_id: { value: id },
      framework_id: { value: fwId },
      agent_id: { value: agentId },
      state,
      resources: [],
      statuses: [],
    });
    const taskWrites = () => store.log.filter((op) => op.key.startsWith('master/tasks/')).map((op) => op.key.slice(op.key.lastIndexOf('/') + 1));
    const rereg = (session: number, tasks: ReturnType<typeof task>[]) =>
      master.agentCall({
        type: 'REREGISTER',
        agent_id: { value: agentId },
        agent_info: AGENT_INFO,
        ip: '127.0.0.2',
        version: 'test',
        session,
        tasks,
        frameworks: [],
      });

    const before = taskWrites().length;
    assert.equal((await rereg(1, [task('t1', 'TASK_RUNNING'), task('t2', 'TASK_RUNNING'), task('t3', 'TASK_RUNNING')])).status, 200);
    assert.deepEqual(taskWrites().slice(before), [], 'nothing changed, nothing written');
    assert.equal((await rereg(2, [task('t1', 'TASK_RUNNING'), task('t2', 'TASK_FINISHED'), task('t3', 'TASK_RUNNING')])).status, 200);
    assert.deepEqual(taskWrites().slice(before), ['t2'], 'only the task whose state changed');
    await master.stop();
  });
});

describe('Master launches on an agent without a command stream', () => {
  test('a task for a registered agent whose command stream is not open is reported lost, not left STAGING', async () => {
    const clock = new ManualClock();
    const { master } = await startMaster(clock, new MemoryStore(), 5);
    const reg = await master.agentCall({ type: 'REGISTER', agent_info: AGENT_INFO, ip: '127.0.0.2', version: 'test' });
    const agentId = (reg.body as { agent_id: { value: string } }).agent_id.value;
    const f = new Sink();
    await master.subscribe({ subscribe: { framework_info: FW_INFO } }, f, 'stream-1');
    const fwId = f.events[0]!.subscribed!.framework_id.value;
    type OfferEv = { offers?: { offers: { id: { value: string } }[] } };
    const nextOffer = async (): Promise<string> => {
      for (let i = 0; i < 20; i++) {
        const o = f.events.filter((e) => e.type === 'OFFERS').pop() as OfferEv | undefined;
        const id = o?.offers?.offers[0]?.id.value;
        if (id && master.offers.has(id)) return id;
        await clock.advance(1000);
        await settle();
      }
      throw new Error('no offer');
    };
    const launch = async (offerId: string, taskId: string) => {
      const r = await master.schedulerCall(
        {
          type: 'ACCEPT',
          framework_id: { value: fwId },
          accept: {
            offer_ids: [{ value: offerId }],
            operations: [
              {
                type: 'LAUNCH',
                launch: {
                  task_infos: [
                    {
                      name: taskId,
                      task_id: { value: taskId },
                      agent_id: { value: agentId },
                      resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 1 } }],
                      command: { value: 'sleep 100' },
                    },
                  ],
                },
              },
            ],
          },
        } as unknown as Parameters<Master['schedulerCall']>[0],
        'stream-1',
      );
      assert.ok(r.status < 300, JSON.stringify(r));
      await settle();
    };
    const stateOf = (taskId: string) =>
      f.events
        .filter((e) => e.type === 'UPDATE' && (e.update!.status as { task_id?: { value: string } }).task_id?.value === taskId)
        .map((e) => e.update!.status);

    // Registered, but its SUBSCRIBE has not come yet: the RUN_TASK has nowhere to go.
    await launch(await nextOffer(), 't1');
    const s1 = stateOf('t1');
    assert.equal(s1.length, 1, JSON.stringify(s1));
    assert.equal(s1[0]!.state, 'TASK_LOST');
    assert.equal((s1[0] as { reason?: string }).reason, 'REASON_AGENT_DISCONNECTED');
    const rec = master.frameworks.get(fwId)?.tasks.get('t1');
    assert.ok(!rec || rec.task.state === 'TASK_LOST', `the master has t1 ${rec?.task.state}`);

    // With its stream open, the next launch reaches the agent.
    const stream = new Sink();
    assert.equal(master.agentSubscribe(agentId, stream as unknown as EventSink<never>), undefined);
    await launch(await nextOffer(), 't2');
    assert.equal(stream.events.filter((e) => e.type === 'RUN_TASK').length, 1);
    assert.equal(stateOf('t2').length, 0);
    await master.stop();
  });
});
