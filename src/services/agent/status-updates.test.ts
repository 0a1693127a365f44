import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TaskState, TaskStatus } from '../../model/mesos.js';
import { MemoryCheckpointer } from '../../adapters/runtime/checkpoint-memory.js';
import { ManualClock, settle } from './fakes.js';
import { updatesFile } from './paths.js';
import { type SendOutcome, StatusUpdateManager } from './status-updates.js';

let n = 0;
function status(task: string, state: TaskState): TaskStatus {
  return { task_id: { value: task }, state, uuid: `u${++n}` };
}

/** A master whose answer the test decides per call. */
function harness(opts: { answer?: (s: TaskStatus) => SendOutcome } = {}) {
  const clock = new ManualClock();
  const ckpt = new MemoryCheckpointer();
  const sent: { fw: string; status: TaskStatus; atMs: number }[] = [];
  const completed: string[] = [];
  let answer = opts.answer ?? (() => 'acked' as SendOutcome);
  const mgr = new StatusUpdateManager({
    clock,
    checkpointer: ckpt,
    send: async (fw, s) => {
      sent.push({ fw, status: s, atMs: clock.nowMs() });
      return answer(s);
    },
    onTerminalAcked: (fw, task) => completed.push(`${fw}/${task}`),
    retryMinMs: 10_000,
    retryMaxMs: 40_000,
    maxPendingPerTask: 5,
  });
  return {
    clock,
    ckpt,
    sent,
    completed,
    mgr,
    setAnswer(f: (s: TaskStatus) => SendOutcome) {
      answer = f;
    },
    states: (task?: string) => sent.filter((x) => !task || x.status.task_id.value === task).map((x) => x.status.state),
  };
}

describe('status update manager', () => {
  test("sends a task's updates in order, the next only after the master acknowledged the previous", async () => {
    const h = harness();
    const gate: ((o: SendOutcome) => void)[] = [];
    const clock = h.clock;
    const mgr = new StatusUpdateManager({
      clock,
      checkpointer: h.ckpt,
      send: (_fw, s) => {
        h.sent.push({ fw: 'f', status: s, atMs: clock.nowMs() });
        return new Promise((r) => gate.push(r));
      },
      onTerminalAcked: () => {},
    });
    mgr.resume();
    await Promise.all([
      mgr.update('f', status('t1', 'TASK_STARTING')),
      mgr.update('f', status('t1', 'TASK_RUNNING')),
      mgr.update('f', status('t1', 'TASK_FINISHED')),
    ]);
    await settle();
    assert.deepEqual(h.states(), ['TASK_STARTING'], 'only the head is in flight');
    gate.shift()?.('acked');
    await settle();
    assert.deepEqual(h.states(), ['TASK_STARTING', 'TASK_RUNNING']);
    gate.shift()?.('acked');
    await settle();
    gate.shift()?.('acked');
    await settle();
    assert.deepEqual(h.states(), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    assert.equal(mgr.pending('f', 't1').length, 0);
  });

  test('every update is checkpointed before it is sent, and acknowledgements are recorded', async () => {
    const h = harness();
    h.mgr.resume();
    await h.mgr.update('f', status('t1', 'TASK_RUNNING'));
    await settle();
    await h.mgr.flush();
    const lines = (h.ckpt.files.get(updatesFile('f', 't1')) ?? '')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((l) => l.type),
      ['UPDATE', 'ACK'],
    );
    assert.equal(lines[1].uuid, lines[0].status.uuid);
  });

  test('an unacknowledged update is retried with a doubling, capped backoff, and blocks the ones behind it', async () => {
    const h = harness({ answer: () => 'retry' });
    h.mgr.resume();
    await h.mgr.update('f', status('t1', 'TASK_RUNNING'));
    await h.mgr.update('f', status('t1', 'TASK_FAILED'));
    await settle();
    await h.clock.advance(10_000 + 20_000 + 40_000 + 40_000);
    const times = h.sent.map((s) => s.atMs - h.sent[0]!.atMs);
    assert.deepEqual(times, [0, 10_000, 30_000, 70_000, 110_000]);
    assert.ok(
      h.states().every((s) => s === 'TASK_RUNNING'),
      'the second update never overtakes the first',
    );
    h.setAnswer(() => 'acked');
    await h.clock.advance(40_000);
    assert.deepEqual(h.states().slice(-2), ['TASK_RUNNING', 'TASK_FAILED']);
    assert.deepEqual(h.completed, ['f/t1']);
  });

  test('updates queued while a write is in flight go out in one fsynced append; an ACK alone is not fsynced', async () => {
    const ckpt = new MemoryCheckpointer();
    const appends: { data: string; sync: boolean }[] = [];
    let release: (() => void) | undefined;
    const gated: typeof ckpt.append = async (path, data, options) => {
      appends.push({ data, sync: options?.sync !== false });
      if (appends.length === 1) await new Promise<void>((r) => (release = r));
      return ckpt.append(path, data, options);
    };
    const clock = new ManualClock();
    const sent: string[] = [];
    const mgr = new StatusUpdateManager({
      clock,
      checkpointer: {
        ...ckpt,
        read: ckpt.read.bind(ckpt),
        write: ckpt.write.bind(ckpt),
        list: ckpt.list.bind(ckpt),
        remove: ckpt.remove.bind(ckpt),
        append: gated,
      },
      send: async (_fw, st) => {
        sent.push(st.state);
        return 'acked';
      },
      onTerminalAcked: () => {},
    });
    mgr.resume();
    const first = mgr.update('f', status('t1', 'TASK_STARTING'));
    await settle();
    const second = mgr.update('f', status('t1', 'TASK_RUNNING'));
    const third = mgr.update('f', status('t1', 'TASK_FINISHED'));
    await settle();
    assert.deepEqual(sent, [], 'nothing is sent before it is durable');
    release?.();
    await Promise.all([first, second, third]);
    await settle();
    await mgr.flush();
    assert.equal(appends[1]?.data.split('\n').filter(Boolean).length, 2, 'RUNNING and FINISHED share the second append');
    assert.equal(appends[1]?.sync, true);
    assert.deepEqual(sent, ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    const ackOnly = appends.filter((a) =>
      a.data
        .split('\n')
        .filter(Boolean)
        .every((l) => JSON.parse(l).type === 'ACK'),
    );
    assert.ok(ackOnly.length > 0 && ackOnly.every((a) => !a.sync), 'appends of ACKs alone skip the fsync');
    const lines = (ckpt.files.get(updatesFile('f', 't1')) ?? '')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.filter((l) => l.type === 'UPDATE').map((l) => l.status.state),
      ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED'],
    );
    assert.equal(lines.filter((l) => l.type === 'ACK').length, 3);
  });

  test('a stuck task does not hold up another task', async () => {
    const h = harness({ answer: (s) => (s.task_id.value === 'stuck' ? 'retry' : 'acked') });
    h.mgr.resume();
    await h.mgr.update('f', status('stuck', 'TASK_RUNNING'));
    await h.mgr.update('f', status('ok', 'TASK_RUNNING'));
    await h.mgr.update('f', status('ok', 'TASK_FINISHED'));
    await settle();
    assert.deepEqual(h.states('ok'), ['TASK_RUNNING', 'TASK_FINISHED']);
    assert.deepEqual(h.states('stuck'), ['TASK_RUNNING']);
  });

  test('nothing is sent while paused; resume sends every head at once, cutting the backoff short', async () => {
    const h = harness({ answer: () => 'retry' });
    await h.mgr.update('f', status('t1', 'TASK_RUNNING'));
    await settle();
    assert.equal(h.sent.length, 0, 'paused at construction: the agent has not registered yet');
    h.mgr.resume();
    await settle();
    assert.equal(h.sent.length, 1);
    await h.clock.advance(1_000);
    assert.equal(h.sent.length, 1, 'still backing off');
    h.setAnswer(() => 'acked');
    h.mgr.pause();
    h.mgr.resume();
    await settle();
    assert.equal(h.sent.length, 2, 'resent immediately after a reregistration');
    assert.equal(h.sent[1]!.atMs, h.sent[0]!.atMs + 1_000);
  });

  test('after a restart, unacknowledged updates are read back in order and resent; a torn last line is skipped', async () => {
    const h = harness({ answer: (s) => (s.state === 'TASK_STARTING' ? 'acked' : 'retry') });
    h.mgr.resume();
    await h.mgr.update('f', status('t1', 'TASK_STARTING'));
    await h.mgr.update('f', status('t1', 'TASK_RUNNING'));
    await h.mgr.update('f', status('t1', 'TASK_FINISHED'));
    await settle();
    await h.mgr.flush();
    h.mgr.stop();
    const path = updatesFile('f', 't1');
    h.ckpt.files.set(path, `${h.ckpt.files.get(path)}{"type":"UPD`);

    const sent: string[] = [];
    const again = new StatusUpdateManager({
      clock: h.clock,
      checkpointer: h.ckpt,
      send: async (_fw, s) => {
        sent.push(s.state);
        return 'acked';
      },
      onTerminalAcked: () => {},
    });
    const { all, pending } = await again.recover('f', 't1');
    assert.deepEqual(
      all.map((s) => s.state),
      ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED'],
    );
    assert.deepEqual(
      pending.map((s) => s.state),
      ['TASK_RUNNING', 'TASK_FINISHED'],
    );
    again.resume();
    await settle();
    assert.deepEqual(sent, ['TASK_RUNNING', 'TASK_FINISHED']);
  });

  test("the terminal update's acknowledgement completes the task", async () => {
    const h = harness();
    h.mgr.resume();
    await h.mgr.update('f', status('t1', 'TASK_RUNNING'));
    await settle();
    assert.deepEqual(h.completed, []);
    await h.mgr.update('f', status('t1', 'TASK_KILLED'));
    await settle();
    assert.deepEqual(h.completed, ['f/t1']);
  });

  test('the queue per task is bounded, but a terminal update is always kept', async () => {
    const h = harness({ answer: () => 'retry' });
    for (let i = 0; i < 8; i++) await h.mgr.update('f', status('t1', 'TASK_RUNNING'));
    assert.equal(h.mgr.pending('f', 't1').length, 5);
    await h.mgr.update('f', status('t1', 'TASK_FAILED'));
    assert.equal(h.mgr.pending('f', 't1').length, 6);
    assert.equal(h.mgr.pending('f', 't1').at(-1)?.state, 'TASK_FAILED');
  });
});
