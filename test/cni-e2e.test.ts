/**
 * IP-per-container on a real agent (wall clock, real processes, the real CNI plugins from
 * Debian's containernetworking-plugins): a task that names a network gets its own namespace and
 * address on a bridge, is reachable at containerIP:containerPort and, through portmap, at
 * 127.0.0.1:hostPort; its exit removes the namespace and frees the address; a restarted agent
 * keeps the networks of running tasks. Traffic goes only to loopback and to the bridge the test
 * made (its subnet is routed to that bridge).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RuntimeProbes } from '../src/adapters/checks/probes.js';
import { RealClock } from '../src/adapters/clock-real.js';
import { CniNetworks } from '../src/adapters/net/cni.js';
import { FsCheckpointer } from '../src/adapters/runtime/checkpoint-fs.js';
import { RegistryImageStore } from '../src/adapters/runtime/image-store.js';
import { createMesosContainerizer, findOciRuntime } from '../src/adapters/runtime/oci.js';
import { Random } from '../src/base/random.js';
import type { ContainerInfo, TaskInfo, TaskStatus } from '../src/model/mesos.js';
import { Agent } from '../src/services/agent/agent.js';
import { FakeMasterLink } from '../src/services/agent/fakes.js';
import { freePort, pushBusybox, startRegistry } from './lib/images.js';

const NETWORK = 'e2e-bridge';
const DEVICE = `dcos-e2e${process.pid % 10000}`.slice(0, 15);
const SUBNET = '172.31.252.0/24';
const IPAM_DIR = `/var/lib/cni/networks/${NETWORK}`;
// A second network from a .conflist in the config directory (Mesos' --network_cni_config_dir).
const NETWORK2 = 'e2e-second';
const DEVICE2 = `dcos-e2f${process.pid % 10000}`.slice(0, 15);
const SUBNET2 = '172.31.250.0/24';
const skip =
  process.getuid?.() !== 0
    ? 'needs root (network namespaces)'
    : !existsSync('/usr/lib/cni/bridge') || !existsSync('/usr/lib/cni/portmap')
      ? 'containernetworking-plugins is not installed'
      : !existsSync('/usr/sbin/iptables') && !existsSync('/sbin/iptables')
        ? 'iptables is not installed (portmap needs it)'
        : false;
if (skip) process.stdout.write(`# SKIP CNI e2e: ${skip}\n`);
const registryBin = ['/usr/bin/docker-registry', '/usr/bin/registry'].find((p) => existsSync(p));
const imageSkip =
  skip ||
  (!findOciRuntime('crun')
    ? 'crun is not installed'
    : !registryBin
      ? 'docker-registry is not installed'
      : !existsSync('/bin/busybox')
        ? 'busybox-static is not installed'
        : false);
if (imageSkip && !skip) process.stdout.write(`# SKIP CNI image test: ${imageSkip}\n`);
let registry: ChildProcess | undefined;

const TERMINAL = ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED'];
const work = mkdtempSync(join(tmpdir(), 'dcos-cni-e2e-'));
const workDir = join(work, 'agent');
const link = new FakeMasterLink();
const hadHostportChains = chainExists('CNI-HOSTPORT-DNAT');

function chainExists(chain: string): boolean {
  try {
    execFileSync('iptables', ['-t', 'nat', '-S', chain], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Instance {
  agent: Agent;
  runtime: ReturnType<typeof createMesosContainerizer>;
  networks: CniNetworks;
}

async function startInstance(seed: number): Promise<Instance> {
  const runtime = createMesosContainerizer({
    stateDir: join(workDir, 'meta', 'runtime'),
    pollIntervalMs: 50,
    bundleDir: join(workDir, 'bundles'),
    stateRoot: join(workDir, 'oci-state'),
    images: new RegistryImageStore(join(workDir, 'images')),
  });
  const configDir = join(work, 'cni-conf');
  mkdirSync(configDir, { recursive: true });
  writeFileSync(
    join(configDir, '10-second.conflist'),
    JSON.stringify({
      cniVersion: '0.4.0',
      name: NETWORK2,
      plugins: [
        { type: 'bridge', bridge: DEVICE2, isGateway: true, ipMasq: false, ipam: { type: 'host-local', subnet: SUBNET2, dataDir: join(work, 'ipam2') } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }),
  );
  const networks = await CniNetworks.create({
    stateDir: join(workDir, 'meta', 'cni'),
    configDir,
    defaultBridge: { name: NETWORK, device: DEVICE, subnet: SUBNET },
  });
  const agent = new Agent({
    clock: new RealClock(),
    random: new Random(seed),
    link,
    runtime,
    probes: new RuntimeProbes(runtime),
    networks,
    checkpointer: new FsCheckpointer(workDir),
    config: { workDir, hostname: 'localhost', ip: '127.0.0.1', port: 5051, resources: [], version: 'test', defaultKillGracePeriodMs: 300 },
  });
  await agent.start();
  await until('registration', () => agent.connection === 'registered');
  return { agent, runtime, networks };
}

let current: Instance;

/** An HTTP server on containerPort that answers with its task id (so a reply proves it is ours). */
const SERVER = `require('http').createServer((q, s) => s.end(process.env.MESOS_TASK_ID)).listen(Number(process.env.CPORT), '0.0.0.0')`;

let seq = 0;
/** Sends RUN_TASK from framework fw for a new task n<seq> on agent-1; returns its id. */
function runTask(task: Omit<TaskInfo, 'name' | 'task_id' | 'agent_id'>): string {
  const id = `n${++seq}`;
  link.push({
    type: 'RUN_TASK',
    framework_id: { value: 'fw' },
    framework_info: { user: 'root', name: 'fw', id: { value: 'fw' } },
    task: { name: id, task_id: { value: id }, agent_id: { value: 'agent-1' }, ...task },
  });
  return id;
}

function launch(containerPort: number, network: string, mappings: { host_port: number; container_port: number }[] = []): string {
  const container: ContainerInfo = { type: 'MESOS', network_infos: [{ name: network, port_mappings: mappings.map((m) => ({ ...m, protocol: 'tcp' })) }] };
  return runTask({
    command: {
      value: `exec ${JSON.stringify(process.execPath)} -e "${SERVER}"`,
      environment: { variables: [{ name: 'CPORT', value: String(containerPort) }] },
    },
    resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } }],
    container,
  });
}

const statuses = (id: string): TaskStatus[] =>
  link
    .callsOf('STATUS_UPDATE')
    .map((c) => c.status)
    .filter((s) => s.task_id.value === id);

async function running(id: string): Promise<{ ip: string; containerId: string }> {
  const st = await until(`${id} to run`, () => statuses(id).find((s) => s.state === 'TASK_RUNNING' || TERMINAL.includes(s.state)));
  assert.equal(st.state, 'TASK_RUNNING', `${id}: ${st.state} ${st.message ?? ''}`);
  const ni = st.container_status?.network_infos ?? [];
  assert.equal(ni.length, 1);
  assert.equal(ni[0]?.name, NETWORK);
  const ip = ni[0]?.ip_addresses?.[0]?.ip_address as string;
  return { ip, containerId: st.container_status?.container_id?.value as string };
}

async function final(id: string): Promise<TaskStatus> {
  return until(`a terminal update of ${id}`, () => statuses(id).find((s) => TERMINAL.includes(s.state)), 30_000);
}

/** The body at url, or an error text (connection refused, timeout): never another server's answer. */
async function get(url: string, timeoutMs = 2000): Promise<string> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return `${r.status} ${await r.text()}`;
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return `error ${cause?.code ?? cause?.message ?? (e as Error).message}`;
  }
}

function kill(id: string): void {
  link.push({ type: 'KILL_TASK', framework_id: { value: 'fw' }, task_id: { value: id } });
}

describe('container networks through the CNI plugins', { skip }, () => {
  before(async () => {
    current = await startInstance(1);
  });

  after(async () => {
    for (let i = 1; i <= seq; i++) if (!statuses(`n${i}`).some((s) => TERMINAL.includes(s.state))) kill(`n${i}`);
    for (let i = 1; i <= seq; i++) await final(`n${i}`).catch(() => {});
    registry?.kill('SIGKILL');
    await current?.agent.stop();
    current?.runtime.close();
    // What this test made: its bridge, its address records, and the portmap chains if it made them.
    for (const id of await current.networks.list()) await current.networks.detach(id).catch(() => {});
    execFileSync('ip', ['link', 'del', DEVICE], { stdio: 'ignore' });
    if (existsSync(`/sys/class/net/${DEVICE2}`)) execFileSync('ip', ['link', 'del', DEVICE2], { stdio: 'ignore' });
    rmSync(IPAM_DIR, { recursive: true, force: true });
    if (!hadHostportChains) removeHostportChains();
    rmSync(work, { recursive: true, force: true });
  });

  test('a task on the bridge gets its own address, reachable at containerIP:containerPort and through portmap at 127.0.0.1:hostPort', async () => {
    const hostPort = await freePort();
    const id = launch(8080, NETWORK, [{ host_port: hostPort, container_port: 8080 }]);
    const { ip, containerId } = await running(id);
    assert.match(ip, /^172\.31\.252\.\d+$/);
    assert.notEqual(ip, '172.31.252.1', 'the gateway address is the bridge');
    assert.ok(existsSync(`/run/netns/dcos-${containerId}`), 'its network namespace exists');
    assert.ok(existsSync(join(IPAM_DIR, ip)), 'host-local recorded the address');
    // The subnet is routed to the test's bridge: nothing to these addresses leaves the machine.
    assert.match(execFileSync('ip', ['route', 'get', ip], { encoding: 'utf8' }), new RegExp(`dev ${DEVICE}`));
    assert.equal(
      await until('the server in the container', async () => ((await get(`http://${ip}:8080/`)).startsWith('200') ? get(`http://${ip}:8080/`) : undefined)),
      `200 ${id}`,
    );
    assert.equal(await get(`http://127.0.0.1:${hostPort}/`), `200 ${id}`, 'portmap forwards loopback host-port traffic');
    // The task's processes really are in the namespace: the host has no listener on 8080 of its own.
    assert.doesNotMatch(execFileSync('ss', ['-ltnH'], { encoding: 'utf8' }), /[:.]8080\s/);
  });

  test('two tasks get different addresses; the exit of one removes its namespace, its address and its host port', async () => {
    const hostPort = await freePort();
    const a = launch(9000, NETWORK, [{ host_port: hostPort, container_port: 9000 }]);
    const b = launch(9000, NETWORK);
    const ra = await running(a);
    const rb = await running(b);
    assert.notEqual(ra.ip, rb.ip);
    await until('both servers', async () => (await get(`http://${ra.ip}:9000/`)) === `200 ${a}` && (await get(`http://${rb.ip}:9000/`)) === `200 ${b}`);
    assert.equal(await get(`http://127.0.0.1:${hostPort}/`), `200 ${a}`);
    kill(a);
    const end = await final(a);
    assert.equal(end.state, 'TASK_KILLED');
    // Detached before the terminal update was sent.
    assert.equal(existsSync(`/run/netns/dcos-${ra.containerId}`), false, 'namespace removed');
    assert.equal(existsSync(join(IPAM_DIR, ra.ip)), false, 'address released');
    assert.equal((await current.networks.list()).includes(ra.containerId), false);
    assert.match(await get(`http://127.0.0.1:${hostPort}/`), /^error/, 'nothing answers on the host port any more');
    assert.equal(await get(`http://${rb.ip}:9000/`), `200 ${b}`, 'the other task is untouched');
    assert.ok(!execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).includes(`--dport ${hostPort}`), 'its DNAT rule is gone');
  });

  test('a task on two networks (the default and one from the config directory) has an address on each, eth0 and eth1', async () => {
    const id = runTask({
      command: { value: `exec ${JSON.stringify(process.execPath)} -e "${SERVER}"`, environment: { variables: [{ name: 'CPORT', value: '8090' }] } },
      resources: [],
      container: { type: 'MESOS', network_infos: [{ name: NETWORK }, { name: NETWORK2 }] },
    });
    const st = await until(`${id} to run`, () => statuses(id).find((s) => s.state === 'TASK_RUNNING' || TERMINAL.includes(s.state)));
    assert.equal(st.state, 'TASK_RUNNING', st.message);
    const nis = st.container_status?.network_infos ?? [];
    assert.deepEqual(
      nis.map((n) => n.name),
      [NETWORK, NETWORK2],
    );
    const [ip1, ip2] = nis.map((n) => n.ip_addresses?.[0]?.ip_address as string);
    assert.match(ip1 as string, /^172\.31\.252\./);
    assert.match(ip2 as string, /^172\.31\.250\./);
    let seen = '';
    await until('the server on both addresses', async () => {
      seen = `${await get(`http://${ip1}:8090/`)} | ${await get(`http://${ip2}:8090/`)}`;
      return seen === `200 ${id} | 200 ${id}`;
    }).catch((e: Error) => {
      throw new Error(`${e.message}: ${seen}`);
    });
    const containerId = st.container_status?.container_id?.value as string;
    const links = execFileSync('ip', ['netns', 'exec', `dcos-${containerId}`, 'ip', '-o', 'link'], { encoding: 'utf8' });
    assert.match(links, /\beth0@/);
    assert.match(links, /\beth1@/);
    kill(id);
    await final(id);
    assert.equal(existsSync(join(work, 'ipam2', NETWORK2, ip2 as string)), false, 'the second network released its address too');
  });

  test('a restarted agent keeps the networks of running tasks and detaches them when they end', async () => {
    const hostPort = await freePort();
    const id = launch(7000, NETWORK, [{ host_port: hostPort, container_port: 7000 }]);
    const { ip, containerId } = await running(id);
    await until('the server', async () => (await get(`http://${ip}:7000/`)) === `200 ${id}`);
    await current.agent.stop();
    current.runtime.close();
    current = await startInstance(2);
    assert.equal(await get(`http://${ip}:7000/`), `200 ${id}`, 'still reachable at its address after the restart');
    assert.equal(await get(`http://127.0.0.1:${hostPort}/`), `200 ${id}`);
    assert.ok(existsSync(`/run/netns/dcos-${containerId}`));
    // Later updates still carry its own address (read back from the CNI records).
    const seen = statuses(id).length;
    kill(id);
    const end = await final(id);
    assert.equal(end.state, 'TASK_KILLED');
    assert.ok(statuses(id).length > seen);
    assert.equal(end.container_status?.network_infos?.[0]?.ip_addresses?.[0]?.ip_address, ip);
    assert.equal(existsSync(`/run/netns/dcos-${containerId}`), false);
    assert.equal(existsSync(join(IPAM_DIR, ip)), false);
  });

  test('an image task (crun) joins the namespace by path in its OCI config and is reachable the same ways', { skip: imageSkip }, async () => {
    const r = await startRegistry(work, registryBin as string);
    registry = r.child;
    await pushBusybox(work, '/bin/busybox', r.addr, 'library/busybox', '1', false);
    const hostPort = await freePort();
    const id = runTask({
      command: { value: 'mkdir -p /www && echo -n $MESOS_TASK_ID >/www/index.html && exec httpd -f -p 8080 -h /www' },
      resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } }],
      container: {
        type: 'MESOS',
        mesos: { image: { type: 'DOCKER', docker: { name: `${r.addr}/library/busybox:1` } } },
        network_infos: [{ name: NETWORK, port_mappings: [{ host_port: hostPort, container_port: 8080, protocol: 'tcp' }] }],
      },
    });
    const { ip, containerId } = await running(id);
    const config = JSON.parse(readFileSync(join(workDir, 'bundles', containerId, 'config.json'), 'utf8'));
    assert.deepEqual(
      config.linux.namespaces.find((n: { type: string }) => n.type === 'network'),
      { type: 'network', path: `/run/netns/dcos-${containerId}` },
    );
    assert.equal(await until('httpd in the container', async () => ((await get(`http://${ip}:8080/`)) === `200 ${id}` ? 'ok' : undefined)), 'ok');
    assert.equal(await get(`http://127.0.0.1:${hostPort}/`), `200 ${id}`);
    kill(id);
    assert.equal((await final(id)).state, 'TASK_KILLED');
    assert.equal(existsSync(join(IPAM_DIR, ip)), false);
  });

  test('a task naming an unknown network fails to launch with the reason; a failed launch leaves no namespace', async () => {
    const before = readdirSync('/run/netns')
      .filter((n) => n.startsWith('dcos-'))
      .sort();
    const attached = (await current.networks.list()).sort();
    const id = launch(8080, 'no-such-network');
    const end = await final(id);
    assert.equal(end.state, 'TASK_FAILED');
    assert.equal(end.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.match(end.message ?? '', /unknown network 'no-such-network' \(this agent has: e2e-second, e2e-bridge\)/);
    // Attached, then the launch fails (an image this test never pushed): the networks are undone.
    const bad = runTask({
      command: { value: 'true' },
      resources: [],
      container: { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: '127.0.0.1:1/none:1' } } }, network_infos: [{ name: NETWORK }] },
    });
    const badEnd = await final(bad);
    assert.equal(badEnd.state, 'TASK_FAILED');
    assert.match(badEnd.message ?? '', /Failed to launch container/);
    assert.deepEqual(
      readdirSync('/run/netns')
        .filter((n) => n.startsWith('dcos-'))
        .sort(),
      before,
    );
    assert.deepEqual((await current.networks.list()).sort(), attached);
  });
});

/** Removes portmap's shared nat chains (left by DEL) when the test created them. */
function removeHostportChains(): void {
  const ipt = (...args: string[]) => {
    try {
      execFileSync('iptables', ['-t', 'nat', ...args], { stdio: 'ignore' });
    } catch {
      // not there
    }
  };
  ipt('-D', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT');
  ipt('-D', 'OUTPUT', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT');
  ipt('-D', 'POSTROUTING', '-m', 'comment', '--comment', 'CNI portfwd requiring masquerade', '-j', 'CNI-HOSTPORT-MASQ');
  for (const c of ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK']) {
    ipt('-F', c);
    ipt('-X', c);
  }
}

/**
 * The whole path on a local cluster of real processes (`dcos up`, one agent with the default
 * mesos-bridge network, 172.31.254.0/24 on mesos-cni0): a Marathon app with networks
 * [{mode: container/bridge}] and portMappings gets host ports from the offer, the environment
 * Marathon sets for bridge apps, and tasks with their own addresses.
 */
describe('Marathon container/bridge apps on the default mesos-bridge network', { skip }, () => {
  const home = mkdtempSync(join(tmpdir(), 'dcos-cni-marathon-'));
  const clusterDir = join(home, 'cluster');
  const env = { ...process.env, DCOS_TS_CONFIG_DIR: join(home, 'config'), DCOS_TS_HOME: home };
  const hadBridge = existsSync('/sys/class/net/mesos-cni0');
  const hadIpam = existsSync('/var/lib/cni/networks/mesos-bridge');
  const hadChains = chainExists('CNI-HOSTPORT-DNAT');
  let marathon = '';
  let agentAddr = '';
  const dcos = (args: string[]) => execFileSync(process.execPath, [resolve('dist/src/main/dcos.js'), ...args], { env, encoding: 'utf8', timeout: 120_000 });

  before(() => {
    const info = JSON.parse(
      dcos(['up', '--detach', '--json', '--agents=1', `--work-dir=${clusterDir}`, '--resources=cpus:2;mem:1024;disk:1024;ports:[31000-31100]']),
    );
    marathon = info.marathon;
    agentAddr = info.agents[0];
  });

  after(() => {
    try {
      dcos(['down', '--purge', `--work-dir=${clusterDir}`]);
    } catch {
      // reported by the tests
    }
    if (!hadBridge) execFileSync('ip', ['link', 'del', 'mesos-cni0'], { stdio: 'ignore' });
    if (!hadIpam) rmSync('/var/lib/cni/networks/mesos-bridge', { recursive: true, force: true });
    if (!hadChains) removeHostportChains();
    rmSync(home, { recursive: true, force: true });
  });

  test('tasks get their own 172.31.254.x addresses, offered host ports mapped to the container port, and PORT0/PORT_<NAME> = the host port', async () => {
    // Answers with its task id and the port variables Marathon set.
    const server = `require('http').createServer((q, s) => s.end(JSON.stringify({ id: process.env.MESOS_TASK_ID, PORT0: process.env.PORT0, PORT_HTTP: process.env.PORT_HTTP, PORT_8080: process.env.PORT_8080, PORTS: process.env.PORTS, HOST: process.env.HOST }))).listen(8080, '0.0.0.0')`;
    const app = {
      id: '/bridged',
      cmd: `exec ${JSON.stringify(process.execPath)} -e "${server}"`,
      cpus: 0.1,
      mem: 64,
      instances: 2,
      networks: [{ mode: 'container/bridge' }],
      container: { type: 'MESOS', portMappings: [{ containerPort: 8080, hostPort: 0, name: 'http', labels: { VIP_0: '/bridged:80' } }] },
    };
    const created = await fetch(`${marathon}/v2/apps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(app) });
    assert.equal(created.status, 201, await created.text());
    const tasks = await until(
      'two running tasks with container addresses',
      async () => {
        const r = (await (await fetch(`${marathon}/v2/apps/bridged/tasks`)).json()) as { tasks: Json[] };
        const ok = r.tasks.length === 2 && r.tasks.every((t) => t.state === 'TASK_RUNNING' && /^172\.31\.254\./.test(t.ipAddresses?.[0]?.ipAddress ?? ''));
        return ok ? r.tasks : undefined;
      },
      60_000,
    );
    const ips = tasks.map((t) => t.ipAddresses[0].ipAddress as string);
    assert.notEqual(ips[0], ips[1]);
    for (const t of tasks) {
      const ip = t.ipAddresses[0].ipAddress as string;
      const hostPort = t.ports[0] as number;
      assert.ok(hostPort >= 31000 && hostPort <= 31100, `host port ${hostPort} from the offer`);
      const body = await until(`task ${t.id} at ${ip}:8080`, async () => {
        const r = await get(`http://${ip}:8080/`);
        return r.startsWith('200 ') ? JSON.parse(r.slice(4)) : undefined;
      });
      assert.deepEqual(body, {
        id: t.id,
        PORT0: String(hostPort),
        PORT_HTTP: String(hostPort),
        PORT_8080: String(hostPort),
        PORTS: String(hostPort),
        HOST: t.host,
      });
      // Through portmap on the agent's own (loopback) address.
      assert.equal(JSON.parse((await get(`http://${t.host}:${hostPort}/`)).slice(4)).id, t.id);
    }
    // The agent's /containers shows each container's own address, as Mesos does for CNI containers.
    const containers = (await (await fetch(`http://${agentAddr}/containers`)).json()) as Json[];
    assert.deepEqual(containers.map((c) => c.status.network_infos[0].ip_addresses[0].ip_address).sort(), [...ips].sort());
    const deleted = await fetch(`${marathon}/v2/apps/bridged`, { method: 'DELETE' });
    assert.equal(deleted.status, 200);
    await until('the addresses released', () => ips.every((ip) => !existsSync(`/var/lib/cni/networks/mesos-bridge/${ip}`)), 30_000);
  });
});

type Json = any;
