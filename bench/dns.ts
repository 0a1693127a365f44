/**
 * B6: cluster DNS queries per second and latency with 10,000 task records, beside dnsmasq on the
 * same records (reference/performance-anchors.md B6).
 *
 * - Records: 10,000 running tasks of 1,000 apps (10 instances each) on 100 agents, framework
 *   `marathon`, built by the real core (`taskRecords`); A for `<app>.marathon.mesos` and the
 *   per-instance names, SRV `_<app>._tcp.marathon.mesos` (1,000 service names).
 * - dnsmasq 2.90 gets the same A records as an --addn-hosts file and the SRV records as
 *   srv-host lines (per instance), --cache-size=10000, --dns-forward-max=1000, no upstream.
 * - Each server runs pinned to core 0; this load generator (Node UDP, a fixed window of queries
 *   in flight, 80 % A / 20 % SRV over random names) runs on core 1. Loss = no answer in 1 s.
 * - Reports queries/s, loss and p50/p99 per server, side by side.
 * - Propagation (--changes, default 200): the real master in this process with its cluster DNS
 *   (as `dcos master` runs it), a fake agent and a scheduler over HTTP, --background running tasks.
 *   Per change, the clock starts as the agent sends its status update (TASK_RUNNING, later
 *   TASK_KILLED) and stops when a UDP query that is resent every 2 ms gets the new answer (the A
 *   record, later NXDOMAIN): agent → master HTTP, the master's handling and operator event, the
 *   DNS service's zone update, and one query round trip. p50/p99 of each.
 *
 * Usage: npm run bench:dns  (node dist/bench/dns.js [--seconds 5] [--inflight 100] [--tasks 10000]
 *        [--changes 200] [--background 1000])
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as packet from 'dns-packet';
import { DnsServer } from '../src/adapters/dns/index.js';
import { startMaster } from '../src/main/master.js';
import { FakeAgent, frameworkInfo, QUIET, Scheduler, taskInfo } from '../test/lib/mesos.js';
import { DEFAULT_DNS_CONFIG, type Rr, taskRecords, Zone } from '../src/core/dns/index.js';
import type { Task } from '../src/model/mesos.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const SECONDS = arg('seconds', 5);
const INFLIGHT = arg('inflight', 100);
const TASKS = arg('tasks', 10_000);
const APPS = Math.max(1, Math.floor(TASKS / 10));
const CHANGES = arg('changes', 200);
const BACKGROUND = arg('background', 1000);
const cfg = DEFAULT_DNS_CONFIG;

function buildRecords(): Rr[] {
  const out: Rr[] = [];
  for (let i = 0; i < TASKS; i++) {
    const app = i % APPS;
    const agent = i % 100;
    const t: Task = {
      name: `app-${app}`,
      task_id: { value: `app-${app}.${i}` },
      framework_id: { value: 'fw' },
      agent_id: { value: `m-S${agent}` },
      state: 'TASK_RUNNING',
      resources: [{ name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000 + (i % 1000), end: 31000 + (i % 1000) }] } }],
      statuses: [{ task_id: { value: `app-${app}.${i}` }, state: 'TASK_RUNNING' }],
    };
    out.push(...taskRecords(t, { id: `m-S${agent}`, ip: `10.0.${agent >> 8}.${(agent & 255) + 1}`, port: 5051 }, { id: 'fw', name: 'marathon' }, cfg));
  }
  return out;
}

/** Child mode: serve the records and print the port. */
async function serve(): Promise<void> {
  const zone = new Zone();
  const rrs = buildRecords();
  for (let i = 0; i < rrs.length; i += 100) zone.put(`s${i}`, rrs.slice(i, i + 100));
  const server = new DnsServer({ zone, config: cfg, host: '127.0.0.1', port: 0, upstreams: [] });
  await server.start();
  process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
}

function queryNames(): { name: string; type: 'A' | 'SRV' }[] {
  const q: { name: string; type: 'A' | 'SRV' }[] = [];
  for (let a = 0; a < APPS; a++) {
    q.push({ name: `app-${a}.marathon.mesos`, type: 'A' });
    q.push({ name: `app-${a}.marathon.slave.mesos`, type: 'A' });
    q.push({ name: `app-${a}.marathon.mesos`, type: 'A' });
    q.push({ name: `app-${a}.marathon.slave.mesos`, type: 'A' });
    q.push({ name: `_app-${a}._tcp.marathon.mesos`, type: 'SRV' });
  }
  return q;
}

interface Result {
  qps: number;
  lossPct: number;
  p50Ms: number;
  p99Ms: number;
  sent: number;
}

/** Closed loop: INFLIGHT queries outstanding; a query unanswered after 1 s counts as lost. */
function load(port: number, seconds: number): Promise<Result> {
  const names = queryNames();
  const wires = names.map((n) => packet.encode({ type: 'query', id: 0, flags: packet.RECURSION_DESIRED, questions: [{ name: n.name, type: n.type }] }));
  const sock = createSocket('udp4');
  const sentAt = new Float64Array(65536);
  const lat: number[] = [];
  let sent = 0;
  let received = 0;
  let lost = 0;
  let nextId = 0;
  let rng = 12345;
  const outstanding = new Set<number>();
  let stopAt = 0;
  let done = false;
  return new Promise((resolve) => {
    const sendOne = () => {
      if (done || performance.now() >= stopAt) return;
      let id = nextId;
      while (outstanding.has(id)) id = (id + 1) & 0xffff;
      nextId = (id + 1) & 0xffff;
      rng = (rng * 1103515245 + 12345) >>> 0;
      const w = wires[rng % wires.length] as Buffer;
      w.writeUInt16BE(id, 0);
      sentAt[id] = performance.now();
      outstanding.add(id);
      sent++;
      sock.send(w, port, '127.0.0.1');
    };
    sock.on('message', (msg) => {
      const id = msg.readUInt16BE(0);
      if (!outstanding.delete(id)) return;
      received++;
      lat.push(performance.now() - (sentAt[id] as number));
      sendOne();
    });
    const sweep = setInterval(() => {
      const now = performance.now();
      for (const id of outstanding) {
        if (now - (sentAt[id] as number) > 1000) {
          outstanding.delete(id);
          lost++;
          sendOne();
        }
      }
    }, 100);
    sock.bind(0, () => {
      const t0 = performance.now();
      stopAt = t0 + seconds * 1000;
      for (let i = 0; i < INFLIGHT; i++) sendOne();
      setTimeout(
        () => {
          done = true;
          clearInterval(sweep);
          lost += outstanding.size;
          sock.close();
          lat.sort((a, b) => a - b);
          const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? Number.NaN;
          resolve({ qps: received / seconds, lossPct: sent ? (100 * lost) / sent : 0, p50Ms: pct(0.5), p99Ms: pct(0.99), sent });
        },
        seconds * 1000 + 1100,
      );
    });
  });
}

function waitLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const i = buf.indexOf('\n');
      if (i >= 0) resolve(buf.slice(0, i));
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before it was ready`)));
  });
}

async function waitUdp(port: number, name: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((res) => {
      const s = createSocket('udp4');
      const t = setTimeout(() => {
        s.close();
        res(false);
      }, 100);
      s.on('message', () => {
        clearTimeout(t);
        s.close();
        res(true);
      });
      s.send(packet.encode({ type: 'query', id: 1, questions: [{ name, type: 'A' }] }), port, '127.0.0.1');
    });
    if (ok) return;
  }
  throw new Error(`no answer on port ${port}`);
}

/** Resends a query every 2 ms until `done(reply)`; resolves with the time the good reply arrived. */
function pollUntil(port: number, name: string, done: (reply: packet.Packet & { flags?: number }) => boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    let id = 0;
    const send = () =>
      sock.send(packet.encode({ type: 'query', id: ++id & 0xffff, flags: packet.RECURSION_DESIRED, questions: [{ name, type: 'A' }] }), port, '127.0.0.1');
    const timer = setInterval(send, 2);
    const limit = setTimeout(() => finish(new Error(`${name}: no expected answer in 5 s`)), 5000);
    const finish = (e?: Error, at?: number) => {
      clearInterval(timer);
      clearTimeout(limit);
      sock.close();
      if (e) reject(e);
      else resolve(at as number);
    };
    sock.on('message', (msg) => {
      const at = performance.now();
      if (done(packet.decode(msg) as packet.Packet & { flags?: number })) finish(undefined, at);
    });
    sock.bind(0, send);
  });
}

const quantile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? Number.NaN;

/** Master event → DNS answer, through the real master and its cluster DNS (see the header). */
async function propagation(): Promise<{ appear: number[]; gone: number[] }> {
  const running = await startMaster({ port: 0, store: 'memory', dnsPort: 0, dnsHttpPort: 0, dnsResolvers: [], config: QUIET });
  const dnsPort = running.dns?.dnsPort;
  if (!dnsPort) throw new Error('the master started no DNS');
  const base = `http://127.0.0.1:${running.port}`;
  const total = BACKGROUND + CHANGES;
  const agent = await FakeAgent.start(base, {
    hostname: '127.0.0.2',
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: total } },
      { name: 'mem', type: 'SCALAR', scalar: { value: total } },
    ],
  });
  const sched = await Scheduler.subscribe(base, frameworkInfo({ name: 'marathon' }));
  // Acknowledge every update as it comes (in the background).
  let seenEvents = 0;
  const ackAll = setInterval(() => {
    const evs = sched.ev.events;
    for (; seenEvents < evs.length; seenEvents++) {
      const e = evs[seenEvents];
      if (e.type === 'UPDATE' && e.update.status.uuid) void sched.ack(e.update.status).catch(() => {});
    }
  }, 20);
  const appear: number[] = [];
  const gone: number[] = [];
  try {
    const offer = await sched.offer(() => true, 10_000);
    const tasks = Array.from({ length: total }, (_, i) => taskInfo(offer, `p${i}`, { cpus: 1, mem: 1, name: `p${i}` }));
    await sched.launch(offer, tasks);
    for (let i = 0; i < BACKGROUND; i += 50)
      await Promise.all(tasks.slice(i, i + 50).map((_, j) => agent.update(sched.frameworkId, `p${i + j}`, 'TASK_RUNNING')));
    for (let i = BACKGROUND; i < total; i++) {
      const name = `p${i}.marathon.mesos`;
      const seen = pollUntil(dnsPort, name, (r) => (r.answers ?? []).some((a) => a.type === 'A'));
      let t0 = performance.now();
      await agent.update(sched.frameworkId, `p${i}`, 'TASK_RUNNING');
      appear.push((await seen) - t0);
      const off = pollUntil(dnsPort, name, (r) => ((r.flags ?? 0) & 15) === 3);
      t0 = performance.now();
      await agent.update(sched.frameworkId, `p${i}`, 'TASK_KILLED');
      gone.push((await off) - t0);
    }
  } finally {
    clearInterval(ackAll);
    sched.stream.close();
    agent.close();
    await running.stop();
  }
  return { appear, gone };
}

async function main(): Promise<void> {
  if (args.includes('--serve')) return serve();
  try {
    execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
  } catch {}
  const results: [string, Result | string][] = [];

  // Ours, in its own process on core 0.
  const self = fileURLToPath(import.meta.url);
  const ours = spawn('taskset', ['-c', '0', process.execPath, self, '--serve', '--tasks', String(TASKS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const { port } = JSON.parse(await waitLine(ours)) as { port: number };
    await waitUdp(port, 'app-0.marathon.mesos');
    await load(port, 1); // warm-up
    results.push(['dcos-ts', await load(port, SECONDS)]);
  } finally {
    ours.kill();
  }

  // dnsmasq on the same records.
  const dir = mkdtempSync(join(tmpdir(), 'bench-dns-'));
  const rrs = buildRecords();
  const hosts: string[] = [];
  const srv: string[] = [];
  for (const r of rrs) {
    if (r.type === 'A') hosts.push(`${r.ip} ${r.name}`);
    else if (r.type === 'SRV' && r.name.endsWith('._tcp.marathon.mesos') && !r.name.includes('.slave.'))
      srv.push(`srv-host=${r.name},${r.target},${r.port},${r.priority},${r.weight}`);
  }
  writeFileSync(join(dir, 'hosts'), `${hosts.join('\n')}\n`);
  writeFileSync(join(dir, 'dnsmasq.conf'), `${srv.join('\n')}\n`);
  const port = 20000 + (process.pid % 20000);
  const dm = spawn(
    'taskset',
    [
      '-c',
      '0',
      'dnsmasq',
      '--keep-in-foreground',
      '--no-resolv',
      '--no-hosts',
      '--no-poll',
      '--user=root',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      `--addn-hosts=${join(dir, 'hosts')}`,
      `--conf-file=${join(dir, 'dnsmasq.conf')}`,
      '--cache-size=10000',
      '--dns-forward-max=1000',
      '--local=/mesos/',
      '--pid-file=',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let dmErr = '';
  dm.stderr?.on('data', (d: Buffer) => {
    dmErr += d.toString();
  });
  try {
    await waitUdp(port, 'app-0.marathon.mesos');
    await load(port, 1);
    results.push(['dnsmasq', await load(port, SECONDS)]);
  } catch (e) {
    results.push(['dnsmasq', `not measured: ${(e as Error).message} ${dmErr.trim()}`]);
  } finally {
    dm.kill();
    rmSync(dir, { recursive: true, force: true });
  }

  console.log(`B6 DNS: ${TASKS} tasks (${APPS} service names), ${INFLIGHT} queries in flight, ${SECONDS} s, server on core 0, load on core 1`);
  console.log(`${'server'.padEnd(10)} ${'queries/s'.padStart(10)} ${'loss %'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`);
  for (const [name, r] of results) {
    if (typeof r === 'string') console.log(`${name.padEnd(10)} ${r}`);
    else
      console.log(
        `${name.padEnd(10)} ${r.qps.toFixed(0).padStart(10)} ${r.lossPct.toFixed(3).padStart(8)} ${r.p50Ms.toFixed(3).padStart(8)} ${r.p99Ms.toFixed(3).padStart(8)}`,
      );
  }
  const o = results[0]?.[1];
  const d = results[1]?.[1];
  if (typeof o === 'object' && typeof d === 'object')
    console.log(`ratio dcos-ts / dnsmasq: ${(o.qps / d.qps).toFixed(2)}x  (target >= 1.0x; Mesos-DNS anchor 8.5k/core, 4x = 34k)`);

  if (CHANGES > 0) {
    const p = await propagation();
    const f = (xs: number[]) => `p50 ${quantile(xs, 0.5).toFixed(1)} ms, p99 ${quantile(xs, 0.99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`;
    console.log(
      `\nDNS propagation (agent status update → master → DNS answer), ${BACKGROUND} other running tasks, ${CHANGES} tasks (target ≤ 1 s; Mesos-DNS polls every 30 s):`,
    );
    console.log(`  TASK_RUNNING → A record:   ${f(p.appear)}`);
    console.log(`  TASK_KILLED  → NXDOMAIN:   ${f(p.gone)}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
