import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Random } from '../../base/random.js';
import type { AgentCommand } from '../../model/agent-protocol.js';
import type { FrameworkInfo, TaskInfo } from '../../model/mesos.js';
import { MemoryCheckpointer } from '../../adapters/runtime/checkpoint-memory.js';
import { Agent, type AgentEvent } from './agent.js';
import type { AgentConfig } from './config.js';
import { FakeMasterLink, FakeRuntime, ManualClock, settle } from './fakes.js';
import { AGENT_FILE, taskDir, taskFile } from './paths.js';

const FW: FrameworkInfo = { user: 'root', name: 'marathon', id: { value: 'fw-1' } };
const FW_KILLING: FrameworkInfo = { ...FW, capabilities: [{ type: 'TASK_KILLING_STATE' }] };

function taskInfo(id: string, extra: Partial<TaskInfo> = {}): TaskInfo {
  return {
    name: id,
    task_id: { value: id },
    agent_id: { value: 'agent-1' },
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 } },
      {
        name: 'ports',
        type: 'RANGES',
        ranges: {
          range: [
            { begin: 31000, end: 31001 },
            { begin: 31005, end: 31005 },
          ],
        },
      },
    ],
    command: { value: 'sleep 100', environment: { variables: [{ name: 'GREETING', value: 'hi' }] } },
    ...extra,
  };
}

function run(task: TaskInfo, fw: FrameworkInfo = FW): AgentCommand {
  return { type: 'RUN_TASK', framework_id: { value: fw.id!.value }, framework_info: fw, task };
}

interface World {
  clock: ManualClock;
  link: FakeMasterLink;
  runtime: FakeRuntime;
  ckpt: MemoryCheckpointer;
  agent: Agent;
  events: AgentEvent[];
}

async function world(
  opts: { clock?: ManualClock; link?: FakeMasterLink; runtime?: FakeRuntime; ckpt?: MemoryCheckpointer; config?: Partial<AgentConfig>; start?: boolean } = {},
): Promise<World> {
  const clock = opts.clock ?? new ManualClock();
  const link = opts.link ?? new FakeMasterLink();
  const runtime = opts.runtime ?? new FakeRuntime();
  const ckpt = opts.ckpt ?? new MemoryCheckpointer();
  const config: AgentConfig = {
    workDir: '/var/lib/agent',
    hostname: 'node-1',
    ip: '127.0.0.1',
    port: 5051,
    resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 4 } }],
    version: '1.12.0',
    ...opts.config,
  };
  const agent = new Agent({ clock, random: new Random(7), link, runtime, checkpointer: ckpt, config });
  const events: AgentEvent[] = [];
  agent.onEvent((e) => events.push(e));
  if (opts.start !== false) {
    await agent.start();
    await settle();
  }
  return { clock, link, runtime, ckpt, agent, events };
}

describe('agent registration', () => {
  test('a first start registers, checkpoints the agent id and opens the command stream', async () => {
    const w = await world();
    assert.equal(w.link.callsOf('REGISTER').length, 1);
    const reg = w.link.callsOf('REGISTER')[0]!;
    assert.equal(reg.agent_info.hostname, 'node-1');
    assert.equal(reg.agent_info.port, 5051);
    assert.equal(reg.ip, '127.0.0.1');
    assert.equal(w.agent.id, 'agent-1');
    assert.equal(JSON.parse(w.ckpt.files.get(AGENT_FILE)!).agent_id, 'agent-1');
    assert.ok(w.link.streamOpen);
    assert.deepEqual(w.events, [{ type: 'registered', agentId: 'agent-1', masterId: 'm1', reregistered: false }]);
    await w.agent.stop();
  });

  test('a later start reregisters with the checkpointed id', async () => {
    const ckpt = new MemoryCheckpointer();
    const a = await world({ ckpt });
    await a.agent.stop();
    const b = await world({ ckpt });
    assert.equal(b.link.callsOf('REGISTER').length, 0);
    assert.equal(b.link.callsOf('REREGISTER')[0]?.agent_id.value, 'agent-1');
    await b.agent.stop();
  });

  test('while the master is away, registration is retried with a jittered backoff capped at 10 s', async () => {
    const link = new FakeMasterLink(() => 'unreachable');
    const w = await world({ link });
    const t0 = w.clock.nowMs();
    const times: number[] = [];
    const orig = link.respond;
    link.respond = (c) => {
      times.push(w.clock.nowMs() - t0);
      return orig(c);
    };
    await w.clock.advance(60_000);
    const gaps = times.map((t, i) => t - (i === 0 ? 0 : (times[i - 1] as number)));
    assert.ok(times.length >= 6, `only ${times.length} attempts`);
    for (const g of gaps) assert.ok(g <= 10_000, `gap ${g} above the cap`);
    assert.ok(
      gaps.slice(-2).every((g) => g >= 5_000),
      `late gaps ${gaps} should be near the cap`,
    );
    link.respond = new FakeMasterLink().respond;
    await w.clock.advance(10_000);
    assert.equal(w.agent.connection, 'registered');
    await w.agent.stop();
  });

  test('a 409 to a ping makes the agent reregister and reopen its stream', async () => {
    const w = await world();
    const orig = w.link.respond;
    w.link.respond = (c) => (c.type === 'PING' ? { status: 409, body: 'Agent must reregister' } : orig(c));
    await w.clock.advance(15_000);
    w.link.respond = orig;
    await w.clock.advance(2_000);
    assert.equal(w.link.callsOf('REREGISTER').length, 1);
    assert.equal(w.link.subscribes, 2);
    assert.equal(w.agent.connection, 'registered');
    await w.agent.stop();
  });

  test('a dropped command stream is reopened after a reregistration', async () => {
    const w = await world();
    w.link.dropStream();
    await settle();
    assert.equal(w.link.callsOf('REREGISTER').length, 1);
    assert.equal(w.link.subscribes, 2);
    assert.ok(w.link.streamOpen);
    assert.deepEqual(
      w.events.map((e) => e.type),
      ['registered', 'disconnected', 'registered'],
    );
    await w.agent.stop();
  });

  test('a master that refuses the old id (404 to REREGISTER) gets a fresh REGISTER; the old tasks are killed', async () => {
    const ckpt = new MemoryCheckpointer();
    const a = await world({ ckpt });
    a.link.push(run(taskInfo('t1')));
    await settle();
    await a.agent.stop();
    const c = a.runtime.launched[0]!.containerId;
    const runtime = new FakeRuntime();
    runtime.recovered.set(c, { containerId: c, state: 'running', pid: 4242 });
    const link = new FakeMasterLink((call) => {
      if (call.type === 'REREGISTER') return { status: 404, body: 'unknown agent' };
      if (call.type === 'REGISTER') return { status: 200, body: { agent_id: { value: 'agent-2' }, master_id: 'm2', ping_interval_seconds: 15 } };
      return { status: 200, body: {} };
    });
    const b = await world({ ckpt, runtime, link });
    assert.deepEqual(
      link.calls.map((x) => x.type),
      ['REREGISTER', 'REGISTER'],
    );
    assert.equal(b.agent.id, 'agent-2');
    assert.equal(JSON.parse(ckpt.files.get(AGENT_FILE)!).agent_id, 'agent-2');
    assert.deepEqual(
      runtime.killed.map((k) => k.containerId),
      [c],
    );
    assert.equal(b.agent.view().frameworks.length, 0);
    await b.agent.stop();
  });

  test('marked gone: every task is killed, the checkpoints are removed, and the agent stops', async () => {
    const w = await world();
    w.link.push(run(taskInfo('t1')));
    await settle();
    const orig = w.link.respond;
    w.link.respond = (c) => (c.type === 'PING' ? { status: 403, body: { error: 'gone', message: 'marked gone' } } : orig(c));
    await w.clock.advance(15_000);
    await settle();
    assert.equal(w.agent.connection, 'gone');
    assert.equal(w.runtime.killed.length, 1);
    assert.equal(w.ckpt.files.size, 0, [...w.ckpt.files.keys()].join(','));
    assert.equal(w.events.at(-1)?.type, 'gone');
    assert.equal(w.clock.pendingTimers, 0, 'no timers left running');
  });
});

describe('agent tasks', () => {
  test('RUN_TASK launches the command with the Mesos and port environment and reports STARTING then RUNNING', async () => {
    const w = await world();
    w.link.push(run(taskInfo('t1')));
    await settle();
    const spec = w.runtime.launched[0]!;
    assert.equal(spec.command.value, 'sleep 100');
    assert.match(spec.sandboxDir, /^\/var\/lib\/agent\/slaves\/agent-1\/frameworks\/fw-1\/executors\/t1\/runs\/[0-9a-f-]{36}$/);
    assert.equal(spec.env.GREETING, 'hi');
    assert.equal(spec.env.MESOS_TASK_ID, 't1');
    assert.equal(spec.env.MESOS_SANDBOX, spec.sandboxDir);
    assert.equal(spec.env.MESOS_DIRECTORY, spec.sandboxDir);
    assert.equal(spec.env.MESOS_FRAMEWORK_ID, 'fw-1');
    assert.equal(spec.env.MESOS_EXECUTOR_ID, 't1');
    assert.equal(spec.env.MESOS_AGENT_ENDPOINT, '127.0.0.1:5051');
    assert.equal(spec.env.MESOS_CONTAINER_NAME, `mesos-${spec.containerId}`);
    assert.equal(spec.env.HOST, 'node-1');
    assert.deepEqual([spec.env.PORT0, spec.env.PORT1, spec.env.PORT2, spec.env.PORT], ['31000', '31001', '31005', '31000']);
    assert.equal(spec.env.PORTS, '31000,31001,31005');
    assert.ok(spec.env.PATH);
    assert.ok(w.ckpt.files.has(taskFile('fw-1', 't1')), 'checkpointed before launch');

    assert.deepEqual(w.link.updateStates('t1'), ['TASK_STARTING', 'TASK_RUNNING']);
    const s = w.link.callsOf('STATUS_UPDATE')[1]!;
    assert.equal(s.framework_id.value, 'fw-1');
    assert.equal(s.status.source, 'SOURCE_EXECUTOR');
    assert.equal(s.status.agent_id?.value, 'agent-1');
    assert.equal(s.status.executor_id?.value, 't1');
    assert.equal(s.status.timestamp, w.clock.nowMs() / 1000);
    assert.match(s.status.uuid!, /^[A-Za-z0-9+/]{22}==$/);
    assert.deepEqual(s.status.container_status, {
      container_id: { value: spec.containerId },
      network_infos: [{ ip_addresses: [{ protocol: 'IPv4', ip_address: '127.0.0.1' }] }],
      executor_pid: 101,
    });
    await w.agent.stop();
  });

  test('exit 0 is TASK_FINISHED, a non-zero exit TASK_FAILED, each with the Mesos message', async () => {
    const w = await world();
    w.link.push(run(taskInfo('ok')));
    w.link.push(run(taskInfo('bad')));
    await settle();
    w.runtime.exit(w.runtime.launched[0]!.containerId, { exitCode: 0 });
    w.runtime.exit(w.runtime.launched[1]!.containerId, { exitCode: 3 });
    await settle();
    const last = (id: string) =>
      w.link
        .callsOf('STATUS_UPDATE')
        .filter((c) => c.status.task_id.value === id)
        .at(-1)!.status;
    assert.equal(last('ok').state, 'TASK_FINISHED');
    assert.equal(last('ok').message, 'Command exited with status 0');
    assert.equal(last('bad').state, 'TASK_FAILED');
    assert.equal(last('bad').message, 'Command exited with status 3');
    assert.equal(w.agent.view().completedTasks.length, 2, 'acknowledged terminal tasks are completed');
    assert.equal(w.agent.view().frameworks.length, 0);
    assert.ok(![...w.ckpt.files.keys()].some((k) => k.startsWith(taskDir('fw-1', 'ok'))), 'checkpoint removed');
    await w.agent.stop();
  });

  test('KILL_TASK sends TASK_KILLING to frameworks that asked for it, kills with the grace period, then TASK_KILLED', async () => {
    const w = await world();
    w.link.push(run(taskInfo('t1'), FW_KILLING));
    await settle();
    w.link.push({ type: 'KILL_TASK', framework_id: { value: 'fw-1' }, task_id: { value: 't1' }, kill_policy: { grace_period: { nanoseconds: 5e9 } } });
    await settle();
    assert.deepEqual(w.runtime.killed, [{ containerId: w.runtime.launched[0]!.containerId, gracePeriodMs: 5000 }]);
    assert.deepEqual(w.link.updateStates('t1'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_KILLED']);
    await w.agent.stop();
  });

  test('without TASK_KILLING_STATE there is no TASK_KILLING; the default grace is 3 s', async () => {
    const w = await world();
    w.link.push(run(taskInfo('t1')));
    await settle();
    w.link.push({ type: 'KILL_TASK', framework_id: { value: 'fw-1' }, task_id: { value: 't1' } });
    await settle();
    assert.equal(w.runtime.killed[0]?.gracePeriodMs, 3000);
    assert.deepEqual(w.link.updateStates('t1'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLED']);
    await w.agent.stop();
  });

  test('killing a task the agent does not know answers TASK_LOST with REASON_TASK_UNKNOWN', async () => {
    const w = await world();
    w.link.push({ type: 'KILL_TASK', framework_id: { value: 'fw-1' }, task_id: { value: 'ghost' } });
    await settle();
    const s = w.link.callsOf('STATUS_UPDATE')[0]!.status;
    assert.equal(s.state, 'TASK_LOST');
    assert.equal(s.reason, 'REASON_TASK_UNKNOWN');
    assert.equal(s.source, 'SOURCE_AGENT');
    await w.agent.stop();
  });

  test('a launch failure is TASK_FAILED with REASON_CONTAINER_LAUNCH_FAILED', async () => {
    const w = await world();
    w.runtime.failLaunch = 'no such image';
    w.link.push(run(taskInfo('t1')));
    await settle();
    const s = w.link.callsOf('STATUS_UPDATE')[0]!.status;
    assert.equal(s.state, 'TASK_FAILED');
    assert.equal(s.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.match(s.message!, /no such image/);
    await w.agent.stop();
  });

  test('an invalid task is TASK_ERROR and never launched; a repeated RUN_TASK of a running task is ignored', async () => {
    const w = await world();
    w.link.push(run(taskInfo('empty', { command: { value: '  ' } })));
    w.link.push(run(taskInfo('bad/id')));
    w.link.push(run(taskInfo('t1')));
    await settle();
    w.link.push(run(taskInfo('t1')));
    await settle();
    assert.equal(w.runtime.launched.length, 1);
    const errors = w.link.callsOf('STATUS_UPDATE').filter((c) => c.status.state === 'TASK_ERROR');
    assert.deepEqual(errors.map((c) => [c.status.task_id.value, c.status.reason]).sort(), [
      ['bad/id', 'REASON_TASK_INVALID'],
      ['empty', 'REASON_TASK_INVALID'],
    ]);
    assert.deepEqual(w.link.updateStates('t1'), ['TASK_STARTING', 'TASK_RUNNING']);
    await w.agent.stop();
  });

  test('SHUTDOWN_FRAMEWORK kills every task of that framework and no other', async () => {
    const w = await world();
    w.link.push(run(taskInfo('a')));
    w.link.push(run(taskInfo('b')));
    w.link.push(run(taskInfo('c'), { ...FW, id: { value: 'fw-2' } }));
    await settle();
    w.link.push({ type: 'SHUTDOWN_FRAMEWORK', framework_id: { value: 'fw-1' } });
    await settle();
    assert.equal(w.runtime.killed.length, 2);
    assert.equal(w.link.updateStates('a').at(-1), 'TASK_KILLED');
    assert.equal(w.link.updateStates('b').at(-1), 'TASK_KILLED');
    assert.equal(w.link.updateStates('c').at(-1), 'TASK_RUNNING');
    await w.agent.stop();
  });

  test('max_completion_time fails the task with REASON_MAX_COMPLETION_TIME_REACHED', async () => {
    const w = await world();
    w.link.push(run(taskInfo('t1', { max_completion_time: { nanoseconds: 60e9 } })));
    await settle();
    await w.clock.advance(59_000);
    assert.equal(w.runtime.killed.length, 0);
    await w.clock.advance(1_000);
    const s = w.link.callsOf('STATUS_UPDATE').at(-1)!.status;
    assert.equal(s.state, 'TASK_FAILED');
    assert.equal(s.reason, 'REASON_MAX_COMPLETION_TIME_REACHED');
    await w.agent.stop();
  });

  test('updates the master did not take are resent right after the agent reregisters, in order', async () => {
    const w = await world();
    const orig = w.link.respond;
    w.link.respond = (c) => (c.type === 'STATUS_UPDATE' ? 'unreachable' : orig(c));
    w.link.push(run(taskInfo('t1')));
    await settle();
    w.runtime.exit(w.runtime.launched[0]!.containerId, { exitCode: 0 });
    await settle();
    assert.deepEqual(w.link.updateStates('t1'), ['TASK_STARTING']);
    w.link.respond = orig;
    w.link.dropStream();
    await settle();
    assert.equal(w.link.callsOf('REREGISTER').length, 1);
    const rereg = w.link.callsOf('REREGISTER')[0]!;
    assert.equal(rereg.tasks[0]?.state, 'TASK_FINISHED', 'reports the latest state');
    assert.equal(rereg.tasks[0]?.status_update_state, 'TASK_STARTING', 'and the oldest unacknowledged one');
    assert.deepEqual(
      rereg.frameworks.map((f) => f.id?.value),
      ['fw-1'],
    );
    assert.deepEqual(w.link.updateStates('t1'), ['TASK_STARTING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    await w.agent.stop();
  });
});

describe('agent restart', () => {
  test('a task that exited while the agent was down is reported with its exit status; a live one is reattached', async () => {
    const ckpt = new MemoryCheckpointer();
    const clock = new ManualClock();
    const a = await world({ ckpt, clock });
    a.link.push(run(taskInfo('gone-while-down')));
    a.link.push(run(taskInfo('still-running')));
    await settle();
    const [c1, c2] = a.runtime.launched.map((s) => s.containerId) as [string, string];
    await a.agent.stop();

    const runtime = new FakeRuntime();
    runtime.recovered.set(c1, { containerId: c1, state: 'exited', exit: { exitCode: 2 } });
    runtime.recovered.set(c2, { containerId: c2, state: 'running', pid: 4242 });
    const b = await world({ ckpt, clock, runtime });
    const rereg = b.link.callsOf('REREGISTER')[0]!;
    assert.deepEqual(rereg.tasks.map((t) => [t.task_id.value, t.state]).sort(), [
      ['gone-while-down', 'TASK_FAILED'],
      ['still-running', 'TASK_RUNNING'],
    ]);
    const failed = b.link.callsOf('STATUS_UPDATE').find((c) => c.status.task_id.value === 'gone-while-down')!.status;
    assert.equal(failed.state, 'TASK_FAILED');
    assert.equal(failed.message, 'Command exited with status 2');
    runtime.exit(c2, { exitCode: 0 });
    await settle();
    assert.equal(b.link.updateStates('still-running').at(-1), 'TASK_FINISHED');
    await b.agent.stop();
  });

  test('a kill sent before the restart still makes the exit TASK_KILLED', async () => {
    const ckpt = new MemoryCheckpointer();
    const runtime1 = new FakeRuntime();
    runtime1.kill = async () => {}; // the process takes its time to die
    const a = await world({ ckpt, runtime: runtime1 });
    a.link.push(run(taskInfo('t1')));
    await settle();
    a.link.push({ type: 'KILL_TASK', framework_id: { value: 'fw-1' }, task_id: { value: 't1' } });
    await settle();
    await a.agent.stop();
    const c = runtime1.launched[0]!.containerId;
    const runtime = new FakeRuntime();
    runtime.recovered.set(c, { containerId: c, state: 'exited', exit: { exitCode: 143, signal: 15 } });
    const b = await world({ ckpt, runtime });
    const last = b.link.callsOf('STATUS_UPDATE').at(-1)!.status;
    assert.equal(last.state, 'TASK_KILLED');
    assert.equal(last.message, 'Command terminated with signal Terminated');
    await b.agent.stop();
  });

  test('a task checkpointed but never launched is reported lost after a restart', async () => {
    const ckpt = new MemoryCheckpointer();
    const runtime1 = new FakeRuntime();
    runtime1.launch = () => new Promise(() => {}); // the agent dies mid-launch
    const a = await world({ ckpt, runtime: runtime1 });
    a.link.push(run(taskInfo('t1')));
    await settle();
    await a.agent.stop();
    const b = await world({ ckpt });
    const s = b.link.callsOf('STATUS_UPDATE')[0]!.status;
    assert.equal(s.state, 'TASK_LOST');
    assert.equal(s.reason, 'REASON_AGENT_RESTARTED');
    await b.agent.stop();
  });

  test('--recover=cleanup kills what the last run left and registers as a new agent', async () => {
    const ckpt = new MemoryCheckpointer();
    const a = await world({ ckpt });
    a.link.push(run(taskInfo('t1')));
    await settle();
    await a.agent.stop();
    const c = a.runtime.launched[0]!.containerId;
    const runtime = new FakeRuntime();
    runtime.recovered.set(c, { containerId: c, state: 'running', pid: 4242 });
    const b = await world({ ckpt, runtime, config: { recover: 'cleanup' } });
    assert.deepEqual(
      runtime.killed.map((k) => k.containerId),
      [c],
    );
    assert.equal(b.link.callsOf('REREGISTER').length, 0);
    assert.equal(b.link.callsOf('REGISTER').length, 1);
    assert.equal(b.link.callsOf('STATUS_UPDATE').length, 0);
    assert.equal(b.agent.view().frameworks.length, 0);
    await b.agent.stop();
  });
});
