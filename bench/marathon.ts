/**
 * Marathon placement benchmark (issue 5): N apps × M instances onto K agents, half the apps with
 * a `rack:LIKE:r[0-4]` constraint, agents spread over racks r0..r9. The real Marathon service
 * runs against an in-process stand-in for the master that offers every agent's remaining
 * resources each round and reports each launched task TASK_RUNNING at once, so the figure is
 * Marathon's own cost: validation, deployments, placement, the Store, status handling.
 *
 * Prints tasks/s from the first POST to the last TASK_RUNNING stored, p99 time from an app's
 * POST to the launch of each of its tasks, and p50/p99 of the POSTs (mutating API calls) made
 * while the load runs. Peers: Marathon about 555 tasks/s; Nomad C1M 3,750/s on 5 servers.
 *
 * Usage: node dist/bench/marathon.js [--apps 1000] [--instances 100] [--agents 10000]
 */
import { performance } from 'node:perf_hooks';
import { RealClock } from '../src/adapters/clock-real.js';
import { MemoryStore } from '../src/adapters/store/memory.js';
import { Random } from '../src/base/random.js';
import type { EventSink } from '../src/ports/sink.js';
import { Marathon } from '../src/services/marathon/index.js';
import type { SchedulerTransport } from '../src/services/marathon/index.js';

type Json = Record<string, any>;

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const APPS = arg('apps', 1000);
const INSTANCES = arg('instances', 100);
const AGENTS = arg('agents', 10000);
const TOTAL = APPS * INSTANCES;

interface Agent {
  id: string;
  host: string;
  rack: string;
  cpus: number;
  mem: number;
  ports: number;
  outstanding: boolean;
}

class SimMaster implements SchedulerTransport {
  sink: EventSink | undefined;
  readonly agents: Agent[] = [];
  private seq = 0;
  private readonly offered = new Map<string, Agent>();
  launchedAt = new Map<string, number>();
  running = 0;
  constructor() {
    for (let i = 0; i < AGENTS; i++) {
      this.agents.push({ id: `a${i}`, host: `10.0.${i >> 8}.${i & 255}`, rack: `r${i % 10}`, cpus: 32, mem: 65536, ports: 1000, outstanding: false });
    }
  }
  async subscribe(_call: Json, sink: EventSink): Promise<undefined> {
    this.sink = sink;
    sink.send({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: 'fw' }, master_info: { hostname: 'm', port: 5050 } } });
    return undefined;
  }
  /** One allocation round: every agent with room and no outstanding offer, in batches. */
  offerRound(): void {
    const batch: Json[] = [];
    for (const a of this.agents) {
      if (a.outstanding || a.cpus < 0.1) continue;
      a.outstanding = true;
      const id = `o${++this.seq}`;
      this.offered.set(id, a);
      batch.push({
        id: { value: id },
        framework_id: { value: 'fw' },
        agent_id: { value: a.id },
        hostname: a.host,
        attributes: [{ name: 'rack', type: 'TEXT', text: { value: a.rack } }],
        resources: [
          { name: 'cpus', type: 'SCALAR', scalar: { value: a.cpus } },
          { name: 'mem', type: 'SCALAR', scalar: { value: a.mem } },
          { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31000 + a.ports - 1 }] } },
        ],
      });
      if (batch.length === 1000) this.sink?.send({ type: 'OFFERS', offers: { offers: batch.splice(0) } });
    }
    if (batch.length) this.sink?.send({ type: 'OFFERS', offers: { offers: batch } });
  }
  async call(call: Json): Promise<{ status: number }> {
    if (call.type === 'ACCEPT' || call.type === 'DECLINE') {
      const ids = (call.accept ?? call.decline).offer_ids as { value: string }[];
      for (const o of ids) {
        const a = this.offered.get(o.value);
        this.offered.delete(o.value);
        if (a) a.outstanding = false;
        if (a && call.type === 'ACCEPT') {
          for (const t of call.accept.operations[0].launch.task_infos as Json[]) {
            for (const r of t.resources) {
              if (r.name === 'cpus') a.cpus -= r.scalar.value;
              if (r.name === 'mem') a.mem -= r.scalar.value;
              if (r.name === 'ports') a.ports -= 1;
            }
            this.launchedAt.set(t.task_id.value, performance.now());
            const taskId = t.task_id;
            setImmediate(() => this.sink?.send({ type: 'UPDATE', update: { status: { task_id: taskId, state: 'TASK_RUNNING', agent_id: { value: a.id } } } }));
          }
        }
      }
    }
    return { status: 202 };
  }
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};

async function main(): Promise<void> {
  const master = new SimMaster();
  const m = new Marathon({
    clock: new RealClock(),
    random: new Random(1),
    store: new MemoryStore(),
    transport: master,
    defer: (fn) => setImmediate(fn),
    config: { tickMs: 1000 },
  });
  await m.start();
  await new Promise((r) => setImmediate(r));
  const postAt = new Map<string, number>();
  const apiMs: number[] = [];
  const rounds = setInterval(() => master.offerRound(), 5);
  const t0 = performance.now();
  for (let i = 0; i < APPS; i++) {
    const id = `/bench/app-${i}`;
    const start = performance.now();
    postAt.set(id, start);
    const r = await m.createApp(
      { id, cmd: 'sleep 1000', cpus: 0.1, mem: 32, instances: INSTANCES, ...(i % 2 === 0 ? { constraints: [['rack', 'LIKE', 'r[0-4]']] } : {}) },
      false,
    );
    apiMs.push(performance.now() - start);
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    if (i % 50 === 0) await new Promise((res) => setImmediate(res));
  }
  const running = () => {
    let n = 0;
    for (const t of m.instances.values()) if (t.state === 'TASK_RUNNING') n++;
    return n;
  };
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    if (running() >= TOTAL) break;
    if (performance.now() - t0 > 600_000) throw new Error(`timed out with ${running()}/${TOTAL} running`);
  }
  const elapsedS = (performance.now() - t0) / 1000;
  clearInterval(rounds);
  const placeMs: number[] = [];
  for (const t of m.instances.values()) {
    const at = master.launchedAt.get(t.taskId);
    const posted = postAt.get(t.appId);
    if (at !== undefined && posted !== undefined) placeMs.push(at - posted);
  }
  await m.stop();
  console.log(`marathon placement: ${APPS} apps x ${INSTANCES} instances onto ${AGENTS} agents (half with rack:LIKE:r[0-4])`);
  console.log(`  tasks/s (POST to TASK_RUNNING stored): ${Math.round(TOTAL / elapsedS)}   peers: Marathon ~555/s, Nomad C1M 3,750/s; target >= 4,000/s`);
  console.log(`  time to place, POST to launch: p50 ${pct(placeMs, 50).toFixed(0)} ms, p99 ${pct(placeMs, 99).toFixed(0)} ms`);
  console.log(`  POST /v2/apps during the load: p50 ${pct(apiMs, 50).toFixed(2)} ms, p99 ${pct(apiMs, 99).toFixed(2)} ms; target p99 < 100 ms`);
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
