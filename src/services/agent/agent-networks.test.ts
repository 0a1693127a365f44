import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryCheckpointer } from '../../adapters/runtime/checkpoint-memory.js';
import { Random } from '../../base/random.js';
import type { TaskInfo } from '../../model/mesos.js';
import type { ContainerNetworks, NetworkRequest, NetworkSetup } from '../../ports/network.js';
import { Agent, networkRequests } from './agent.js';
import { FakeMasterLink, FakeRuntime, ManualClock, settle } from './fakes.js';

/** Networks in memory: an address per attach, a log of every call in order. */
class FakeNetworks implements ContainerNetworks {
  readonly log: string[] = [];
  readonly attached = new Map<string, NetworkSetup>();
  failAttach: string | undefined;
  private next = 2;
  names(): string[] {
    return ['mesos-bridge', 'other'];
  }
  async attach(containerId: string, requests: readonly NetworkRequest[]): Promise<NetworkSetup> {
    this.log.push(
      `attach ${containerId} ${requests.map((r) => `${r.name}[${r.portMappings.map((p) => `${p.hostPort}>${p.containerPort}/${p.protocol}`).join(',')}]`).join(' ')}`,
    );
    if (this.failAttach) throw new Error(this.failAttach);
    const setup: NetworkSetup = {
      netnsPath: `/run/netns/dcos-${containerId}`,
      networks: requests.map((r, i) => ({ name: r.name, ifName: `eth${i}`, ips: [`172.31.254.${this.next++}`], portMappings: r.portMappings })),
    };
    this.attached.set(containerId, setup);
    return setup;
  }
  async detach(containerId: string): Promise<void> {
    this.log.push(`detach ${containerId}`);
    this.attached.delete(containerId);
  }
  async inspect(containerId: string): Promise<NetworkSetup | undefined> {
    return this.attached.get(containerId);
  }
  async list(): Promise<string[]> {
    return [...this.attached.keys()];
  }
}

const FW = { user: 'root', name: 'marathon', id: { value: 'fw-1' } };

function bridged(id: string, extra: Partial<TaskInfo> = {}): TaskInfo {
  return {
    name: id,
    task_id: { value: id },
    agent_id: { value: 'agent-1' },
    command: { value: 'sleep 100' },
    container: { type: 'MESOS', network_infos: [{ name: 'mesos-bridge', port_mappings: [{ host_port: 31000, container_port: 80 }] }] },
    ...extra,
  };
}

async function world(o: { networks?: FakeNetworks | null; runtime?: FakeRuntime; ckpt?: MemoryCheckpointer; link?: FakeMasterLink } = {}) {
  const link = o.link ?? new FakeMasterLink();
  const runtime = o.runtime ?? new FakeRuntime();
  const networks = o.networks === null ? undefined : (o.networks ?? new FakeNetworks());
  const ckpt = o.ckpt ?? new MemoryCheckpointer();
  const agent = new Agent({
    clock: new ManualClock(),
    random: new Random(3),
    link,
    runtime,
    checkpointer: ckpt,
    ...(networks ? { networks } : {}),
    config: { workDir: '/w', hostname: 'node-1', ip: '10.0.0.9', port: 5051, resources: [], version: 'test' },
  });
  await agent.start();
  await settle();
  return { link, runtime, networks, ckpt, agent };
}

const statusesOf = (link: FakeMasterLink, id: string) =>
  link
    .callsOf('STATUS_UPDATE')
    .map((c) => c.status)
    .filter((s) => s.task_id.value === id);

describe('agent container networks', () => {
  test('a task naming a network is attached before launch, runs in the namespace, and reports its own address', async () => {
    const w = await world();
    w.link.push({ type: 'RUN_TASK', framework_id: { value: 'fw-1' }, framework_info: FW, task: bridged('t1') });
    await settle();
    const spec = w.runtime.launched[0];
    assert.ok(spec);
    assert.deepEqual(w.networks?.log, [`attach ${spec.containerId} mesos-bridge[31000>80/tcp]`]);
    assert.equal(spec.netnsPath, `/run/netns/dcos-${spec.containerId}`);
    const running = statusesOf(w.link, 't1').find((s) => s.state === 'TASK_RUNNING');
    assert.deepEqual(running?.container_status?.network_infos, [{ name: 'mesos-bridge', ip_addresses: [{ protocol: 'IPv4', ip_address: '172.31.254.2' }] }]);
    await w.agent.stop();
  });

  test('a host-network task is not attached and reports the agent IP', async () => {
    const w = await world();
    w.link.push({
      type: 'RUN_TASK',
      framework_id: { value: 'fw-1' },
      framework_info: FW,
      task: bridged('h', { container: { type: 'MESOS', network_infos: [{}] } }),
    });
    await settle();
    assert.deepEqual(w.networks?.log, []);
    assert.equal(w.runtime.launched[0]?.netnsPath, undefined);
    assert.equal(statusesOf(w.link, 'h').at(-1)?.container_status?.network_infos?.[0]?.ip_addresses?.[0]?.ip_address, '10.0.0.9');
    await w.agent.stop();
  });

  test('the networks are detached before the terminal update is sent', async () => {
    const w = await world();
    w.link.push({ type: 'RUN_TASK', framework_id: { value: 'fw-1' }, framework_info: FW, task: bridged('t2') });
    await settle();
    const c = w.runtime.launched[0]!.containerId;
    let detachedWhenReported: boolean | undefined;
    const respond = w.link.respond;
    w.link.respond = (call) => {
      if (call.type === 'STATUS_UPDATE' && call.status.state === 'TASK_FINISHED') detachedWhenReported = !w.networks?.attached.has(c);
      return respond(call);
    };
    w.runtime.exit(c, { exitCode: 0 });
    await settle(10);
    assert.equal(statusesOf(w.link, 't2').at(-1)?.state, 'TASK_FINISHED');
    assert.equal(detachedWhenReported, true);
    assert.deepEqual(w.networks?.log.slice(1), [`detach ${c}`]);
    await w.agent.stop();
  });

  test('a failed attach or launch is TASK_FAILED with the reason; a failed launch detaches first', async () => {
    const nets = new FakeNetworks();
    nets.failAttach = "unknown network 'x'";
    const w = await world({ networks: nets });
    w.link.push({ type: 'RUN_TASK', framework_id: { value: 'fw-1' }, framework_info: FW, task: bridged('a') });
    await settle();
    const a = statusesOf(w.link, 'a').at(-1);
    assert.equal(a?.state, 'TASK_FAILED');
    assert.equal(a?.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.equal(a?.message, "Failed to attach the container to its networks: unknown network 'x'");
    assert.equal(w.runtime.launched.length, 0);
    nets.failAttach = undefined;
    w.runtime.failLaunch = 'no such image';
    w.link.push({ type: 'RUN_TASK', framework_id: { value: 'fw-1' }, framework_info: FW, task: bridged('b') });
    await settle();
    assert.equal(statusesOf(w.link, 'b').at(-1)?.state, 'TASK_FAILED');
    assert.match(nets.log.at(-1) ?? '', /^detach /);
    assert.equal(nets.attached.size, 0);
    await w.agent.stop();
  });

  test('without networks, or with bad port mappings, a task naming a network does not run', async () => {
    const w = await world({ networks: null });
    w.link.push({ type: 'RUN_TASK', framework_id: { value: 'fw-1' }, framework_info: FW, task: bridged('n') });
    await settle();
    assert.match(statusesOf(w.link, 'n').at(-1)?.message ?? '', /this agent has no container networks/);
    await w.agent.stop();
    const bad = bridged('p', {
      container: { type: 'MESOS', network_infos: [{ name: 'mesos-bridge', port_mappings: [{ host_port: 0, container_port: 80 }] }] },
    });
    assert.match(String(networkRequests(bad)), /Port mapping ports must be 1-65535/);
    const udp = bridged('u', {
      container: { type: 'MESOS', network_infos: [{ name: 'other', port_mappings: [{ host_port: 5, container_port: 6, protocol: 'UDP' }] }] },
    });
    assert.deepEqual(networkRequests(udp), [{ name: 'other', portMappings: [{ hostPort: 5, containerPort: 6, protocol: 'udp' }] }]);
    const docker = bridged('d', { container: { type: 'DOCKER', docker: { image: 'x' }, network_infos: [{ name: 'mesos-bridge' }] } });
    assert.deepEqual(networkRequests(docker), [], 'Docker tasks are networked by the daemon');
  });

  test('a restarted agent keeps the networks of running tasks and detaches the rest', async () => {
    const ckpt = new MemoryCheckpointer();
    const link = new FakeMasterLink();
    const nets = new FakeNetworks();
    const a = await world({ ckpt, link, networks: nets });
    link.push({ type: 'RUN_TASK', framework_id: { value: 'fw-1' }, framework_info: FW, task: bridged('live') });
    link.push({ type: 'RUN_TASK', framework_id: { value: 'fw-1' }, framework_info: FW, task: bridged('dead') });
    await settle();
    const [live, dead] = a.runtime.launched.map((s) => s.containerId) as [string, string];
    await a.agent.stop();
    // Left by a crash between attach and launch: no task knows it.
    await nets.attach('orphan', [{ name: 'other', portMappings: [] }]);
    nets.log.length = 0;
    const runtime = new FakeRuntime();
    runtime.recovered.set(live, { containerId: live, state: 'running', pid: 77 });
    runtime.recovered.set(dead, { containerId: dead, state: 'exited', exit: { exitCode: 1 } });
    const b = await world({ ckpt, link, networks: nets, runtime });
    assert.deepEqual(nets.log.sort(), [`detach ${dead}`, 'detach orphan'].sort());
    assert.deepEqual([...nets.attached.keys()], [live]);
    runtime.exit(live, { exitCode: 0 });
    await settle(10);
    const last = statusesOf(link, 'live').at(-1);
    assert.equal(last?.state, 'TASK_FINISHED');
    // Its address was read back after the restart.
    assert.equal(last?.container_status?.network_infos?.[0]?.ip_addresses?.[0]?.ip_address, '172.31.254.2');
    assert.equal(nets.attached.size, 0);
    await b.agent.stop();
  });
});
