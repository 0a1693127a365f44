import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryCheckpointer } from '../../adapters/runtime/checkpoint-memory.js';
import { Random } from '../../base/random.js';
import type { FrameworkInfo, TaskInfo, TaskStatus } from '../../model/mesos.js';
import type { ProbeResult, Probes } from '../../ports/probes.js';
import { Agent } from './agent.js';
import { FakeMasterLink, FakeRuntime, ManualClock, settle } from './fakes.js';
import { CheckState, checkStatusOf, HealthState, healthPolicy, probeSpec } from './health.js';

describe('health check state (pure)', () => {
  const policy = healthPolicy({ delay_seconds: 0, interval_seconds: 1, timeout_seconds: 1, consecutive_failures: 3, grace_period_seconds: 10 });

  test('failures inside the grace period before any success are ignored', () => {
    const h = new HealthState(policy, 0);
    assert.equal(h.failure(5_000), undefined);
    assert.equal(h.failure(10_000), undefined, 'the grace period includes its last instant');
    assert.deepEqual(h.failure(10_001), { healthy: false, consecutiveFailures: 1, kill: false });
  });

  test('after the first success, failures count even inside the grace period', () => {
    const h = new HealthState(policy, 0);
    assert.deepEqual(h.success(), { healthy: true, consecutiveFailures: 0, kill: false });
    assert.deepEqual(h.failure(2_000), { healthy: false, consecutiveFailures: 1, kill: false });
  });

  test('only the first success and the first success after failures are reported', () => {
    const h = new HealthState(policy, 0);
    assert.ok(h.success());
    assert.equal(h.success(), undefined);
    h.failure(20_000);
    assert.deepEqual(h.success(), { healthy: true, consecutiveFailures: 0, kill: false });
    assert.equal(h.success(), undefined);
  });

  test('consecutive_failures failures in a row ask for a kill; a success in between resets the count', () => {
    const h = new HealthState(policy, 0);
    h.success();
    assert.equal(h.failure(1)?.kill, false);
    assert.equal(h.failure(2)?.kill, false);
    h.success();
    assert.equal(h.failure(3)?.consecutiveFailures, 1);
    assert.equal(h.failure(4)?.kill, false);
    assert.deepEqual(h.failure(5), { healthy: false, consecutiveFailures: 3, kill: true });
  });

  test('Mesos defaults apply to missing fields', () => {
    assert.deepEqual(healthPolicy({ type: 'TCP', tcp: { port: 80 } }), {
      delayMs: 15_000,
      intervalMs: 10_000,
      timeoutMs: 20_000,
      consecutiveFailures: 3,
      gracePeriodMs: 10_000,
    });
  });

  test('a check reports only changes of its result; an error is an empty result', () => {
    const c = new CheckState({ type: 'COMMAND', command: {} });
    assert.equal(c.update(checkStatusOf('COMMAND', { kind: 'error', message: 'timeout' })), undefined);
    assert.deepEqual(c.update(checkStatusOf('COMMAND', { kind: 'command', exitCode: 1 })), { type: 'COMMAND', command: { exit_code: 1 } });
    assert.equal(c.update(checkStatusOf('COMMAND', { kind: 'command', exitCode: 1 })), undefined);
    assert.deepEqual(c.update(checkStatusOf('HTTP', { kind: 'http', statusCode: 503 })), { type: 'HTTP', http: { status_code: 503 } });
  });

  test('probe specs: a port is required for HTTP and TCP; CheckInfo nests its command', () => {
    assert.match(String(probeSpec({ type: 'HTTP', http: { port: 0 } })), /needs a port/);
    assert.deepEqual(probeSpec({ type: 'HTTP', http: { port: 80, path: 'health' } }), { type: 'HTTP', scheme: 'http', port: 80, path: '/health', ipv6: false });
    assert.deepEqual(probeSpec({ type: 'COMMAND', command: { command: { value: 'true' } } }), { type: 'COMMAND', command: { value: 'true' } });
  });
});

/** Probes whose results the test scripts, one queue per kind. */
class ScriptedProbes implements Probes {
  results: ProbeResult[] = [];
  calls = 0;
  private next(): Promise<ProbeResult> {
    this.calls++;
    return Promise.resolve(this.results.shift() ?? { kind: 'error', message: 'no scripted result' });
  }
  command() {
    return this.next();
  }
  http() {
    return this.next();
  }
  tcp() {
    return this.next();
  }
}

async function world(task: Partial<TaskInfo>, caps: string[] = []) {
  const clock = new ManualClock();
  const link = new FakeMasterLink();
  const runtime = new FakeRuntime();
  const probes = new ScriptedProbes();
  const agent = new Agent({
    clock,
    random: new Random(3),
    link,
    runtime,
    probes,
    checkpointer: new MemoryCheckpointer(),
    config: { workDir: '/w', hostname: 'h', ip: '127.0.0.1', port: 5051, resources: [], version: 't' },
  });
  await agent.start();
  await settle();
  const fw = { user: 'root', name: 'fw', id: { value: 'fw' }, capabilities: caps.map((type) => ({ type })) } as FrameworkInfo;
  link.push({
    type: 'RUN_TASK',
    framework_id: { value: 'fw' },
    framework_info: fw,
    task: { name: 't', task_id: { value: 't' }, agent_id: { value: 'agent-1' }, command: { value: 'sleep 100' }, ...task },
  });
  await settle();
  const statuses = (): TaskStatus[] => link.callsOf('STATUS_UPDATE').map((c) => c.status);
  return { clock, link, runtime, probes, agent, statuses };
}

describe('health checks through the agent (manual clock)', () => {
  const hc = {
    type: 'HTTP' as const,
    http: { port: 8080 },
    delay_seconds: 1,
    interval_seconds: 2,
    timeout_seconds: 1,
    consecutive_failures: 2,
    grace_period_seconds: 4,
  };

  test('nothing is probed before delay_seconds', async () => {
    const w = await world({ health_check: hc });
    await w.clock.advance(999);
    assert.equal(w.probes.calls, 0);
    await w.clock.advance(1);
    assert.equal(w.probes.calls, 1);
  });

  test('healthy, then unhealthy twice: TASK_RUNNING healthy true/false updates, then the task is killed and reported TASK_KILLED healthy false', async () => {
    const w = await world({ health_check: hc, kill_policy: { grace_period: { nanoseconds: 2e9 } } }, ['TASK_KILLING_STATE']);
    w.probes.results.push(
      { kind: 'http', statusCode: 200 },
      { kind: 'http', statusCode: 200 },
      { kind: 'http', statusCode: 500 },
      { kind: 'error', message: 'timed out' },
    );
    await w.clock.advance(1_000 + 3 * 2_000);
    const s = w.statuses();
    const health = s.filter((x) => x.reason === 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED');
    assert.deepEqual(
      health.map((x) => [x.state, x.healthy]),
      [
        ['TASK_RUNNING', true],
        ['TASK_RUNNING', false],
        ['TASK_RUNNING', false],
      ],
    );
    assert.equal(w.runtime.killed.length, 1, 'killed once, after the second failure in a row');
    assert.equal(w.runtime.killed[0]?.gracePeriodMs, 2_000, "with the task's kill policy");
    await settle();
    const last = w.statuses().at(-1) as TaskStatus;
    assert.equal(last.state, 'TASK_KILLED');
    assert.equal(last.healthy, false);
    assert.ok(w.statuses().some((x) => x.state === 'TASK_KILLING'));
    const calls = w.probes.calls;
    await w.clock.advance(20_000);
    assert.equal(w.probes.calls, calls, 'no probes after the kill');
  });

  test('failures in the grace period are not reported and never kill', async () => {
    const w = await world({ health_check: hc });
    w.probes.results.push({ kind: 'http', statusCode: 503 }, { kind: 'http', statusCode: 503 });
    await w.clock.advance(1_000 + 2_000); // probes at 1 s and 3 s: inside the 4 s grace period
    assert.equal(w.probes.calls, 2);
    assert.equal(w.statuses().filter((x) => x.healthy !== undefined).length, 0);
    assert.equal(w.runtime.killed.length, 0);
  });

  test('a generic check reports check_status changes with REASON_TASK_CHECK_STATUS_UPDATED and never kills', async () => {
    const w = await world({ check: { type: 'COMMAND', command: { command: { value: 'exit 3' } }, delay_seconds: 0, interval_seconds: 1 } });
    const running = w.statuses().find((x) => x.state === 'TASK_RUNNING');
    assert.deepEqual(running?.check_status, { type: 'COMMAND', command: {} }, 'the first TASK_RUNNING carries an empty check status');
    for (let i = 0; i < 5; i++) w.probes.results.push({ kind: 'command', exitCode: 3 });
    w.probes.results.push({ kind: 'command', exitCode: 0 });
    await w.clock.advance(5_000); // probes at 0, 1, ..., 5 s
    const checks = w.statuses().filter((x) => x.reason === 'REASON_TASK_CHECK_STATUS_UPDATED');
    assert.deepEqual(
      checks.map((x) => x.check_status?.command?.exit_code),
      [3, 0],
    );
    assert.equal(w.runtime.killed.length, 0);
  });
});
