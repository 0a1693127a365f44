import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryStore } from '../../adapters/store/memory.js';
import { Random } from '../../base/random.js';
import type { EventSink } from '../../ports/sink.js';
import { ManualClock, settle } from '../agent/fakes.js';
import type { HealthProber } from './health.js';
import { Marathon } from './marathon.js';
import type { SchedulerTransport } from './transport.js';

type Json = Record<string, any>;

/** A master stand-in: one offer with ports [31000-31100], the calls recorded. */
class FakeMaster implements SchedulerTransport {
  readonly calls: Json[] = [];
  sink: EventSink | undefined;
  async subscribe(_call: Json, sink: EventSink): Promise<undefined> {
    this.sink = sink;
    sink.send({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: 'fw-1' }, master_info: { hostname: 'm', port: 5050 } } });
    return undefined;
  }
  async call(call: Json): Promise<{ status: number }> {
    this.calls.push(call);
    return { status: 202 };
  }
  offer(ranges: [number, number][] = [[31000, 31100]]): void {
    this.sink?.send({
      type: 'OFFERS',
      offers: {
        offers: [
          {
            id: { value: 'o1' },
            framework_id: { value: 'fw-1' },
            agent_id: { value: 'agent-h1' },
            hostname: 'h1',
            resources: [
              { name: 'cpus', type: 'SCALAR', scalar: { value: 4 } },
              { name: 'mem', type: 'SCALAR', scalar: { value: 4096 } },
              { name: 'ports', type: 'RANGES', ranges: { range: ranges.map(([begin, end]) => ({ begin, end })) } },
            ],
          },
        ],
      },
    });
  }
  launched(): Json[] {
    return this.calls.filter((c) => c.type === 'ACCEPT').flatMap((c) => c.accept.operations[0].launch.task_infos);
  }
}

async function setup(clock = new ManualClock(), prober?: HealthProber) {
  const master = new FakeMaster();
  const m = new Marathon({
    clock,
    random: new Random(7),
    store: new MemoryStore(),
    transport: master,
    defer: (fn) => setImmediate(fn),
    ...(prober ? { prober } : {}),
  });
  await m.start();
  await settle(10);
  return { m, master };
}

const envOf = (ti: Json): Record<string, string> => Object.fromEntries(ti.command.environment.variables.map((v: Json) => [v.name, v.value]));

describe('Marathon container/bridge apps (fake master)', () => {
  test('the TaskInfo names mesos-bridge with the offered host port mapped to the container port; PORT0 is the host port', async () => {
    const { m, master } = await setup();
    const r = await m.createApp(
      {
        id: '/br',
        cmd: 'serve',
        cpus: 0.1,
        mem: 32,
        networks: [{ mode: 'container/bridge' }],
        container: {
          type: 'MESOS',
          portMappings: [
            { containerPort: 8080, hostPort: 0, name: 'http', labels: { VIP_0: '/br:80' } },
            { containerPort: 53, hostPort: 31050, protocol: 'udp' },
          ],
        },
      },
      false,
    );
    assert.ok(r.ok, JSON.stringify(r));
    master.offer();
    await settle(10);
    const ti = master.launched()[0];
    assert.ok(ti, 'launched');
    assert.deepEqual(ti.container.network_infos, [
      {
        name: 'mesos-bridge',
        port_mappings: [
          { host_port: 31000, container_port: 8080, protocol: 'tcp' },
          { host_port: 31050, container_port: 53, protocol: 'udp' },
        ],
      },
    ]);
    assert.deepEqual(ti.resources.find((x: Json) => x.name === 'ports').ranges.range, [
      { begin: 31000, end: 31000 },
      { begin: 31050, end: 31050 },
    ]);
    const env = envOf(ti);
    assert.deepEqual(
      [env.PORT0, env.PORT1, env.PORT_HTTP, env.PORT_8080, env.PORT_53, env.PORT, env.PORTS, env.HOST],
      ['31000', '31050', '31000', '31000', '31050', '31000', '31000,31050', 'h1'],
    );
    assert.deepEqual(ti.discovery.ports.ports[0], {
      number: 31000,
      protocol: 'tcp',
      name: 'http',
      labels: {
        labels: [
          { key: 'VIP_0', value: '/br:80' },
          { key: 'network-scope', value: 'host' },
        ],
      },
    });
    // The agent reports the task's own address: the task's ipAddresses show it.
    master.sink?.send({
      type: 'UPDATE',
      update: {
        status: {
          task_id: ti.task_id,
          state: 'TASK_RUNNING',
          agent_id: { value: 'agent-h1' },
          uuid: 'dXVpZA==',
          container_status: { network_infos: [{ name: 'mesos-bridge', ip_addresses: [{ protocol: 'IPv4', ip_address: '172.31.254.9' }] }] },
        },
      },
    });
    await settle(10);
    const task = m.taskJson(m.tasksOf('/br')[0]!);
    assert.deepEqual(task.ipAddresses, [{ ipAddress: '172.31.254.9', protocol: 'IPv4' }]);
    assert.deepEqual(task.ports, [31000, 31050]);
    // servicePort 0 (or none) gets a cluster-unique service port, as for portDefinitions.
    assert.deepEqual(task.servicePorts, [10000, 10001]);
    assert.deepEqual(r.ok && r.value.app.container?.portMappings.map((pm: Json) => pm.servicePort), [10000, 10001]);
  });

  test('a fixed host port that is not offered declines the offer; a container network without a name is a 422', async () => {
    const { m, master } = await setup();
    await m.createApp(
      {
        id: '/fixed',
        cmd: 'x',
        cpus: 0.1,
        mem: 32,
        networks: [{ mode: 'container/bridge' }],
        container: { portMappings: [{ containerPort: 80, hostPort: 8080 }] },
      },
      false,
    );
    master.offer();
    await settle(10);
    assert.equal(master.launched().length, 0);
    assert.equal(master.calls.filter((c) => c.type === 'DECLINE').length, 1);
    const bad = await m.createApp({ id: '/noname', cmd: 'x', networks: [{ mode: 'container' }] }, false);
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.equal(bad.error.status, 422);
  });

  test("a readiness check names a portMapping: it probes that mapping's host port (container mode, a mapping without one before it)", async () => {
    const probes: string[] = [];
    const prober: HealthProber = {
      http: async () => ({ ok: true }),
      tcp: async () => ({ ok: true }),
      get: async (host, port, path) => {
        probes.push(`${host}:${port}${path}`);
        return { status: 200, contentType: 'text/plain', body: 'ok' };
      },
    };
    const clock = new ManualClock();
    const { m, master } = await setup(clock, prober);
    const r = await m.createApp(
      {
        id: '/rd',
        cmd: 'serve',
        cpus: 0.1,
        mem: 16,
        networks: [{ mode: 'container', name: 'dcos' }],
        container: {
          portMappings: [
            { containerPort: 9000, name: 'internal' },
            { containerPort: 8080, hostPort: 0, name: 'http-api' },
          ],
        },
        readinessChecks: [{ path: '/ready', intervalSeconds: 2, timeoutSeconds: 1 }],
      },
      false,
    );
    assert.ok(r.ok, JSON.stringify(r));
    master.offer();
    await settle(10);
    const t = master.launched()[0];
    assert.deepEqual(t.container.network_infos, [{ name: 'dcos', port_mappings: [{ host_port: 31000, container_port: 8080, protocol: 'tcp' }] }]);
    master.sink?.send({ type: 'UPDATE', update: { status: { task_id: t.task_id, state: 'TASK_RUNNING', agent_id: { value: 'agent-h1' }, uuid: 'dXVpZA==' } } });
    await settle(10);
    await clock.advance(1000);
    await settle(10);
    assert.deepEqual(probes, ['h1:31000/ready']);
  });
});
