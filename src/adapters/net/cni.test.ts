import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CniNetworks, defaultBridgeConfig, loadCniNetworks, type NetnsOps, parseNetworkConfig, resultIps } from './cni.js';

const root = mkdtempSync(join(tmpdir(), 'dcos-cni-'));
after(() => rmSync(root, { recursive: true, force: true }));

const LOG = join(root, 'calls.log');

/**
 * A fake CNI plugin: logs its invocation (plugin, CNI_* variables, then its stdin on the next
 * line) and prints a result for ADD. `fail` answers with a CNI error instead.
 */
function plugin(dir: string, name: string, addOutput: string, fail = false): void {
  const body = [
    '#!/bin/sh',
    'in=$(cat)',
    `printf '%s %s %s %s %s %s\\n%s\\n' ${name} "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_PATH" "$in" >>${LOG}`,
    fail
      ? `echo '{"cniVersion":"0.4.0","code":11,"msg":"no addresses left","details":"range full"}'; exit 1`
      : `[ "$CNI_COMMAND" = ADD ] && echo '${addOutput}'`,
    'exit 0',
  ].join('\n');
  writeFileSync(join(dir, name), `${body}\n`);
  chmodSync(join(dir, name), 0o755);
}

interface Call {
  plugin: string;
  command: string;
  containerId: string;
  netns: string;
  ifName: string;
  cniPath: string;
  stdin: Record<string, any>;
}

function calls(): Call[] {
  if (!existsSync(LOG)) return [];
  const lines = readFileSync(LOG, 'utf8').split('\n');
  const out: Call[] = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [plugin, command, containerId, netns, ifName, cniPath] = (lines[i] as string).split(' ') as string[];
    out.push({
      plugin: plugin!,
      command: command!,
      containerId: containerId!,
      netns: netns!,
      ifName: ifName!,
      cniPath: cniPath!,
      stdin: JSON.parse(lines[i + 1] as string),
    });
  }
  return out;
}

/** Namespaces as plain files: the adapter's bookkeeping is tested without root. */
function fileNetns(dir: string): NetnsOps & { made: string[]; removed: string[] } {
  mkdirSync(dir, { recursive: true });
  const made: string[] = [];
  const removed: string[] = [];
  return {
    made,
    removed,
    async create(name) {
      made.push(name);
      writeFileSync(join(dir, name), '');
      return join(dir, name);
    },
    async remove(name) {
      removed.push(name);
      rmSync(join(dir, name), { force: true });
    },
  };
}

const BR_RESULT =
  '{"cniVersion":"0.4.0","interfaces":[{"name":"eth0","sandbox":"x"}],"ips":[{"version":"4","address":"10.99.0.7/24","gateway":"10.99.0.1","interface":0}]}';
const PM_RESULT =
  '{"cniVersion":"0.4.0","interfaces":[{"name":"eth0","sandbox":"x"}],"ips":[{"version":"4","address":"10.99.0.7/24","gateway":"10.99.0.1","interface":0}],"portmap":true}';

function setup(name: string) {
  const dir = join(root, name);
  const plugins = join(dir, 'plugins');
  const conf = join(dir, 'conf');
  mkdirSync(plugins, { recursive: true });
  mkdirSync(conf, { recursive: true });
  plugin(plugins, 'fakebr', BR_RESULT);
  plugin(plugins, 'fakepm', PM_RESULT);
  plugin(plugins, 'fakefail', '', true);
  writeFileSync(
    join(conf, '10-web.conflist'),
    JSON.stringify({
      cniVersion: '0.4.0',
      name: 'web',
      plugins: [
        { type: 'fakebr', bridge: 'x0' },
        { type: 'fakepm', capabilities: { portMappings: true } },
      ],
    }),
  );
  writeFileSync(join(conf, '20-plain.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'plain', type: 'fakebr' }));
  writeFileSync(
    join(conf, '30-broken.conflist'),
    JSON.stringify({ cniVersion: '0.4.0', name: 'broken', plugins: [{ type: 'fakebr' }, { type: 'fakefail', capabilities: { portMappings: true } }] }),
  );
  const netns = fileNetns(join(dir, 'netns'));
  rmSync(LOG, { force: true });
  return { dir, plugins, conf, netns, stateDir: join(dir, 'state') };
}

describe('CNI networks', () => {
  test('attach makes a namespace and runs each plugin of the list with ADD, chaining prevResult and giving portMappings to portmap only', async () => {
    const s = setup('attach');
    const nets = await CniNetworks.create({ pluginsDir: s.plugins, configDir: s.conf, stateDir: s.stateDir, defaultBridge: false, netns: s.netns });
    assert.deepEqual(nets.names().sort(), ['broken', 'plain', 'web']);
    const got = await nets.attach('c1', [{ name: 'web', portMappings: [{ hostPort: 31001, containerPort: 80, protocol: 'tcp' }] }]);
    assert.deepEqual(s.netns.made, ['dcos-c1']);
    assert.equal(got.netnsPath, join(s.dir, 'netns', 'dcos-c1'));
    assert.deepEqual(got.networks, [
      { name: 'web', ifName: 'eth0', ips: ['10.99.0.7'], portMappings: [{ hostPort: 31001, containerPort: 80, protocol: 'tcp' }] },
    ]);
    const c = calls();
    assert.deepEqual(
      c.map((x) => [x.plugin, x.command, x.containerId, x.netns, x.ifName, x.cniPath]),
      [
        ['fakebr', 'ADD', 'c1', got.netnsPath, 'eth0', s.plugins],
        ['fakepm', 'ADD', 'c1', got.netnsPath, 'eth0', s.plugins],
      ],
    );
    // Every plugin gets the list's name and version; the first no prevResult, the next the first's result.
    assert.equal(c[0]?.stdin.name, 'web');
    assert.equal(c[0]?.stdin.cniVersion, '0.4.0');
    assert.equal(c[0]?.stdin.bridge, 'x0');
    assert.equal(c[0]?.stdin.prevResult, undefined);
    assert.equal(c[0]?.stdin.runtimeConfig, undefined);
    assert.deepEqual(c[1]?.stdin.prevResult, JSON.parse(BR_RESULT));
    assert.deepEqual(c[1]?.stdin.runtimeConfig, { portMappings: [{ hostPort: 31001, containerPort: 80, protocol: 'tcp' }] });
    assert.deepEqual(await nets.inspect('c1'), got);
    assert.deepEqual(await nets.list(), ['c1']);
  });

  test('detach runs DEL backwards with the final ADD result, then removes the namespace and the record', async () => {
    const s = setup('detach');
    const nets = await CniNetworks.create({ pluginsDir: s.plugins, configDir: s.conf, stateDir: s.stateDir, defaultBridge: false, netns: s.netns });
    await nets.attach('c2', [
      { name: 'web', portMappings: [{ hostPort: 31002, containerPort: 8080, protocol: 'udp' }] },
      { name: 'plain', portMappings: [] },
    ]);
    rmSync(LOG, { force: true });
    // A new adapter, as after an agent restart: everything comes from the record.
    const again = await CniNetworks.create({ pluginsDir: s.plugins, configDir: s.conf, stateDir: s.stateDir, defaultBridge: false, netns: s.netns });
    assert.deepEqual(
      (await again.inspect('c2'))?.networks.map((n) => [n.name, n.ifName, n.ips]),
      [
        ['web', 'eth0', ['10.99.0.7']],
        ['plain', 'eth1', ['10.99.0.7']],
      ],
    );
    await again.detach('c2');
    const c = calls();
    assert.deepEqual(
      c.map((x) => [x.plugin, x.command, x.ifName]),
      [
        ['fakebr', 'DEL', 'eth1'],
        ['fakepm', 'DEL', 'eth0'],
        ['fakebr', 'DEL', 'eth0'],
      ],
    );
    assert.deepEqual(c[1]?.stdin.prevResult, JSON.parse(PM_RESULT));
    assert.deepEqual(c[1]?.stdin.runtimeConfig, { portMappings: [{ hostPort: 31002, containerPort: 8080, protocol: 'udp' }] });
    assert.deepEqual(s.netns.removed, ['dcos-c2']);
    assert.deepEqual(await again.list(), []);
    assert.equal(await again.inspect('c2'), undefined);
    // Detaching again (or a container never attached) is quiet and runs no plugin.
    rmSync(LOG, { force: true });
    await again.detach('c2');
    await again.detach('never');
    assert.deepEqual(calls(), []);
  });

  test('a failing plugin fails the attach with its CNI error message and leaves nothing behind', async () => {
    const s = setup('fail');
    const nets = await CniNetworks.create({ pluginsDir: s.plugins, configDir: s.conf, stateDir: s.stateDir, defaultBridge: false, netns: s.netns });
    await assert.rejects(
      nets.attach('c3', [{ name: 'broken', portMappings: [{ hostPort: 31003, containerPort: 80, protocol: 'tcp' }] }]),
      /CNI plugin fakefail ADD on network 'broken' failed: no addresses left \(range full\)/,
    );
    // What ADD made is undone: DEL for the whole list, then the namespace goes.
    assert.deepEqual(
      calls().map((x) => [x.plugin, x.command]),
      [
        ['fakebr', 'ADD'],
        ['fakefail', 'ADD'],
        ['fakefail', 'DEL'],
        ['fakebr', 'DEL'],
      ],
    );
    assert.deepEqual(s.netns.removed, ['dcos-c3']);
    assert.deepEqual(await nets.list(), []);
  });

  test('attach refuses unknown networks, port mappings a network cannot honour, and bad ports, before making anything', async () => {
    const s = setup('refuse');
    const nets = await CniNetworks.create({ pluginsDir: s.plugins, configDir: s.conf, stateDir: s.stateDir, defaultBridge: false, netns: s.netns });
    await assert.rejects(nets.attach('c4', [{ name: 'nope', portMappings: [] }]), /unknown network 'nope' \(this agent has: web, plain, broken\)/);
    await assert.rejects(
      nets.attach('c4', [{ name: 'plain', portMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' }] }]),
      /no plugin with the portMappings capability/,
    );
    await assert.rejects(nets.attach('c4', [{ name: 'web', portMappings: [{ hostPort: 0, containerPort: 2, protocol: 'tcp' }] }]), /ports must be 1-65535/);
    await assert.rejects(nets.attach('../x', [{ name: 'web', portMappings: [] }]), /invalid container id/);
    assert.deepEqual(s.netns.made, []);
    assert.deepEqual(calls(), []);
  });

  test('configuration: .conf files are one-plugin lists, duplicates and missing plugins are errors, the default bridge is offered where its plugins are', async () => {
    const s = setup('config');
    assert.deepEqual(parseNetworkConfig('{"cniVersion":"0.3.1","name":"n","type":"bridge","bridge":"b0"}', 'n.conf').plugins, [
      { type: 'bridge', bridge: 'b0' },
    ]);
    assert.throws(() => parseNetworkConfig('{"name":"n"}', 'n.conf'), /n.conf: needs 'plugins'/);
    assert.throws(() => parseNetworkConfig('{"name":"n","plugins":[{"type":"../sh"}]}', 'x'), /plugins\[0\] needs a 'type'/);
    assert.throws(() => parseNetworkConfig('nope', 'x.conf'), /x.conf: not JSON/);
    writeFileSync(join(s.conf, '40-dup.conf'), JSON.stringify({ name: 'web', type: 'fakebr' }));
    await assert.rejects(loadCniNetworks({ pluginsDir: s.plugins, configDir: s.conf, defaultBridge: false }), /network 'web' is also defined in/);
    rmSync(join(s.conf, '40-dup.conf'));
    writeFileSync(join(s.conf, '50-missing.conf'), JSON.stringify({ name: 'm', type: 'macvlan-not-here' }));
    await assert.rejects(loadCniNetworks({ pluginsDir: s.plugins, configDir: s.conf, defaultBridge: false }), /needs the CNI plugin 'macvlan-not-here'/);
    rmSync(join(s.conf, '50-missing.conf'));
    // The fake plugins dir has no bridge/portmap: no default network, and a log line says why.
    const logged: string[] = [];
    const nets = await loadCniNetworks({ pluginsDir: s.plugins, configDir: s.conf, log: (_l, m) => logged.push(m) });
    assert.equal(nets.has('mesos-bridge'), false);
    assert.match(logged.join('\n'), /no 'mesos-bridge' network: the CNI plugins bridge, portmap are not in/);
    // Where they are, mesos-bridge is a bridge with host-local addresses and portmap chained.
    if (existsSync('/usr/lib/cni/bridge') && existsSync('/usr/lib/cni/portmap')) {
      const withDefault = await loadCniNetworks({ pluginsDir: '/usr/lib/cni' });
      assert.deepEqual(withDefault.get('mesos-bridge'), defaultBridgeConfig());
    }
    const d = defaultBridgeConfig({ subnet: '10.1.2.0/24' });
    assert.equal((d.plugins[0] as any).ipam.subnet, '10.1.2.0/24');
    assert.equal((d.plugins[0] as any).ipMasq, false);
    assert.equal((d.plugins[0] as any).isGateway, true);
    assert.throws(() => defaultBridgeConfig({ subnet: '10.1.2.0' }), /IPv4 CIDR/);
  });

  test('addresses come from 0.3+/1.0 results (ips) and 0.2 results (ip4), IPv4 only, without prefix length', () => {
    assert.deepEqual(resultIps({ ips: [{ address: '10.0.0.2/24' }, { address: 'fd00::2/64' }] }), ['10.0.0.2']);
    assert.deepEqual(resultIps({ ip4: { ip: '10.0.0.3/16' } }), ['10.0.0.3']);
    assert.deepEqual(resultIps(undefined), []);
  });
});
