import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type IncomingMessage, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RecordIODecoder } from '../base/recordio.js';
import { type RunningAgent, parseAttributes, startAgent } from './agent.js';
import { type RunningMaster, startMaster } from './master.js';

/**
 * The agent's composition root against a real master, both in this process over loopback HTTP:
 * registration, a task launched by a scheduler over the v1 API, its sandbox over the files API,
 * and an agent restart that keeps its id and its running task.
 */

const root = mkdtempSync(join(tmpdir(), 'dcos-agent-main-'));
let master: RunningMaster;
let agent: RunningAgent | undefined;
const streams: IncomingMessage[] = [];

before(async () => {
  master = await startMaster({
    store: 'memory',
    port: 0,
    config: { allocationIntervalMs: 50 },
    ...(process.env.DEBUG_AGENT ? { log: (l: string, m: string) => console.error('master', l, m) } : {}),
  });
});
after(async () => {
  for (const s of streams) s.destroy();
  await agent?.stop();
  await master.stop();
  rmSync(root, { recursive: true, force: true });
});

async function until<T>(what: string, f: () => T | undefined | false, timeoutMs = 8000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A minimal v1 scheduler: subscribes, collects events, sends calls. */
async function scheduler(port: number) {
  const events: any[] = [];
  const streamId = await new Promise<string>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: '/api/v1/scheduler', headers: { 'Content-Type': 'application/json', Accept: 'application/json' } },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`subscribe: ${res.statusCode}`));
        streams.push(res);
        const dec = new RecordIODecoder();
        res.on('data', (c: Buffer) => {
          for (const r of dec.push(c)) {
            const e = JSON.parse(r);
            events.push(e);
            // Acknowledge every reliable update, as a scheduler must (the master sends the next after it).
            const st = e.type === 'UPDATE' ? e.update.status : undefined;
            // A broken ack shows up as a missing next update; the last ack may race the master's shutdown.
            if (st?.uuid) call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: st.agent_id, task_id: st.task_id, uuid: st.uuid } }).catch(() => {});
          }
        });
        resolve(String(res.headers['mesos-stream-id']));
      },
    );
    req.on('error', reject);
    req.end(
      JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'root', name: 'test-fw', capabilities: [{ type: 'TASK_KILLING_STATE' }] } } }),
    );
  });
  const frameworkId = (await until('SUBSCRIBED', () => events.find((e) => e.type === 'SUBSCRIBED'))).subscribed.framework_id.value as string;
  async function call(body: Record<string, unknown>): Promise<void> {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/scheduler`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Mesos-Stream-Id': streamId },
      body: JSON.stringify({ framework_id: { value: frameworkId }, ...body }),
    });
    assert.equal(res.status, 202, await res.text());
  }
  return { events, frameworkId, call };
}

describe('agent against a real master', () => {
  test('registers, runs a task from a scheduler, serves its sandbox, and survives a restart', async () => {
    const workDir = join(root, 'agent');
    agent = await startAgent({
      master: `127.0.0.1:${master.port}`,
      workDir,
      port: 0,
      resources: 'cpus:2;mem:1024;disk:2048;ports:[31000-31010]',
      attributes: 'rack:r1',
      seed: 1,
      ...(process.env.DEBUG_AGENT ? { log: (l: string, m: string) => console.error('agent', l, m) } : {}),
    });
    const agentId = await agent.registered;
    assert.equal(master.master.agents.get(agentId)?.state, 'REGISTERED');
    assert.equal(master.master.agents.get(agentId)?.info.port, agent.port);

    const s = await scheduler(master.port);
    const offer = (await until('an offer', () => s.events.find((e) => e.type === 'OFFERS'))).offers.offers[0];
    assert.equal(offer.agent_id.value, agentId);
    await s.call({
      type: 'ACCEPT',
      accept: {
        offer_ids: [offer.id],
        operations: [
          {
            type: 'LAUNCH',
            launch: {
              task_infos: [
                {
                  name: 'hello',
                  task_id: { value: 'hello-1' },
                  agent_id: { value: agentId },
                  resources: [
                    { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
                    { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
                    { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31003, end: 31003 }] } },
                  ],
                  command: { value: 'echo "port=$PORT0 task=$MESOS_TASK_ID"; exec sleep 30' },
                },
              ],
            },
          },
        ],
      },
    });
    const running = await until('TASK_RUNNING', () => s.events.find((e) => e.type === 'UPDATE' && e.update.status.state === 'TASK_RUNNING'));
    assert.equal(running.update.status.agent_id.value, agentId);
    assert.equal(running.update.status.source, 'SOURCE_EXECUTOR');

    const state = (await (await fetch(`http://127.0.0.1:${agent.port}/slave(1)/state`)).json()) as any;
    assert.equal(state.id, agentId);
    assert.deepEqual(state.attributes, { rack: 'r1' });
    const dir = state.frameworks[0].executors[0].directory as string;
    assert.ok(dir.startsWith(join(workDir, 'slaves', agentId)));
    await until('stdout', () => readFileSync(join(dir, 'stdout'), 'utf8').includes('task='));
    const read = await (await fetch(`http://127.0.0.1:${agent.port}/files/read?path=${encodeURIComponent(`${dir}/stdout`)}&offset=0`)).json();
    assert.deepEqual(read, { offset: 0, data: 'port=31003 task=hello-1\n' });

    // Restart: same work dir, same id, the task is still there and still running.
    await agent.stop();
    agent = await startAgent({ master: `127.0.0.1:${master.port}`, workDir, port: 0, resources: 'cpus:2;mem:1024;disk:2048;ports:[31000-31010]', seed: 2 });
    assert.equal(await agent.registered, agentId);
    const view = agent.agent.view();
    assert.equal(view.frameworks[0]?.tasks[0]?.task.state, 'TASK_RUNNING');

    // A kill from the scheduler reaches the reattached task.
    await s.call({ type: 'KILL', kill: { task_id: { value: 'hello-1' }, agent_id: { value: agentId } } });
    await until('TASK_KILLED', () => s.events.find((e) => e.type === 'UPDATE' && e.update.status.state === 'TASK_KILLED'));
    const states = s.events.filter((e) => e.type === 'UPDATE').map((e) => e.update.status.state);
    assert.deepEqual(states, ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_KILLED']);
  });
});

test('--attributes parsing', () => {
  assert.deepEqual(parseAttributes('rack:r1;cores:8;ids:[1-4];tags:{a,b}'), [
    { name: 'rack', type: 'TEXT', text: { value: 'r1' } },
    { name: 'cores', type: 'SCALAR', scalar: { value: 8 } },
    { name: 'ids', type: 'RANGES', ranges: { range: [{ begin: 1, end: 4 }] } },
    { name: 'tags', type: 'SET', set: { item: ['a', 'b'] } },
  ]);
  assert.equal(typeof parseAttributes('nocolon'), 'string');
});
