import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { getJson, post, waitFor } from './lib/http.js';

const run = promisify(execFile);
const DCOS = resolve('dist/src/main/dcos.js');

async function sh(cmd: string): Promise<string> {
  return (await run('sh', ['-c', cmd])).stdout;
}

async function unavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not root (needs ip netns and nft)';
  try {
    await run('nft', ['list', 'tables']);
    await run('ip', ['netns', 'list']);
    return undefined;
  } catch (e) {
    return `nft or ip netns do not run: ${(e as Error).message}`;
  }
}

/** Starts a dcos role; resolves with the first JSON line carrying `event`. */
function startRole(argv: string[], event: string, prefix: string[] = []): Promise<{ child: ChildProcess; line: Record<string, any>; log: () => string }> {
  const [cmd, ...args] = [...prefix, process.execPath, DCOS, ...argv] as [string, ...string[]];
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr?.on('data', (d) => {
    err += d;
  });
  return new Promise((res, rej) => {
    child.stdout?.on('data', (d) => {
      out += d;
      for (const l of out.split('\n')) {
        if (!l.startsWith('{')) continue;
        const j = JSON.parse(l);
        if (j.event === event) res({ child, line: j, log: () => err });
      }
    });
    child.on('exit', (code) => rej(new Error(`${argv[0]} exited ${code}: ${err.slice(-2000)}`)));
  });
}

/** curl inside the namespace; the body, or "ERR <code>". */
async function curlIn(ns: string, url: string): Promise<string> {
  try {
    return (await run('ip', ['netns', 'exec', ns, 'curl', '-s', '-m', '3', url])).stdout.trim();
  } catch (e) {
    return `ERR ${(e as { code?: number }).code}`;
  }
}

/**
 * The per-node VIP data path: a master with VIPs off on the host side of a veth, and an agent in
 * a network namespace of the test's own with --vip_data_path=nft. The agent follows the master's
 * operator SUBSCRIBE stream over HTTP and programs its own kernel (the namespace's), so clients
 * in the namespace reach the app's instances (which run on that agent) through the VIP, and a
 * killed instance leaves the agent's table.
 */
describe('VIP data path on an agent (own network namespace)', async () => {
  const skip = await unavailable();
  if (skip) console.log(`# skipping the per-node VIP test: ${skip}`);
  const home = mkdtempSync(join(tmpdir(), 'dcos-vipnode-'));
  const ns = `vipn${process.pid % 100000}`;
  const hostIp = '10.213.9.1';
  const nodeIp = '10.213.9.2';
  let master: ChildProcess | undefined;
  let agent: ChildProcess | undefined;
  let agentLog: () => string = () => '';
  let masterPort = 0;
  let proxyAgent: ChildProcess | undefined;
  let marathon = '';

  before(async () => {
    if (skip) return;
    await sh(
      [
        `ip netns add ${ns}`,
        `ip link add ${ns}h type veth peer name ${ns}n`,
        `ip link set ${ns}n netns ${ns}`,
        `ip addr add ${hostIp}/30 dev ${ns}h`,
        `ip link set ${ns}h up`,
        `ip -n ${ns} addr add ${nodeIp}/30 dev ${ns}n`,
        `ip -n ${ns} link set ${ns}n up`,
        `ip -n ${ns} link set lo up`,
      ].join(' && '),
    );
    const m = await startRole(
      [
        'master',
        `--work_dir=${join(home, 'master')}`,
        `--ip=${hostIp}`,
        '--port=0',
        '--store=memory',
        '--dns_port=none',
        '--marathon_port=0',
        '--vip_mode=none',
        '--allocation_interval=100ms',
      ],
      'ready',
    );
    master = m.child;
    assert.equal(m.line.vip_mode, null, 'the master runs no VIP data path');
    marathon = `http://${hostIp}:${m.line.marathon_port}`;
    masterPort = m.line.port;
    const a = await startRole(
      [
        'agent',
        `--master=${hostIp}:${m.line.port}`,
        `--work_dir=${join(home, 'agent')}`,
        `--ip=${nodeIp}`,
        '--port=0',
        '--isolation=none',
        '--resources=cpus:2;mem:1024;disk:1024;ports:[35300-35319]',
        '--vip_data_path=nft',
      ],
      'registered',
      ['ip', 'netns', 'exec', ns],
    );
    agent = a.child;
    agentLog = a.log;
  });

  after(async () => {
    if (skip) return;
    try {
      await fetch(`${marathon}/v2/apps/nodeweb?force=true`, { method: 'DELETE' });
      await fetch(`${marathon}/v2/apps/udpecho?force=true`, { method: 'DELETE' });
      await waitFor('tasks gone', async () => ((await getJson(`${marathon}/v2/apps`)).apps.length === 0 ? true : undefined), 10_000).catch(() => {});
    } catch {}
    proxyAgent?.kill('SIGTERM');
    if (proxyAgent && proxyAgent.exitCode === null) await new Promise((r) => proxyAgent?.once('exit', r));
    agent?.kill('SIGTERM');
    if (agent && agent.exitCode === null) await new Promise((r) => agent?.once('exit', r));
    master?.kill('SIGTERM');
    if (master && master.exitCode === null) await new Promise((r) => master?.once('exit', r));
    // Anything still in the test's namespace is the test's (tasks of the agent).
    await sh(`for p in $(ip netns pids ${ns} 2>/dev/null); do kill -9 $p; done; ip netns del ${ns} 2>/dev/null; ip link del ${ns}h 2>/dev/null; true`);
    rmSync(home, { recursive: true, force: true });
  });

  test('clients on the node reach the backends through the agent-programmed VIP; a killed one leaves', { skip }, async () => {
    // Only the agent's table: the host kernel gets no node table.
    assert.match(await sh(`ip netns exec ${ns} nft list tables`), /dcos_vip_node_\d+/);
    assert.doesNotMatch(await sh('nft list tables'), /dcos_vip_node_/);
    const server = `require("http").createServer((q,r)=>r.end(process.env.MESOS_TASK_ID)).listen(+process.env.PORT0, process.env.HOST)`;
    const r = await post(`${marathon}/v2/apps`, {
      id: '/nodeweb',
      cmd: `exec ${process.execPath} -e '${server}'`,
      instances: 3,
      cpus: 0.1,
      mem: 32,
      portDefinitions: [{ port: 0, labels: { VIP_0: '11.213.9.10:80' } }],
    });
    assert.equal(r.status, 201, r.text);
    const tasks = await waitFor(
      'three running tasks',
      async () => {
        const t = (await getJson(`${marathon}/v2/apps/nodeweb/tasks`)).tasks as { id: string; state: string; host: string; ports: number[] }[];
        return t.length === 3 && t.every((x) => x.state === 'TASK_RUNNING') ? t : undefined;
      },
      30_000,
    );
    const ids = new Set(tasks.map((t) => t.id));
    for (const t of tasks)
      await waitFor(`${t.id} listening`, async () => ((await curlIn(ns, `http://${nodeIp}:${t.ports[0]}/`)) === t.id ? true : undefined), 10_000);

    const seen = new Map<string, number>();
    await waitFor(
      'all three through the VIP',
      async () => {
        const body = await curlIn(ns, 'http://11.213.9.10/');
        assert.ok(ids.has(body) || body.startsWith('ERR'), `answer '${body}' is not from one of the app's tasks`);
        if (ids.has(body)) seen.set(body, (seen.get(body) ?? 0) + 1);
        return seen.size === 3 ? true : undefined;
      },
      15_000,
    );
    const table = await sh(`ip netns exec ${ns} nft list table ip $(ip netns exec ${ns} nft list tables | grep -o 'dcos_vip_node_[0-9]*')`);
    assert.match(table, /11\.213\.9\.10 \. tcp \. 80/);
    for (const t of tasks) assert.ok(table.includes(`${nodeIp} . ${t.ports[0]}`), `backend ${t.ports[0]} in the table:\n${table}`);
    assert.match(agentLog(), /VIP data path for this node: nftables/);

    // Kill one instance: it leaves the agent's table; no new connection goes to it.
    const victim = tasks[0]?.id as string;
    const k = await fetch(`${marathon}/v2/apps/nodeweb/tasks/${encodeURIComponent(victim)}?scale=true`, { method: 'DELETE' });
    assert.equal(k.status, 200, await k.text());
    const t0 = performance.now();
    await waitFor(
      'victim out of the table',
      async () => {
        const text = await sh(`ip netns exec ${ns} nft list ruleset`);
        return text.includes(`${nodeIp} . ${tasks[0]?.ports[0]}`) ? undefined : true;
      },
      15_000,
      10,
    );
    console.log(`# killed instance out of the node's table ${(performance.now() - t0).toFixed(0)} ms after the kill call returned`);
    const after2 = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const body = await curlIn(ns, 'http://11.213.9.10/');
      assert.notEqual(body, victim);
      assert.ok(ids.has(body), `answer '${body}'`);
      after2.add(body);
    }
    assert.equal(after2.size, 2);
  });

  test('an agent with --vip_data_path=proxy spreads a UDP VIP over its instances; a killed one leaves', { skip }, async () => {
    // A second agent, in this machine's namespace, with the userspace proxy on a 127.x range
    // (local without any route); the master still has no VIPs.
    const nodeIp2 = '127.0.9.2';
    const a = await startRole(
      [
        'agent',
        `--master=${hostIp}:${masterPort}`,
        `--work_dir=${join(home, 'agent2')}`,
        `--ip=${nodeIp2}`,
        '--port=0',
        '--isolation=none',
        '--resources=cpus:2;mem:1024;disk:1024;ports:[35340-35359]',
        '--vip_data_path=proxy',
        '--vip_range=127.77.0.0/16',
      ],
      'registered',
    );
    proxyAgent = a.child;
    const server = `const s=require("dgram").createSocket("udp4");s.on("message",(m,r)=>s.send(process.env.MESOS_TASK_ID+":"+m,r.port,r.address));s.bind(+process.env.PORT0,process.env.HOST)`;
    const r = await post(`${marathon}/v2/apps`, {
      id: '/udpecho',
      cmd: `exec ${process.execPath} -e '${server}'`,
      instances: 2,
      cpus: 0.1,
      mem: 32,
      constraints: [['hostname', 'CLUSTER', nodeIp2]],
      portDefinitions: [{ port: 0, protocol: 'udp', labels: { VIP_0: '127.77.0.53:5353' } }],
    });
    assert.equal(r.status, 201, r.text);
    const tasks = await waitFor(
      'two running tasks',
      async () => {
        const t = (await getJson(`${marathon}/v2/apps/udpecho/tasks`)).tasks as { id: string; state: string }[];
        return t.length === 2 && t.every((x) => x.state === 'TASK_RUNNING') ? t : undefined;
      },
      30_000,
    );
    const ids = new Set(tasks.map((t) => t.id));
    const ask = async (msg: string): Promise<string | undefined> => {
      const s = createSocket('udp4');
      try {
        return await new Promise<string | undefined>((res) => {
          const t = setTimeout(() => res(undefined), 500);
          s.on('message', (m) => {
            clearTimeout(t);
            res(String(m));
          });
          s.send(msg, 5353, '127.77.0.53');
        });
      } finally {
        s.close();
      }
    };
    const seen = new Set<string>();
    await waitFor(
      'both instances through the UDP VIP',
      async () => {
        const answer = await ask('hi');
        if (answer === undefined) return undefined;
        const id = answer.slice(0, -':hi'.length);
        assert.ok(ids.has(id) && answer.endsWith(':hi'), `answer '${answer}' is not from one of the app's tasks`);
        seen.add(id);
        return seen.size === 2 ? true : undefined;
      },
      20_000,
    );
    assert.match(a.log(), /VIP data path for this node: proxy/);

    const victim = tasks[0]?.id as string;
    const k = await fetch(`${marathon}/v2/apps/udpecho/tasks/${encodeURIComponent(victim)}?scale=true`, { method: 'DELETE' });
    assert.equal(k.status, 200, await k.text());
    // Once the agent has the kill, new flows go only to the one left.
    await waitFor(
      'the victim gone from the UDP VIP',
      async () => {
        const answers = await Promise.all([ask('a'), ask('b'), ask('c'), ask('d')]);
        return answers.every((x) => x !== undefined && !x.startsWith(victim)) ? true : undefined;
      },
      15_000,
    );
    for (let i = 0; i < 6; i++) {
      const answer = await ask(`n${i}`);
      assert.ok(answer?.startsWith(tasks[1]?.id as string), `answer '${answer}'`);
    }
  });
});
