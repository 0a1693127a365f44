import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Random } from '../../base/random.js';
import type { AgentCommand } from '../../model/agent-protocol.js';
import { FsCheckpointer } from '../../adapters/runtime/checkpoint-fs.js';
import { ProcessRuntime } from '../../adapters/runtime/process.js';
import { Agent } from './agent.js';
import { FakeMasterLink, ManualClock } from './fakes.js';

const workDir = mkdtempSync(join(tmpdir(), 'dcos-agent-recovery-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

async function until(what: string, cond: () => boolean, timeoutMs = 8000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function alive(pid: number): boolean {
  try {
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function boot(clock: ManualClock, seed: number) {
  const link = new FakeMasterLink();
  const runtime = new ProcessRuntime({ stateDir: join(workDir, 'meta', 'runtime'), pollIntervalMs: 50 });
  const agent = new Agent({
    clock,
    random: new Random(seed),
    link,
    runtime,
    checkpointer: new FsCheckpointer(workDir),
    config: { workDir, hostname: 'localhost', ip: '127.0.0.1', port: 5051, resources: [], version: 'test' },
  });
  return { link, runtime, agent };
}

const runTask = (id: string, cmd: string): AgentCommand => ({
  type: 'RUN_TASK',
  framework_id: { value: 'fw' },
  framework_info: { user: 'root', name: 'fw', id: { value: 'fw' } },
  task: { name: id, task_id: { value: id }, agent_id: { value: 'agent-1' }, command: { value: cmd } },
});

test('with real processes: a task that exits while the agent is down is reported with its real exit status after the restart', async () => {
  const clock = new ManualClock();
  const a = boot(clock, 1);
  await a.agent.start();
  await until('registration', () => a.agent.connection === 'registered');
  a.link.push(runTask('short', 'sleep 0.6; echo done; exit 3'));
  a.link.push(runTask('long', 'echo $$ > my.pid; exec sleep 60'));
  await until('both tasks running', () => a.link.updateStates('short').includes('TASK_RUNNING') && a.link.updateStates('long').includes('TASK_RUNNING'));
  const sandbox = a.agent.view().frameworks[0]!.tasks.find((t) => t.info.task_id.value === 'long')!.sandboxDir;
  await until('pid file', () => existsSync(join(sandbox, 'my.pid')));
  const longPid = Number(readFileSync(join(sandbox, 'my.pid'), 'utf8'));

  // The agent goes away (as if its process died); the tasks keep running without it.
  await a.agent.stop();
  a.runtime.close();
  await new Promise((r) => setTimeout(r, 1200));
  assert.ok(alive(longPid), 'the long task survived the agent');
  assert.deepEqual(a.link.updateStates('short'), ['TASK_STARTING', 'TASK_RUNNING'], 'the first agent saw nothing of the exit');

  const b = boot(clock, 2);
  await b.agent.start();
  await until('reregistration', () => b.agent.connection === 'registered');
  const rereg = b.link.callsOf('REREGISTER')[0]!;
  assert.equal(rereg.agent_id.value, 'agent-1');
  assert.deepEqual(rereg.tasks.map((t) => [t.task_id.value, t.state]).sort(), [
    ['long', 'TASK_RUNNING'],
    ['short', 'TASK_FAILED'],
  ]);
  await until('the exit report', () => b.link.updateStates('short').includes('TASK_FAILED'));
  const failed = b.link.callsOf('STATUS_UPDATE').find((c) => c.status.task_id.value === 'short')!.status;
  assert.equal(failed.message, 'Command exited with status 3');
  assert.equal(failed.source, 'SOURCE_EXECUTOR');

  // The reattached task is still under control: a kill reaches it and is reported.
  b.link.push({ type: 'KILL_TASK', framework_id: { value: 'fw' }, task_id: { value: 'long' }, kill_policy: { grace_period: { nanoseconds: 1e9 } } });
  await until('TASK_KILLED', () => b.link.updateStates('long').includes('TASK_KILLED'));
  assert.equal(alive(longPid), false);
  // Both end up completed once their terminal updates are acknowledged (asynchronously).
  await until('both tasks completed', () => b.agent.view().completedTasks.length === 2);
  assert.ok(!existsSync(join(workDir, 'meta', 'frameworks', 'fw', 'tasks', 'short')), 'completed checkpoints are removed');
  assert.ok(existsSync(join(sandbox, 'stdout')), 'sandboxes stay');
  await b.agent.stop();
  b.runtime.close();
});

test('with real processes: the runtime prepares while the checkpoint is written, but a task whose checkpoint fails never runs and leaves no runtime state', async () => {
  const clock = new ManualClock();
  const a = boot(clock, 3);
  await a.agent.start();
  await until('registration', () => a.agent.connection === 'registered');
  // The checkpoint write of this task fails (a directory stands where task.json goes), as a full
  // disk would; its status updates can still be written.
  const { mkdirSync, readdirSync } = await import('node:fs');
  mkdirSync(join(workDir, 'meta', 'frameworks', 'fw', 'tasks', 'unwritable', 'task.json', 'x'), { recursive: true });
  const before = new Set(readdirSync(join(workDir, 'meta', 'runtime')));
  a.link.push(runTask('unwritable', 'touch ran'));
  await until('TASK_FAILED', () => a.link.updateStates('unwritable').includes('TASK_FAILED'));
  const failed = a.link.callsOf('STATUS_UPDATE').find((c) => c.status.task_id.value === 'unwritable')!.status;
  assert.match(failed.message ?? '', /^Failed to checkpoint the task/);
  assert.equal(failed.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
  assert.deepEqual(a.link.updateStates('unwritable'), ['TASK_FAILED'], 'never started');
  const leftover = readdirSync(join(workDir, 'meta', 'runtime')).filter((d) => !before.has(d));
  assert.deepEqual(leftover, [], 'no runtime state left');
  // A task killed while its checkpoint is being written is not started either.
  a.link.push(runTask('killed-early', 'touch ran'));
  a.link.push({ type: 'KILL_TASK', framework_id: { value: 'fw' }, task_id: { value: 'killed-early' } });
  await until('TASK_KILLED', () => a.link.updateStates('killed-early').includes('TASK_KILLED'));
  const killed = a.link.callsOf('STATUS_UPDATE').find((c) => c.status.task_id.value === 'killed-early')!.status;
  assert.equal(killed.reason, 'REASON_TASK_KILLED_DURING_LAUNCH');
  await a.agent.stop();
  a.runtime.close();
});
