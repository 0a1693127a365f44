import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { waitFor } from './lib/http.js';

const require = createRequire(import.meta.url);
const DCOS = resolve('dist/src/main/dcos.js');
type Json = any;

function dcos(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [DCOS, ...args], { env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** An HTTP server on the offered port, on loopback only (where the agent's probes go, as Mesos'). */
const SERVER = 'exec python3 -m http.server $PORT0 --bind 127.0.0.1';
const instanceOf = (taskId: string): string => taskId.replace(/\._app\.\d+$/, '');

/**
 * Mesos-level health checks end to end: Marathon translates MESOS_HTTP, MESOS_TCP and COMMAND
 * checks into TaskInfo.health_check, real agents (`dcos up`, separate processes) run them against
 * real tasks and report TaskStatus.healthy, and Marathon gates deployments on that.
 */
describe('Marathon with agent-run health checks on a local cluster of real processes', () => {
  const home = mkdtempSync(join(tmpdir(), 'dcos-agent-health-e2e-'));
  const workDir = join(home, 'cluster');
  const env = { DCOS_TS_CONFIG_DIR: join(home, 'config'), DCOS_TS_HOME: home };
  let base = '';
  let mesos = '';
  const events: Json[] = [];
  let es: Json;

  const api = async (method: string, path: string, body?: unknown): Promise<Json> => {
    const r = await fetch(`${base}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
    });
    const text = await r.text();
    if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  const app = async (id: string): Promise<Json> => (await api('GET', `/v2/apps${id}?embed=app.tasks&embed=app.lastTaskFailure`)).app;
  const removeApp = async (id: string) => {
    await api('DELETE', `/v2/apps${id}?force=true`);
    await waitFor(`${id} removed`, async () => (await fetch(`${base}/v2/apps${id}`)).status === 404 || undefined, 60_000, 300);
  };
  const serves = (port: number) =>
    waitFor(`http on 127.0.0.1:${port}`, async () => (await fetch(`http://127.0.0.1:${port}/`)).status === 200 || undefined, 30_000, 200);

  before(async () => {
    const r = await dcos(
      ['up', '--detach', '--json', '--agents=2', `--work-dir=${workDir}`, '--resources=cpus:2;mem:1024;disk:2048', '--agent-ping-timeout=5secs'],
      env,
    );
    assert.equal(r.code, 0, `dcos up failed: ${r.stderr}`);
    const info = JSON.parse(r.stdout);
    base = `${info.url}/service/marathon`;
    mesos = info.mesos;
    const EventSource = require('eventsource');
    es = new EventSource(`${base}/v2/events`);
    for (const t of [
      'status_update_event',
      'health_status_changed_event',
      'instance_health_changed_event',
      'deployment_success',
      'unhealthy_instance_kill_event',
    ])
      es.addEventListener(t, (e: { data: string }) => events.push({ sse: t, at: Date.now(), ...JSON.parse(e.data) }));
    await waitFor('the SSE stream', () => es.readyState === 1 || undefined, 30_000, 100);
  });

  after(async () => {
    es?.close();
    await dcos(['down', '--purge', `--work-dir=${workDir}`], env);
    rmSync(home, { recursive: true, force: true });
  });

  test('a MESOS_HTTP check run by the agent makes every instance healthy and finishes the deployment', async () => {
    const hc = {
      protocol: 'MESOS_HTTP',
      path: '/',
      portIndex: 0,
      delaySeconds: 1,
      gracePeriodSeconds: 60,
      intervalSeconds: 1,
      timeoutSeconds: 2,
      maxConsecutiveFailures: 3,
    };
    const created = await api('POST', '/v2/apps', { id: '/ahc/http', cmd: SERVER, cpus: 0.1, mem: 48, instances: 2, healthChecks: [hc] });
    const deploymentId = created.deployments[0].id as string;
    const done = await waitFor(
      '/ahc/http healthy with its deployment finished',
      async () => {
        const a = await app('/ahc/http');
        return a.tasksHealthy === 2 && a.tasksRunning === 2 && a.tasks.length === 2 && a.deployments.length === 0 ? a : undefined;
      },
      90_000,
      300,
    );
    assert.equal(done.tasksUnhealthy, 0);
    for (const t of done.tasks) {
      assert.equal(t.healthCheckResults.length, 1, JSON.stringify(t));
      assert.equal(t.healthCheckResults[0].alive, true);
      assert.equal(t.healthCheckResults[0].instanceId, instanceOf(t.id));
      await serves(t.ports[0]);
    }
    await waitFor('deployment_success over SSE', () => events.some((e) => e.sse === 'deployment_success' && e.id === deploymentId) || undefined, 30_000);
    // The health came from the agent: Marathon got healthy TASK_RUNNING updates for each task.
    for (const t of done.tasks)
      assert.ok(
        events.some((e) => e.sse === 'health_status_changed_event' && e.instanceId === instanceOf(t.id) && e.alive === true),
        `health_status_changed_event for ${t.id}`,
      );
    // The master's view: the TaskInfo carried the translated check with the task's host port, and
    // the agent's TASK_RUNNING update said healthy.
    const { tasks } = (await (await fetch(`${mesos}/master/tasks`)).json()) as Json;
    for (const t of done.tasks) {
      const mt = tasks.find((x: Json) => x.id === t.id);
      assert.ok(mt, `${t.id} in /master/tasks`);
      assert.deepEqual(mt.health_check.http, { port: t.ports[0], scheme: 'http', path: '/' });
      assert.equal(mt.health_check.type, 'HTTP');
      assert.equal(mt.health_check.consecutive_failures, 3);
      assert.ok(
        mt.statuses.some((s: Json) => s.state === 'TASK_RUNNING' && s.healthy === true),
        JSON.stringify(mt.statuses),
      );
    }
    await removeApp('/ahc/http');
  });

  test('a failing COMMAND check: the task turns unhealthy, the agent kills it after 2 failures, Marathon replaces it', async () => {
    const hc = {
      protocol: 'COMMAND',
      command: { value: 'exit 1' },
      delaySeconds: 1,
      gracePeriodSeconds: 0,
      intervalSeconds: 2,
      timeoutSeconds: 5,
      maxConsecutiveFailures: 2,
    };
    await api('POST', '/v2/apps', { id: '/ahc/cmd', cmd: 'sleep 1000', cpus: 0.1, mem: 16, instances: 1, healthChecks: [hc], backoffSeconds: 1 });
    const first = await waitFor(
      'the first task running',
      async () => {
        const a = await app('/ahc/cmd');
        return a.tasks.find((t: Json) => t.state === 'TASK_RUNNING');
      },
      60_000,
      200,
    );
    // One failure is reported (healthy: false) before the second one kills the task.
    const unhealthy = await waitFor(
      'tasksUnhealthy reported',
      async () => {
        const a = await app('/ahc/cmd');
        return a.tasksUnhealthy >= 1 ? a : undefined;
      },
      60_000,
      100,
    );
    assert.equal(unhealthy.tasksHealthy, 0);
    const bad = unhealthy.tasks.find((t: Json) => t.healthCheckResults?.[0]?.alive === false);
    assert.ok(bad, `a task with a failed health check result: ${JSON.stringify(unhealthy.tasks)}`);
    const replaced = await waitFor(
      'the first task killed and replaced',
      async () => {
        const a = await app('/ahc/cmd');
        const fresh = a.tasks.filter((t: Json) => t.id !== first.id);
        return a.lastTaskFailure?.taskId === first.id && !a.tasks.some((t: Json) => t.id === first.id) && fresh.length === 1 ? a : undefined;
      },
      90_000,
      200,
    );
    assert.equal(replaced.lastTaskFailure.state, 'TASK_KILLED');
    assert.match(replaced.lastTaskFailure.message, /health check/i);
    const killed = events.find((e) => e.sse === 'status_update_event' && e.taskId === first.id && e.taskStatus === 'TASK_KILLED');
    assert.ok(killed, 'TASK_KILLED of the first task over SSE');
    const sick = events.find((e) => e.sse === 'health_status_changed_event' && e.instanceId === instanceOf(first.id) && e.alive === false);
    assert.ok(sick && sick.at <= killed.at, 'the task was reported unhealthy before it was killed');
    // The replacement fails the same way: it never becomes healthy and the deployment never finishes.
    assert.equal(replaced.tasksHealthy, 0);
    assert.equal(replaced.deployments.length, 1);
    await removeApp('/ahc/cmd');
  });

  test('a MESOS_HTTP check that starts failing after success: unhealthy, killed by the agent, replaced by a healthy task', async () => {
    // Healthy while ./ok exists (python serves it with 200), 404 once it is removed 6 s in.
    const hc = {
      protocol: 'MESOS_HTTP',
      path: '/ok',
      portIndex: 0,
      delaySeconds: 1,
      gracePeriodSeconds: 60,
      intervalSeconds: 1,
      timeoutSeconds: 2,
      maxConsecutiveFailures: 3,
    };
    // Only the first instance turns unhealthy (a marker outside the sandboxes says which is
    // first): a replacement that failed too could be replaced again before the test saw it healthy.
    const marker = join(home, 'flaky-once');
    const cmd = `touch ok; if [ ! -e ${marker} ]; then touch ${marker}; (sleep 6; rm ok) & fi; ${SERVER}`;
    await api('POST', '/v2/apps', { id: '/ahc/flaky', cmd, cpus: 0.1, mem: 48, instances: 1, healthChecks: [hc], backoffSeconds: 1 });
    const first = await waitFor(
      'the first task healthy',
      async () => {
        const a = await app('/ahc/flaky');
        return a.tasksHealthy === 1 ? a.tasks[0] : undefined;
      },
      60_000,
      100,
    );
    await waitFor(
      'the first task reported unhealthy after having been healthy',
      async () => {
        const a = await app('/ahc/flaky');
        const t = a.tasks.find((x: Json) => x.id === first.id);
        return a.tasksUnhealthy === 1 && t?.healthCheckResults?.[0]?.alive === false ? a : undefined;
      },
      60_000,
      100,
    );
    const replacement = await waitFor(
      'a healthy replacement',
      async () => {
        const a = await app('/ahc/flaky');
        const t = a.tasks.find((x: Json) => x.id !== first.id && x.healthCheckResults?.[0]?.alive === true);
        return a.lastTaskFailure?.taskId === first.id && !a.tasks.some((x: Json) => x.id === first.id) && t ? a : undefined;
      },
      90_000,
      100,
    );
    assert.equal(replacement.lastTaskFailure.state, 'TASK_KILLED');
    const flips = events
      .filter((e) => e.sse === 'health_status_changed_event' && e.instanceId === instanceOf(first.id))
      .map((e) => e.alive)
      .join(',');
    assert.equal(flips, 'true,false', 'healthy, then unhealthy once, then killed');
    await removeApp('/ahc/flaky');
  });

  test('a rolling restart with a MESOS_TCP check kills old tasks only as new ones become healthy', async () => {
    const hc = {
      protocol: 'MESOS_TCP',
      portIndex: 0,
      delaySeconds: 1,
      gracePeriodSeconds: 60,
      intervalSeconds: 1,
      timeoutSeconds: 2,
      maxConsecutiveFailures: 3,
    };
    // The server listens 4 s after the task starts: a new task runs well before it is healthy.
    const cmd = `sleep 4; ${SERVER}`;
    const upgradeStrategy = { minimumHealthCapacity: 1, maximumOverCapacity: 0.5 };
    await api('POST', '/v2/apps', { id: '/ahc/tcp', cmd, cpus: 0.1, mem: 48, instances: 2, healthChecks: [hc], upgradeStrategy });
    const healthy = (pred: (a: Json) => boolean) =>
      waitFor(
        '/ahc/tcp healthy and settled',
        async () => {
          const a = await app('/ahc/tcp');
          return a.tasksHealthy === 2 && a.tasks.length === 2 && a.deployments.length === 0 && pred(a) ? a : undefined;
        },
        120_000,
        300,
      );
    const v1 = await healthy(() => true);
    const oldIds: string[] = v1.tasks.map((t: Json) => t.id);
    const mark = events.length;
    const { deploymentId } = await api('POST', '/v2/apps/ahc/tcp/restart');
    const v2 = await healthy((a) => a.tasks.every((t: Json) => !oldIds.includes(t.id)));
    for (const t of v2.tasks) await serves(t.ports[0]);
    await waitFor('deployment_success over SSE', () => events.some((e) => e.sse === 'deployment_success' && e.id === deploymentId) || undefined, 30_000);

    // Replay the events of the restart: at no point may healthy tasks drop below 2
    // (minimumHealthCapacity 1), counting an old task as gone from its first kill-related update.
    const log = events.slice(mark);
    const newIds = new Set(v2.tasks.map((t: Json) => instanceOf(t.id)));
    const healthyNew = new Set<string>();
    const goneOld = new Set<string>();
    const order: string[] = [];
    for (const e of log) {
      if (e.sse === 'health_status_changed_event' && newIds.has(e.instanceId) && e.alive === true && !healthyNew.has(e.instanceId)) {
        healthyNew.add(e.instanceId);
        order.push(`healthy ${e.instanceId}`);
      }
      if (e.sse === 'status_update_event' && oldIds.includes(e.taskId) && ['TASK_KILLING', 'TASK_KILLED'].includes(e.taskStatus) && !goneOld.has(e.taskId)) {
        goneOld.add(e.taskId);
        order.push(`kill ${e.taskId}`);
        assert.ok(healthyNew.size >= goneOld.size, `old task ${e.taskId} killed with only ${healthyNew.size} new task(s) healthy: ${order.join(', ')}`);
      }
    }
    assert.equal(goneOld.size, 2, `both old tasks killed: ${order.join(', ')}`);
    assert.equal(healthyNew.size, 2, `both new tasks became healthy: ${order.join(', ')}`);
    // The gate held for a while: the first kill came at least the 4 s of the server's start after the restart.
    const firstNewRunning = log.find((e) => e.sse === 'status_update_event' && newIds.has(instanceOf(e.taskId)) && e.taskStatus === 'TASK_RUNNING');
    const firstKill = log.find((e) => e.sse === 'status_update_event' && oldIds.includes(e.taskId) && ['TASK_KILLING', 'TASK_KILLED'].includes(e.taskStatus));
    assert.ok(
      firstNewRunning && firstKill && firstKill.at - firstNewRunning.at >= 3000,
      `a new task ran ${firstKill?.at - firstNewRunning?.at} ms before the first kill`,
    );
    await removeApp('/ahc/tcp');
  });
});
