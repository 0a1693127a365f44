import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Resource } from '../../model/mesos.js';
import { type App, validateApp } from './app.js';
import { discoveryPortsOfMappings, networkMode, portMappingEnv, portMappingsOf, requestedHostPorts, taskNetworkInfos } from './networks.js';
import { assignHostPorts, matchOffer } from './placement.js';

const NOW = '2026-01-01T00:00:00.000Z';
const app = (over: Record<string, unknown> = {}): App => {
  const v = validateApp({ id: '/web', cmd: 'sleep 1000', ...over }, NOW);
  if (!v.ok) throw new Error(JSON.stringify(v.details));
  return v.app;
};
const invalid = (over: Record<string, unknown>): string[] => {
  const v = validateApp({ id: '/web', cmd: 'sleep 1000', ...over }, NOW);
  return v.ok ? [] : v.details.map((d) => `${d.path}: ${d.errors.join(', ')}`);
};
const offer = (ranges: [number, number][] = [[31000, 31010]]): Resource[] => [
  { name: 'cpus', type: 'SCALAR', scalar: { value: 4 } },
  { name: 'mem', type: 'SCALAR', scalar: { value: 4096 } },
  { name: 'ports', type: 'RANGES', ranges: { range: ranges.map(([begin, end]) => ({ begin, end })) } },
];
const agent = { hostname: 'a1', attributes: {} };
const BRIDGE = [{ mode: 'container/bridge' }];

describe('bridge and container networks in placement', () => {
  test('portMappings with hostPort 0 (or none, in container/bridge mode) get offered ports; fixed ones must be offered', () => {
    const a = app({
      networks: BRIDGE,
      container: { type: 'MESOS', portMappings: [{ containerPort: 80, hostPort: 0 }, { containerPort: 443, hostPort: 31005 }, { containerPort: 9000 }] },
    });
    assert.equal(networkMode(a), 'container/bridge');
    assert.deepEqual(requestedHostPorts(a), [0, 31005, 0]);
    const m = matchOffer(a, offer(), agent, []);
    assert.ok(m.ok);
    if (!m.ok) return;
    // Dynamic ports skip the fixed one; host ports are reserved from the offer as `ports`.
    assert.deepEqual(m.mappingHostPorts, [31000, 31005, 31001]);
    assert.deepEqual(m.hostPorts, [31000, 31005, 31001]);
    const ports = m.resources.find((r) => r.name === 'ports');
    assert.deepEqual(ports?.ranges?.range, [
      { begin: 31000, end: 31000 },
      { begin: 31005, end: 31005 },
      { begin: 31001, end: 31001 },
    ]);
    const notOffered = matchOffer(app({ networks: BRIDGE, container: { portMappings: [{ containerPort: 80, hostPort: 8080 }] } }), offer(), agent, []);
    assert.equal(notOffered.ok, false);
    if (!notOffered.ok) assert.deepEqual([notOffered.reason, notOffered.detail], ['InsufficientPorts', 'host ports 8080 not offered']);
  });

  test('too few offered ports for the dynamic mappings is InsufficientPorts', () => {
    const a = app({ networks: BRIDGE, container: { portMappings: [{ containerPort: 1 }, { containerPort: 2 }, { containerPort: 3, hostPort: 31000 }] } });
    const m = matchOffer(a, offer([[31000, 31001]]), agent, []);
    assert.equal(m.ok, false);
    if (!m.ok) assert.deepEqual([m.reason, m.detail], ['InsufficientPorts', 'needs 2 host ports besides 1 fixed ones']);
    assert.deepEqual(assignHostPorts([null, 0, 5], [{ begin: 1, end: 10 }]), [null, 1, 5]);
  });

  test('in container mode a mapping without hostPort takes no host port; a bridge app without mappings takes none', () => {
    const a = app({
      networks: [{ mode: 'container', name: 'dcos' }],
      container: { portMappings: [{ containerPort: 80 }, { containerPort: 81, hostPort: 0 }] },
    });
    const m = matchOffer(a, offer(), agent, []);
    assert.ok(m.ok);
    if (!m.ok) return;
    assert.deepEqual(m.mappingHostPorts, [null, 31000]);
    assert.deepEqual(m.hostPorts, [31000]);
    const none = matchOffer(app({ networks: BRIDGE }), offer(), agent, []);
    assert.ok(none.ok && none.hostPorts.length === 0 && !none.resources.some((r) => r.name === 'ports'));
    // Host networking is unchanged: portDefinitions, one default port.
    const hostApp = matchOffer(app({}), offer(), agent, []);
    assert.ok(hostApp.ok && hostApp.hostPorts.length === 1 && hostApp.mappingHostPorts === undefined);
  });
});

describe('bridge and container networks in tasks', () => {
  test("PORT variables follow Marathon's EnvironmentHelper: host port where there is one, else the container port", () => {
    const a = app({
      networks: [{ mode: 'container', name: 'dcos' }],
      container: {
        portMappings: [
          { containerPort: 8080, hostPort: 0, name: 'http-api' },
          { containerPort: 9090, name: 'metrics' },
          { containerPort: 0, hostPort: 0 },
        ],
      },
    });
    assert.deepEqual(portMappingEnv(portMappingsOf(a), [31000, null, 31001]), {
      PORT0: '31000',
      PORT_8080: '31000',
      PORT_HTTP_API: '31000',
      PORT1: '9090',
      PORT_9090: '9090',
      PORT_METRICS: '9090',
      PORT2: '31001',
      PORT_31001: '31001',
      PORT: '31000',
      PORTS: '31000,31001',
    });
  });

  test('network_infos name mesos-bridge for container/bridge (or the named network), with a mapping per protocol; containerPort 0 means the host port', () => {
    const a = app({ networks: BRIDGE, container: { portMappings: [{ containerPort: 80, hostPort: 0, protocol: 'udp,tcp' }, { containerPort: 0 }] } });
    assert.deepEqual(taskNetworkInfos(a, [31000, 31001]), [
      {
        name: 'mesos-bridge',
        port_mappings: [
          { host_port: 31000, container_port: 80, protocol: 'udp' },
          { host_port: 31000, container_port: 80, protocol: 'tcp' },
          { host_port: 31001, container_port: 31001, protocol: 'tcp' },
        ],
      },
    ]);
    const c = app({ networks: [{ mode: 'container', name: 'dcos', labels: { k: 'v' } }], container: { portMappings: [{ containerPort: 80 }] } });
    assert.deepEqual(taskNetworkInfos(c, [null]), [{ name: 'dcos', labels: { labels: [{ key: 'k', value: 'v' }] } }]);
    assert.equal(taskNetworkInfos(app({}), []), undefined);
  });

  test('DiscoveryInfo has one port per mapping with its labels (VIPs), scoped host or container', () => {
    const a = app({
      networks: [{ mode: 'container', name: 'dcos' }],
      container: { portMappings: [{ containerPort: 80, hostPort: 0, name: 'web', labels: { VIP_0: '/web:80' } }, { containerPort: 81 }] },
    });
    assert.deepEqual(discoveryPortsOfMappings(a, [31000, null]), [
      {
        number: 31000,
        protocol: 'tcp',
        name: 'web',
        labels: {
          labels: [
            { key: 'VIP_0', value: '/web:80' },
            { key: 'network-scope', value: 'host' },
          ],
        },
      },
      {
        number: 81,
        protocol: 'tcp',
        labels: {
          labels: [
            { key: 'network-scope', value: 'container' },
            { key: 'network-name', value: 'dcos' },
          ],
        },
      },
    ]);
  });

  test('bad networks and port mappings are refused with a path per field', () => {
    assert.deepEqual(invalid({ networks: [{ mode: 'container' }] }), ['/networks(0)/name: a container network needs the name of a network the agents offer']);
    assert.deepEqual(invalid({ networks: [{ mode: 'container/bridge' }, { mode: 'host' }] }), [
      '/networks: host networking cannot be combined with container networks, container/bridge networking cannot be combined with other networks',
    ]);
    assert.deepEqual(
      invalid({ networks: BRIDGE, container: { portMappings: [{ containerPort: 70000 }, { hostPort: 5, protocol: 'sctp' }, { hostPort: 5 }] } }),
      [
        '/container/portMappings(0)/containerPort: got out of range, expected 0..65535',
        '/container/portMappings(1)/protocol: error.expected.validenumvalue',
        '/container/portMappings: hostPort values must be unique',
      ],
    );
    assert.deepEqual(invalid({ networks: BRIDGE, container: { portMappings: [{ name: 'a' }, { name: 'a' }, { name: 'B' }] } }), [
      '/container/portMappings: Port names must be unique.',
      "/container/portMappings(2)/name: must fully match regular expression '^[a-z0-9-]+$'",
    ]);
    assert.deepEqual(invalid({ networks: BRIDGE, container: { portMappings: 'x' } }), ['/container/portMappings: error.expected.jsarray']);
  });
});
