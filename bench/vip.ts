/**
 * B7 (part): the VIP data path and the edge LB, on loopback (reference/performance-anchors.md).
 *
 * - Backends: TCP echo servers in a child process (pinned to core 0 with taskset when present),
 *   on 127.0.0.2-4. Every path gets its own backend ports, so no path inherits another's
 *   TIME_WAIT sockets, except the two "PAWS trap" rows, which do so on purpose.
 * - Paths: direct to one backend, before the nft table exists and again with it loaded (its NAT
 *   hooks put conntrack on every loopback flow); through an nftables VIP (the real NftDataPath,
 *   numgen inc over 3 backends, local route with `src 127.11.0.1` as `dcos up` sets it); through
 *   HAProxy 2.6 in mode tcp (one thread); through the userspace proxy (ProxyDataPath, in the load
 *   generator's process: a pessimistic figure).
 * - PAWS trap (machine-notes.md): a backend that closes first (so it keeps the TIME_WAIT socket)
 *   is loaded directly, then at once through a one-backend VIP: the client's port is picked before
 *   DNAT, so a SYN may land on the server's TIME_WAIT socket of the direct flow.
 * - Load: this process (core 1) opens a connection, sends 1 byte, reads it back, closes, with
 *   --parallel such loops, for --seconds per path (default 10: several times the ~2 s it takes to
 *   cycle through the 28k ephemeral ports, so the figure is the steady state). Reports new
 *   connections/s, p50/p99 per connection, and connects that failed.
 * - Propagation: the real DnsService + VipService + NftDataPath; a task's TASK_RUNNING/TASK_KILLING
 *   applied as an operator event, time until the new nft table is in the kernel; p50/p99 of 200.
 *
 * Usage: npm run bench:vip  (node dist/bench/vip.js [--seconds 10] [--parallel 20]); needs root.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RealClock } from '../src/adapters/clock-real.js';
import { Haproxy } from '../src/adapters/net/haproxy.js';
import { addLocalRoute, localRouteSource, NftDataPath, runCmd } from '../src/adapters/net/nft.js';
import { ProxyDataPath } from '../src/adapters/net/proxy.js';
import { DEFAULT_DNS_CONFIG } from '../src/core/dns/index.js';
import { parseRange, type Vip, type VipRange } from '../src/core/vip/index.js';
import type { Task } from '../src/model/mesos.js';
import { DnsService } from '../src/services/dns/index.js';
import { VipService } from '../src/services/vip/index.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const SECONDS = arg('seconds', 10);
/** Paired rounds: direct and VIP alternate, --round-seconds each, so drifting load from other work hits both alike. */
const ROUNDS = arg('rounds', 6);
const ROUND_SECONDS = arg('round-seconds', 5);
const PARALLEL = arg('parallel', 20);
const range = parseRange('11.0.0.0/8') as VipRange;
/** The VIP route's preferred source as `dcos up` sets it (--vip_src). */
const VIP_SRC = '127.11.0.1';
const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

// [host, port, closeFirst]: a close-first server answers and closes (it keeps the TIME_WAIT socket).
const ECHO = `
const net = require('net');
const ports = JSON.parse(process.argv[1]);
let n = 0;
for (const [host, port, closeFirst] of ports) net.createServer((s) => { s.on('data', (d) => (closeFirst ? s.end(d) : s.write(d))); s.on('error', () => {}); }).listen(port, host, () => { if (++n === ports.length) process.stdout.write('ready\\n'); });
`;

async function echoServers(ports: [string, number, boolean?][]): Promise<ChildProcess> {
  const cmd = hasTaskset ? 'taskset' : process.execPath;
  const a = hasTaskset ? ['-c', '0', process.execPath, '-e', ECHO, JSON.stringify(ports)] : ['-e', ECHO, JSON.stringify(ports)];
  const child = spawn(cmd, a, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout?.once('data', () => resolve()));
  return child;
}

function oneConnection(host: string, port: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    s.setNoDelay(true);
    s.once('connect', () => s.write('x'));
    s.once('data', () => {
      s.destroy();
      resolve(performance.now() - t0);
    });
    s.once('error', reject);
  });
}

async function load(host: string, port: number, seconds = SECONDS): Promise<{ cps: number; p50: number; p99: number; errors: number; stalls: number }> {
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (performance.now() < end) {
        try {
          lat.push(await oneConnection(host, port));
        } catch {
          errors++;
        }
      }
    }),
  );
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? Number.NaN;
  return { cps: lat.length / seconds, p50: q(0.5), p99: q(0.99), errors, stalls: lat.filter((l) => l >= 500).length };
}

/**
 * Loads a VIP with the range's route set to this preferred source first; other clusters starting
 * on the machine replace the route (older builds without a source), so the row says when the
 * route changed under the measurement.
 */
async function loadVip(ip: string, port: number, src: string, seconds = SECONDS): Promise<Awaited<ReturnType<typeof load>> & { note?: string }> {
  const e = await addLocalRoute(range, src);
  if (e) throw new Error(e);
  const r = await load(ip, port, seconds);
  const now = await localRouteSource(range);
  return now === src ? r : { ...r, note: `route src changed to '${now ?? 'none'}' by another process during the run` };
}

const vipOf = (ip: string, port: number, backends: [string, number][]): Vip => ({
  label: `/bench:${port}`,
  kind: 'named',
  protocol: 'tcp',
  ip,
  port,
  frameworks: ['marathon'],
  backends: backends.map(([h, p], i) => ({ ip: h, port: p, taskId: `t${i}`, agentId: 'a' })),
});

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('bench:vip needs root (nftables, a local route for the VIP range)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-vip-'));
  const hosts = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
  const sets = [0, 1, 2, 3, 4].map((k) => hosts.map((h, i): [string, number] => [h, 40100 + k * 10 + i]));
  const trap: [string, number] = ['127.0.0.2', 40190];
  const trap2: [string, number] = ['127.0.0.2', 40191];
  const echo = await echoServers([...sets.flat(), [...trap, true], [...trap2, true]]);
  const results: Record<string, Awaited<ReturnType<typeof loadVip>>> = {};
  const nft = new NftDataPath({ range, table: 'dcos_vip_bench', src: VIP_SRC });
  const proxy = new ProxyDataPath(() => {});
  const haproxy = new Haproxy({ dir, log: () => {} });
  try {
    const [direct, directNft, viaNft, viaHaproxy, viaProxy] = sets as [string, number][][] as [
      [string, number][],
      [string, number][],
      [string, number][],
      [string, number][],
      [string, number][],
    ];
    const tables = (await runCmd('nft', ['list', 'tables'])).stdout.trim().split('\n').filter(Boolean).length;
    results[`direct, no table of ours (${tables} nft tables)`] = await load(direct[0]?.[0] ?? '', direct[0]?.[1] ?? 0);

    await nft.start();
    await nft.apply([vipOf('11.0.0.10', 7000, viaNft), vipOf('11.0.0.12', 7003, [trap]), vipOf('11.0.0.13', 7004, [trap2])]);
    results['direct, VIP table loaded'] = await load(directNft[0]?.[0] ?? '', directNft[0]?.[1] ?? 0);
    await addLocalRoute(range, VIP_SRC);
    const source = await new Promise<string>((resolve, reject) => {
      const c = connect({ host: '11.0.0.10', port: 7000 }, () => {
        resolve(c.localAddress ?? '?');
        c.destroy();
      });
      c.once('error', reject);
    });
    console.log(
      `a local client of the VIP has source address ${source} (the route: ${(await runCmd('ip', ['route', 'show', 'table', 'local', 'exact', range.cidr])).stdout.trim()})`,
    );
    results[`nftables VIP (3 backends), src ${VIP_SRC}`] = await loadVip('11.0.0.10', 7000, VIP_SRC);
    // Paired rounds on the same backends as the rows above (their TIME_WAIT ports are client-side).
    const paired: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const d = await load(directNft[0]?.[0] ?? '', directNft[0]?.[1] ?? 0, ROUND_SECONDS);
      const v = await loadVip('11.0.0.10', 7000, VIP_SRC, ROUND_SECONDS);
      if (!v.note) paired.push(v.cps / d.cps);
      console.log(
        `round ${r + 1}: direct ${d.cps.toFixed(0)}/s, VIP ${v.cps.toFixed(0)}/s, ×${(v.cps / d.cps).toFixed(2)} (stalls ${d.stalls}/${v.stalls}, errors ${d.errors}/${v.errors})${v.note ? `; left out: ${v.note}` : ''}`,
      );
    }
    paired.sort((a, b) => a - b);
    const pairedText =
      paired.length > 0
        ? `VIP / direct (table loaded), ${ROUNDS} paired rounds of ${ROUND_SECONDS} s: ${paired.length} kept, median ×${(paired[Math.floor(paired.length / 2)] ?? 0).toFixed(2)}, range ×${(paired[0] ?? 0).toFixed(2)}–×${(paired.at(-1) ?? 0).toFixed(2)}`
        : '';

    // The trap: VIP clients with the same source as direct clients (127.0.0.1) may pick a port
    // whose (source, port) → backend still has a server-side TIME_WAIT socket of a direct flow.
    results['PAWS trap: close-first backend, direct'] = await load(...trap);
    results['PAWS trap: then via VIP, src 127.0.0.1'] = await loadVip('11.0.0.12', 7003, '127.0.0.1');
    // The same with a source address only VIP clients use: their (source, port) pairs can no
    // longer meet the server's TIME_WAIT sockets of direct flows from 127.0.0.1.
    results['PAWS trap 2: close-first backend, direct'] = await load(...trap2);
    results[`PAWS trap 2: then via VIP, src ${VIP_SRC}`] = await loadVip('11.0.0.13', 7004, VIP_SRC);
    await addLocalRoute(range, VIP_SRC);

    const cfg = [
      'global',
      '  maxconn 4096',
      '  nbthread 1',
      `  stats socket ${join(dir, 'h.sock')} mode 600 level admin expose-fd listeners`,
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      '  timeout client 60s',
      '  timeout server 60s',
      'listen vip',
      '  bind 127.0.0.1:7001',
      '  balance roundrobin',
      ...viaHaproxy.map(([h, p], i) => `  server s${i} ${h}:${p}`),
      '',
    ].join('\n');
    const e = await haproxy.load(cfg);
    if (e) throw new Error(e);
    results['HAProxy tcp'] = await load('127.0.0.1', 7001);

    // The nft table's input rule refuses range addresses it does not DNAT: the proxy runs without it.
    // Other clusters' VIP tables on this machine refuse it too: then the row is left out.
    await nft.stop();
    const others = (await runCmd('nft', ['list', 'tables'])).stdout.match(/table ip dcos_vip_\w+/g) ?? [];
    if (others.length === 0) {
      await proxy.apply([vipOf('11.0.0.11', 7002, viaProxy)]);
      results['userspace proxy (same process)'] = await load('11.0.0.11', 7002);
    } else console.log(`userspace proxy row left out: other clusters' VIP tables refuse the range (${others.join(', ')})`);

    // Propagation: operator events → DnsService → VipService → nft, until the table is applied.
    const dns = new DnsService(DEFAULT_DNS_CONFIG);
    dns.load(
      {
        get_agents: { agents: [{ agent_info: { id: { value: 'a1' }, hostname: '127.0.0.2' }, pid: 'slave(1)@127.0.0.2:5051' }] },
        get_frameworks: { frameworks: [{ framework_info: { id: { value: 'fw' }, name: 'marathon', user: 'root' } as never }] },
      },
      undefined,
      [],
    );
    await nft.start();
    const svc = new VipService({ clock: new RealClock(), range, dataPath: nft, dcosDomain: 'thisdcos.directory', log: () => {} });
    await svc.start(dns);
    const task = (i: number): Task => ({
      name: `t${i}`,
      task_id: { value: `t${i}` },
      framework_id: { value: 'fw' },
      agent_id: { value: 'a1' },
      state: 'TASK_RUNNING',
      resources: [],
      statuses: [],
      discovery: {
        visibility: 'FRAMEWORK',
        ports: { ports: [{ number: 31000 + i, protocol: 'tcp', labels: { labels: [{ key: 'VIP_0', value: `/app${i % 50}:80` }] } }] },
      },
    });
    for (let i = 0; i < 500; i++) dns.apply({ type: 'TASK_ADDED', task_added: { task: task(i) } });
    await svc.idle();
    const samples: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      const state = i % 2 === 0 ? 'TASK_KILLING' : 'TASK_RUNNING';
      dns.apply({ type: 'TASK_UPDATED', task_updated: { framework_id: { value: 'fw' }, state, status: { task_id: { value: `t${i % 500}` }, state } } });
      await svc.idle();
      samples.push(performance.now() - t0);
    }
    await svc.stop();
    samples.sort((a, b) => a - b);
    const base = results['direct, VIP table loaded'];
    console.log(`\nB7 VIP data path: new connections/s (1-byte echo, ${PARALLEL} parallel, ${SECONDS} s), loopback, 2 cores`);
    console.log('path (×direct: against direct with the table loaded)   conn/s    ×direct   p50 ms   p99 ms   ≥0.5 s  errors');
    for (const [name, r] of Object.entries(results)) {
      console.log(
        `${name.padEnd(52)} ${r.cps.toFixed(0).padStart(7)}   ${(r.cps / (base?.cps ?? 1)).toFixed(2).padStart(6)}   ${r.p50.toFixed(2).padStart(6)}   ${r.p99.toFixed(2).padStart(6)}   ${String(r.stalls).padStart(6)}  ${r.errors}${r.note ? `  (${r.note})` : ''}`,
      );
    }
    if (pairedText) console.log(`\n${pairedText}`);
    const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]?.toFixed(1);
    console.log(
      `\nVIP propagation (event → nft table applied), 500 tasks / 50 VIPs, 200 changes: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms (target p99 ≤ 100 ms; Minuteman ~11 s)`,
    );
    writeFileSync(join(dir, 'done'), '');
  } finally {
    await proxy.stop();
    await haproxy.stop();
    await nft.stop();
    echo.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
