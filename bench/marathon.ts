/**
 * Marathon placement benchmark (issue 5): N apps × M instances onto K agents, half the apps with
 * a `rack:LIKE:r[0-4]` constraint, agents spread over racks r0..r9.
 *
 * Everything is real except the machines: the Marathon service (validation, deployments,
 * placement, its Store, status handling) is subscribed in-process to the real Master (allocator,
 * offers, launches, status updates and acknowledgements, its registry in a memory Store), and
 * K simulated agents (src/sim/agent.ts) speak the agent protocol to it over the simulator's
 * network with zero latency; their tasks report TASK_RUNNING at once. Virtual time (SimClock)
 * drives the timers of all three; every figure is wall-clock time of this one process.
 *
 * Printed: tasks/s from the first POST to the last TASK_RUNNING stored by Marathon, p99 time to
 * place (POST to the ACCEPT carrying the task), p99 of the mutating API calls made while the load
 * runs (create, then a scale of every tenth app). Those calls go through a real HTTP server
 * (src/api/marathon.ts on 127.0.0.1, a keep-alive client in this process): both the round trip
 * the client sees and the service call behind the handler are printed, and a GET of an app with
 * its tasks after every tenth create and a GET /v2/queue after every hundredth give a read figure.
 * The HTTP figures include loopback and this one process's event loop, which also runs the
 * cluster, so a request may wait behind a slice of simulation.
 * Peers: Marathon about 555 tasks/s; Nomad C1M 3,750/s on 5 servers; targets >= 4,000/s, p99 < 100 ms.
 *
 * Usage: node dist/bench/marathon.js [--apps 1000] [--instances 100] [--agents 10000] [--quick]
 * (npm run bench:marathon). --quick: 100 apps onto 1,000 agents.
 */
import { Agent as HttpAgent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Router, serveHttp } from '../src/api/http.js';
import { marathonRoutes } from '../src/api/marathon.js';
import { MemoryStore } from '../src/adapters/store/memory.js';
import { Random } from '../src/base/random.js';
import * as R from '../src/core/resources/index.js';
import type { Attribute } from '../src/model/mesos.js';
import type { EventSink } from '../src/ports/sink.js';
import { DEFAULT_MASTER_CONFIG } from '../src/services/master/config.js';
import type { Master } from '../src/services/master/master.js';
import { Marathon, type SchedulerTransport } from '../src/services/marathon/index.js';
import { DEFAULT_SIM_AGENT, SimAgent } from '../src/sim/agent.js';
import { SimClock } from '../src/sim/clock.js';
import { MasterHost, SimMasterLink } from '../src/sim/master-host.js';
import { SimNetwork, ZERO_LATENCY } from '../src/sim/network.js';
import { Trace } from '../src/sim/trace.js';

type Json = Record<string, any>;

const QUICK = process.argv.includes('--quick');
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const APPS = arg('apps', QUICK ? 100 : 1000);
const INSTANCES = arg('instances', 100);
const AGENTS = arg('agents', QUICK ? 1000 : 10_000);
const TOTAL = APPS * INSTANCES;
/** Virtual time handed to the cluster between two API calls while apps are being posted. */
const SLICE_MS = 5;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};
const fmt = (x: number, digits = 0): string => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function registered(m: Master | undefined): number {
  if (!m) return 0;
  let n = 0;
  for (const a of m.agents.values()) if (a.state === 'REGISTERED') n++;
  return n;
}

async function main(): Promise<void> {
  const clock = new SimClock();
  clock.coalesceInstants = true;
  const random = new Random(1);
  const trace = new Trace(() => clock.nowMs(), false);
  const net = new SimNetwork(clock, random.fork(), trace, ZERO_LATENCY);
  const host = new MasterHost(clock, random.fork(), net, trace, {
    config: { ...DEFAULT_MASTER_CONFIG, hostname: 'master.sim', ip: '10.0.0.1' },
    storeLatencyMinMs: 0,
    storeLatencyMaxMs: 0,
    agentStreamPingMs: DEFAULT_MASTER_CONFIG.heartbeatIntervalMs,
    traceLog: false,
  });
  await clock.drive(host.start());
  const s0 = performance.now();
  const total = R.normalize([R.scalar('cpus', 16), R.scalar('mem', 65_536), R.scalar('disk', 500_000), R.ranges('ports', [{ begin: 31000, end: 32000 }])]);
  const agentRng = random.fork();
  for (let i = 0; i < AGENTS; i++) {
    const node = `agent-${i}`;
    const attributes: Attribute[] = [{ name: 'rack', type: 'TEXT', text: { value: `r${i % 10}` } }];
    new SimAgent(
      node,
      clock,
      agentRng.fork(),
      new SimMasterLink(net, host, node),
      {
        ...DEFAULT_SIM_AGENT,
        hostname: `${node}.sim`,
        ip: `10.1.${(i >> 8) & 255}.${i & 255}`,
        resources: total,
        attributes,
        launchMinMs: 0,
        launchMaxMs: 0,
        sendStarting: false,
      },
      trace,
    ).start();
  }
  while (registered(host.master) < AGENTS) await clock.runUntil(clock.nowMs() + 50);
  const setupS = (performance.now() - s0) / 1000;

  // Marathon in-process, as src/main/marathon.ts composes it, with the ACCEPTs timed.
  const launchedAt = new Map<string, number>();
  const callCounts = new Map<string, number>();
  const master = (): Master => {
    if (!host.master) throw new Error('master is down');
    return host.master;
  };
  const transport: SchedulerTransport = {
    subscribe: (call, sink: EventSink, streamId) => master().subscribe(call as Parameters<Master['subscribe']>[0], sink, streamId, '10.0.0.2'),
    call: (call, streamId) => {
      callCounts.set(String(call.type), (callCounts.get(String(call.type)) ?? 0) + 1);
      if (call.type === 'ACCEPT') {
        const now = performance.now();
        for (const t of ((call as Json).accept.operations[0]?.launch?.task_infos ?? []) as Json[]) launchedAt.set(t.task_id.value, now);
      }
      return master().schedulerCall(call as unknown as Parameters<Master['schedulerCall']>[0], streamId);
    },
  };
  const m = new Marathon({
    clock,
    random: new Random(2),
    store: new MemoryStore(),
    transport,
    defer: (fn) => clock.defer(fn),
    config: { leader: '10.0.0.2:8080' },
  });
  await clock.drive(m.start());
  while (!m.isConnected) await clock.runUntil(clock.nowMs() + 10);

  let running = 0;
  m.onEventBus((e) => {
    if (e.eventType === 'status_update_event' && e.taskStatus === 'TASK_RUNNING') running++;
  });
  // The REST API on a real HTTP server over this Marathon; the service calls behind the
  // mutating handlers are timed by wrapping them.
  const serviceMs: number[] = [];
  const wrap = <K extends 'createApp' | 'updateApp'>(k: K): void => {
    const orig = m[k].bind(m) as (...a: unknown[]) => Promise<unknown>;
    (m as unknown as Record<string, unknown>)[k] = async (...a: unknown[]) => {
      const start = performance.now();
      try {
        return await orig(...a);
      } finally {
        serviceMs.push(performance.now() - start);
      }
    };
  };
  wrap('createApp');
  wrap('updateApp');
  const router = new Router();
  marathonRoutes(router, m, { version: 'bench' });
  const server = await serveHttp(router, 0, '127.0.0.1');
  const pool = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  const http = (method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: server.port,
          method,
          path,
          agent: pool,
          headers: data === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  };
  const postAt = new Map<string, number>();
  const apiMs: number[] = [];
  const readMs: number[] = [];
  const timed = async (into: number[], method: string, path: string, body?: unknown): Promise<void> => {
    const start = performance.now();
    const r = await http(method, path, body);
    into.push(performance.now() - start);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 500)}`);
  };
  const t0 = performance.now();
  for (let i = 0; i < APPS; i++) {
    const id = `/bench/app-${i}`;
    postAt.set(id, performance.now());
    await timed(apiMs, 'POST', '/v2/apps', {
      id,
      cmd: 'sleep 1000',
      cpus: 0.1,
      mem: 32,
      instances: i % 10 === 0 ? 1 : INSTANCES,
      ...(i % 2 === 0 ? { constraints: [['rack', 'LIKE', 'r[0-4]']] } : {}),
    });
    await clock.runUntil(clock.nowMs() + SLICE_MS);
    if (i % 10 === 9) {
      // A scale while the load runs: the app created 9 calls ago goes from 1 to its full size.
      await timed(apiMs, 'PUT', `/v2/apps/bench/app-${i - 9}?force=true`, { instances: INSTANCES });
      await clock.runUntil(clock.nowMs() + SLICE_MS);
      // A read: an app created earlier, with its tasks.
      await timed(readMs, 'GET', `/v2/apps/bench/app-${i - 5}?embed=app.tasks`);
    }
    if (i % 100 === 99) await timed(readMs, 'GET', '/v2/queue');
  }
  const v0 = clock.nowMs();
  while (running < TOTAL) {
    await clock.runUntil(clock.nowMs() + 50);
    if (clock.nowMs() - v0 > 3_600_000) throw new Error(`stuck: ${running}/${TOTAL} running, queue ${JSON.stringify(m.queue()[0] ?? {}).slice(0, 2000)}`);
  }
  const elapsedS = (performance.now() - t0) / 1000;
  const placeMs: number[] = [];
  for (const t of m.instances.values()) {
    const at = launchedAt.get(t.taskId);
    const posted = postAt.get(t.appId);
    if (at !== undefined && posted !== undefined && at >= posted) placeMs.push(at - posted);
  }
  const rate = TOTAL / elapsedS;
  const apiP99 = pct(apiMs, 99);
  const serviceP99 = pct(serviceMs, 99);
  console.log(`marathon through the real master: ${fmt(APPS)} apps x ${INSTANCES} instances onto ${fmt(AGENTS)} simulated agents (half with rack:LIKE:r[0-4])`);
  console.log(`  agents registered in ${fmt(setupS, 1)} s (setup, not counted)`);
  console.log(
    `  tasks/s, first POST to last TASK_RUNNING stored: ${fmt(rate)}   target >= 4,000/s; Nomad C1M 3,750/s; Marathon ~555/s  ${rate >= 4000 ? 'ok' : 'MISSED'}`,
  );
  console.log(`  time to place, POST to ACCEPT: p50 ${fmt(pct(placeMs, 50))} ms, p99 ${fmt(pct(placeMs, 99))} ms`);
  console.log(
    `  mutating API calls during the load (${apiMs.length} create/scale), HTTP round trip: p50 ${fmt(pct(apiMs, 50), 2)} ms, p99 ${fmt(apiP99, 2)} ms   target p99 < 100 ms  ${apiP99 < 100 ? 'ok' : 'MISSED'}`,
  );
  console.log(`    the service call behind the handler: p50 ${fmt(pct(serviceMs, 50), 2)} ms, p99 ${fmt(serviceP99, 2)} ms`);
  console.log(
    `  reads during the load (${readMs.length}: GET /v2/apps/{id}?embed=app.tasks, GET /v2/queue), HTTP round trip: p50 ${fmt(pct(readMs, 50), 2)} ms, p99 ${fmt(pct(readMs, 99), 2)} ms`,
  );
  console.log(`  virtual time ${fmt((clock.nowMs() - v0) / 1000, 1)} s after the last POST; heap ${fmt(process.memoryUsage().heapUsed / 1048576)} MB`);
  console.log(
    `  scheduler calls: ${[...callCounts].map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}; offers processed ${fmt(m.counters['marathon.offers.processed'] ?? 0)}`,
  );
  await m.stop();
  pool.destroy();
  await server.close();
  host.crash();
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
