/**
 * VIPs and DNS for tasks on the CNI bridge (mesos-bridge), on a real `dcos up` cluster: a Marathon
 * container/bridge app with VIP_0 on its portMapping is reached through the VIP from this host
 * (its backends are containerIP:containerPort, masqueraded to the bridge gateway), Mesos-DNS
 * records pair each SRV port with the address it is open on (checked with dig), and a task inside
 * its own network namespace resolves cluster names through the agent's DNS relay on the bridge
 * gateway. Traffic goes only to loopback, the VIP range (local) and the bridge the agents made.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { dig } from '../src/adapters/dns/testing.js';
import { findOciRuntime } from '../src/adapters/runtime/oci.js';
import { curl, dcos, findFiles, waitForTaskOutput } from './lib/cluster.js';
import { getJson, post, waitFor } from './lib/http.js';
import { pushBusybox, startRegistry, unmountUnder } from './lib/images.js';

const run = promisify(execFile);
const GATEWAY = '172.31.254.1';
const registryBin = ['/usr/bin/docker-registry', '/usr/bin/registry'].find((p) => existsSync(p));
const busybox = existsSync('/bin/busybox') ? '/bin/busybox' : undefined;
const imageUnavailable = !findOciRuntime('crun')
  ? 'crun is not installed'
  : !registryBin
    ? 'docker-registry is not installed'
    : !busybox
      ? 'busybox-static is not installed'
      : undefined;

async function unavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not root (network namespaces, nftables)';
  if (!existsSync('/usr/lib/cni/bridge') || !existsSync('/usr/lib/cni/portmap')) return 'containernetworking-plugins is not installed';
  try {
    await run('nft', ['list', 'tables']);
  } catch (e) {
    return `nft does not run: ${(e as Error).message}`;
  }
  return undefined;
}

interface MarathonTask {
  id: string;
  host: string;
  ports: number[];
  ipAddresses: { ipAddress: string }[];
}

describe('VIPs and DNS for tasks on the CNI bridge', async () => {
  const skip = await unavailable();
  if (skip) console.log(`# skipping the bridge VIP/DNS e2e tests: ${skip}`);
  const home = mkdtempSync(join(tmpdir(), 'dcos-cni-vip-dns-'));
  const workDir = join(home, 'cluster');
  const env = { DCOS_TS_CONFIG_DIR: join(home, 'config'), DCOS_TS_HOME: home };
  let info: { url: string; dns: string };
  let dnsPort = 0;
  let marathon = '';
  let tasks: MarathonTask[] = [];
  let vipIp = '';
  let registry: ChildProcess | undefined;
  const imageSkip = skip ?? imageUnavailable;
  if (imageSkip && !skip) console.log(`# skipping the OCI resolv.conf test: ${imageSkip}`);

  before(async () => {
    if (skip) return;
    const r = await dcos(['up', '--detach', '--json', '--agents=2', `--work-dir=${workDir}`, '--resources=cpus:2;mem:1024;disk:2048;ports:[35240-35259]'], env);
    assert.equal(r.code, 0, `dcos up failed: ${r.stderr}`);
    info = JSON.parse(r.stdout);
    dnsPort = Number(info.dns.split(':')[1]);
    marathon = `${info.url}/service/marathon`;
    // Three instances of a server bound to container port 8080 in their own namespaces.
    const server = `require("http").createServer((q,r)=>r.end(process.env.MESOS_TASK_ID)).listen(8080, "0.0.0.0")`;
    const app = {
      id: '/bweb',
      cmd: `exec ${process.execPath} -e '${server}'`,
      instances: 3,
      cpus: 0.1,
      mem: 64,
      networks: [{ mode: 'container/bridge' }],
      container: { type: 'MESOS', portMappings: [{ containerPort: 8080, hostPort: 0, name: 'http', labels: { VIP_0: '/bweb:80' } }] },
    };
    const c = await post(`${marathon}/v2/apps`, app);
    assert.equal(c.status, 201, c.text);
    tasks = await waitFor(
      'three running bridge tasks with their own addresses',
      async () => {
        const j: { tasks: (MarathonTask & { state: string })[] } = await getJson(`${marathon}/v2/apps/bweb/tasks`);
        const running = j.tasks.filter((t) => t.state === 'TASK_RUNNING' && t.ipAddresses.some((a) => a.ipAddress.startsWith('172.31.254.')));
        return running.length === 3 ? running : undefined;
      },
      60_000,
    );
  });

  after(async () => {
    if (skip) return;
    await dcos(['down', '--purge', `--work-dir=${workDir}`], env);
    registry?.kill('SIGKILL');
    unmountUnder(home);
    rmSync(home, { recursive: true, force: true });
  });

  test('a VIP on a portMapping reaches the instances at containerIP:containerPort, from this host', { skip }, async () => {
    const cips = new Set(tasks.map((t) => t.ipAddresses[0]?.ipAddress));
    const vip = await waitFor(
      'the VIP with three container backends',
      async () => {
        const vips: { vip: string; name: string; backend: { ip: string; port: number; task_id: string }[] }[] = await getJson(`${info.url}/net/v1/vips`);
        const v = vips.find((x) => x.name === '/bweb:80');
        return v && v.backend.length === 3 ? v : undefined;
      },
      30_000,
    );
    for (const b of vip.backend) {
      assert.ok(cips.has(b.ip), `backend ${b.ip}:${b.port} is a task's container IP`);
      assert.equal(b.port, 8080, 'the container port, not the host port');
    }
    const ip = vip.vip.split(':')[0] as string;
    vipIp = ip;
    const ids = new Set(tasks.map((t) => t.id));
    for (const b of vip.backend) await waitFor(`${b.ip}:8080 listening`, async () => (await curl(`http://${b.ip}:8080/`)) === b.task_id, 15_000);
    const seen = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const body = await curl(`http://${ip}/`);
      assert.ok(ids.has(body), `answer '${body}' through the VIP is not from one of the app's tasks`);
      seen.set(body, (seen.get(body) ?? 0) + 1);
    }
    assert.equal(seen.size, 3, `answers came from ${[...seen.keys()].join(', ')}`);
    // Also by the l4lb name, resolved by the cluster DNS.
    const named = await dig(dnsPort, 'bweb.marathon.l4lb.thisdcos.directory');
    assert.deepEqual(
      named.answers.map((a) => a.data),
      [ip],
    );
  });

  test('Mesos-DNS records: the task name is the agent, containerip the containers, SRV the host ports on the agent', { skip }, async () => {
    const agentIps = new Set(tasks.map((t) => t.host));
    const a = await dig(dnsPort, 'bweb.marathon.mesos');
    assert.ok(a.answers.length > 0 && a.answers.every((x) => agentIps.has(x.data)), a.raw);
    const cip = await dig(dnsPort, 'bweb.marathon.containerip.dcos.thisdcos.directory');
    assert.deepEqual(cip.answers.map((x) => x.data).sort(), tasks.map((t) => t.ipAddresses[0]?.ipAddress).sort());
    // Every SRV, plain or named, leads to an agent address with a host port: a pair that answers.
    const hostPorts = new Set(tasks.flatMap((t) => t.ports));
    for (const name of ['_bweb._tcp.marathon.mesos', '_http._bweb._tcp.marathon.mesos']) {
      const s = await dig(dnsPort, name, 'SRV');
      assert.equal(s.answers.length, 3, `${name}: ${s.raw}`);
      for (const rr of s.answers) {
        const [, , port, target] = rr.data.split(' ');
        assert.ok(hostPorts.has(Number(port)), `${name} port ${port} is a host port`);
        const t = await dig(dnsPort, target as string);
        const addr = t.answers[0]?.data as string;
        assert.ok(agentIps.has(addr), `${name} target ${target} is ${addr}, an agent`);
        const task = tasks.find((x) => x.ports.includes(Number(port)));
        assert.equal(await curl(`http://${addr}:${port}/`), task?.id, `${addr}:${port} answers as its task`);
      }
    }
  });

  test('a task in its own network namespace resolves cluster names through the relay on the bridge gateway', { skip }, async () => {
    assert.ok(vipIp, 'the VIP test ran first');
    // Also a VIP client inside a namespace: prerouting DNATs it to a container on the same bridge.
    const curls = `for i in 1 2 3 4 5 6; do curl -s -m 3 http://${vipIp}/; echo; done > vip.txt`;
    const cmd = `dig +short +time=2 +tries=3 @${GATEWAY} bweb.marathon.containerip.dcos.thisdcos.directory > resolved.txt; dig +short +tcp +time=2 @${GATEWAY} leader.mesos > resolved-tcp.txt; ${curls}; touch done.txt; sleep 600`;
    const c = await post(`${marathon}/v2/apps`, {
      id: '/resolver',
      cmd,
      instances: 1,
      cpus: 0.1,
      mem: 32,
      networks: [{ mode: 'container/bridge' }],
      container: { type: 'MESOS', portMappings: [] },
    });
    assert.equal(c.status, 201, c.text);
    const files = await waitFor(
      'the task wrote what it resolved',
      () => {
        const udp = findFiles(workDir, 'resolved.txt')[0];
        const tcp = findFiles(workDir, 'resolved-tcp.txt')[0];
        const vip = findFiles(workDir, 'vip.txt')[0];
        if (!udp || !tcp || !vip || findFiles(workDir, 'done.txt').length === 0) return undefined;
        return { u: readFileSync(udp, 'utf8'), t: readFileSync(tcp, 'utf8'), v: readFileSync(vip, 'utf8') };
      },
      60_000,
      200,
    );
    const got = files.u.trim().split('\n').sort();
    assert.deepEqual(got, tasks.map((t) => t.ipAddresses[0]?.ipAddress).sort(), files.u);
    assert.match(files.t.trim(), /^127\.\d+\.\d+\.\d+$/, `leader.mesos over TCP: ${files.t}`);
    const answers = files.v.trim().split('\n');
    const ids = new Set(tasks.map((t) => t.id));
    assert.equal(answers.length, 6, files.v);
    for (const a of answers) assert.ok(ids.has(a), `VIP answer from inside the namespace '${a}' is not from one of the app's tasks`);
    assert.ok(new Set(answers).size >= 2, `spread inside the namespace: ${files.v}`);
    // It ran in its own namespace: its Marathon address is on the bridge.
    const j: { tasks: MarathonTask[] } = await getJson(`${marathon}/v2/apps/resolver/tasks`);
    assert.match(j.tasks[0]?.ipAddresses[0]?.ipAddress ?? '', /^172\.31\.254\./);
  });

  test('an OCI task on the bridge gets a resolv.conf naming the gateway, and nslookup resolves cluster names', { skip: imageSkip }, async () => {
    const reg = await startRegistry(home, registryBin as string);
    registry = reg.child;
    await pushBusybox(home, busybox as string, reg.addr, 'library/busybox', '1', false);
    const script = [
      'echo ==resolv; cat /etc/resolv.conf',
      'for i in $(seq 1 20); do nslookup bweb.marathon.containerip.dcos.thisdcos.directory > /tmp/out 2>&1 && break; sleep 1; done',
      'echo ==lookup; cat /tmp/out',
      'echo ==done; sleep 1000',
    ].join('; ');
    const r = await post(`${marathon}/v2/apps`, {
      id: '/ociresolver',
      cmd: script,
      cpus: 0.1,
      mem: 32,
      instances: 1,
      networks: [{ mode: 'container/bridge' }],
      container: { type: 'MESOS', docker: { image: `${reg.addr}/library/busybox:1` }, portMappings: [] },
    });
    assert.equal(r.status, 201, r.text);
    const out = await waitForTaskOutput('the OCI task printed its lookup', join(workDir, 'agents'), ['==resolv', '==done'], 90_000);
    const resolv = out.split('==resolv')[1]?.split('==lookup')[0] ?? '';
    assert.match(resolv, new RegExp(`^nameserver ${GATEWAY.replace(/\./g, '\\.')}$`, 'm'), out);
    assert.doesNotMatch(resolv, /nameserver 127\./, 'no loopback nameserver inside the namespace');
    const lookup = out.split('==lookup')[1] ?? '';
    for (const t of tasks) assert.ok(lookup.includes(t.ipAddresses[0]?.ipAddress as string), `nslookup output lacks ${t.ipAddresses[0]?.ipAddress}:\n${out}`);
    // Its end removes its namespace (as for the process tasks): stop the app and wait for it.
    const oci: { tasks: MarathonTask[] } = await getJson(`${marathon}/v2/apps/ociresolver/tasks`);
    const addr = oci.tasks[0]?.ipAddresses[0]?.ipAddress as string;
    assert.match(addr, /^172\.31\.254\./);
    const d = await fetch(`${marathon}/v2/apps/ociresolver`, { method: 'DELETE' });
    assert.equal(d.status, 200);
    await waitFor(
      `the namespace holding ${addr} is gone`,
      async () => {
        const { stdout } = await run('ip', ['-all', 'netns', 'exec', 'ip', '-4', '-o', 'addr', 'show']);
        return stdout.includes(`${addr}/`) ? undefined : true;
      },
      30_000,
      300,
    );
  });
});
