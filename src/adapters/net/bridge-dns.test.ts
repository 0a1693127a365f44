import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerNetworks } from '../../ports/network.js';
import { BridgeDns, subnetGateway } from './bridge-dns.js';

describe('bridge DNS relay', () => {
  it('the gateway is the subnet first address, as host-local gives it', () => {
    assert.equal(subnetGateway('172.31.254.0/24'), '172.31.254.1');
    assert.equal(subnetGateway('172.31.254.77/24'), '172.31.254.1');
    assert.equal(subnetGateway('10.0.0.0/8'), '10.0.0.1');
    for (const bad of ['172.31.254.0', '172.31.254.0/31', '300.1.1.0/24', 'none']) assert.equal(subnetGateway(bad), undefined, bad);
  });

  it('binds after an attach (before the task starts), once, and is quiet while the address does not exist', async () => {
    const calls: string[] = [];
    const inner: ContainerNetworks = {
      names: () => ['mesos-bridge'],
      attach: async (id) => {
        calls.push(`attach ${id}`);
        return { netnsPath: `/run/netns/dcos-${id}`, networks: [] };
      },
      detach: async (id) => {
        calls.push(`detach ${id}`);
      },
      inspect: async () => undefined,
      list: async () => [],
    };
    const logs: string[] = [];
    // 192.0.2.1 (TEST-NET) is not an address of this machine: nothing is bound, nothing logged.
    const absent = new BridgeDns({ gateway: '192.0.2.1', upstream: { host: '127.0.0.1', port: 9 }, port: 0, log: (_l, m) => logs.push(m) });
    await absent.wrap(inner).attach('c0', []);
    assert.equal(absent.listening, false);
    assert.equal(logs.length, 0, logs.join('; '));

    const dns = new BridgeDns({ gateway: '127.0.0.1', upstream: { host: '127.0.0.1', port: 9 }, port: 0, log: (_l, m) => logs.push(m) });
    const nets = dns.wrap(inner);
    assert.equal(dns.listening, false);
    const setup = await nets.attach('c1', []);
    assert.equal(setup.netnsPath, '/run/netns/dcos-c1');
    assert.equal(dns.listening, true, 'bound by the time attach resolves');
    await nets.attach('c2', []);
    await nets.detach('c1');
    assert.deepEqual(calls, ['attach c0', 'attach c1', 'attach c2', 'detach c1']);
    assert.equal(logs.filter((m) => m.startsWith('DNS for containers on 127.0.0.1')).length, 1);
    await dns.stop();
    assert.equal(dns.listening, false);
  });
});
