import { MemoryStore } from '../adapters/store/memory.js';
import type { Random } from '../base/random.js';
import type { EventSink } from '../ports/sink.js';
import type { HealthProber, ProbeResult } from '../services/marathon/health.js';
import { Marathon, type SchedulerTransport } from '../services/marathon/index.js';
import type { Master } from '../services/master/master.js';
import type { SimClock } from './clock.js';
import { MASTER_NODE, type MasterHost, type SchedulerEvent } from './master-host.js';
import type { SimNetwork } from './network.js';
import type { AgentNode } from './node.js';
import { SimStore } from './store.js';
import type { Trace } from './trace.js';

/**
 * The real Marathon service (src/services/marathon) in the simulated cluster: its scheduler
 * transport goes over the simulator's faulty network to the master host, its Store is a
 * MemoryStore behind a crashable SimStore facade (so that it survives a Marathon restart and
 * loses only the writes in flight), and its HTTP health checks are answered from the simulated
 * agents. A `marathon-crash` fault drops the Marathon object; the restart builds a new one from
 * the store, which re-subscribes with the stored framework id, reconciles and carries on.
 */

export const MARATHON_NODE = 'marathon';

type CallReply = { status: number; body?: unknown };

const never = <T>(): Promise<T> => new Promise<T>(() => {});

/**
 * The v1 scheduler API over the simulated network, as HttpSchedulerTransport speaks it over
 * HTTP: errors are answered as 503, the stream is dropped after three missed heartbeats (a
 * partition holds events back), and once the process is dead nothing more happens.
 */
export class SimSchedulerTransport implements SchedulerTransport {
  dead = false;
  /** Injected bug: terminal updates never reach Marathon (acknowledged on its behalf). */
  dropTerminalUpdates = false;
  private streamIdNow: string | undefined;
  private frameworkId: string | undefined;

  constructor(
    private readonly net: SimNetwork,
    private readonly host: MasterHost,
    private readonly clock: SimClock,
    readonly node: string,
  ) {}

  async subscribe(call: Record<string, unknown>, sink: EventSink): Promise<CallReply | undefined> {
    if (this.dead) return never();
    this.streamIdNow = undefined;
    let r: Awaited<ReturnType<MasterHost['schedulerSubscribe']>>;
    try {
      r = await this.host.schedulerSubscribeOver(
        this.node,
        `SUBSCRIBE marathon ${(call.framework_id as { value?: string })?.value ?? 'new'}`,
        call as Parameters<Master['subscribe']>[0],
      );
    } catch (e) {
      if (this.dead) return never();
      return { status: 503, body: (e as Error).message };
    }
    if (this.dead) {
      if ('stream' in r) r.stream.clientClose();
      return never();
    }
    if (!('stream' in r)) return r;
    const stream = r.stream;
    this.streamIdNow = r.streamId;
    let idleMs = 60_000;
    let timer: { cancel(): void } | undefined;
    const arm = (): void => {
      timer?.cancel();
      timer = this.clock.setTimer(idleMs, () => {
        stream.clientClose();
        sink.close();
      });
    };
    arm();
    stream.attach(
      (ev: SchedulerEvent) => {
        if (sink.closed || this.dead) return;
        if (ev.type === 'SUBSCRIBED') {
          this.frameworkId = (ev.subscribed as { framework_id?: { value?: string } } | undefined)?.framework_id?.value;
          const hb = Number((ev.subscribed as { heartbeat_interval_seconds?: number } | undefined)?.heartbeat_interval_seconds ?? 15);
          if (hb > 0) idleMs = Math.round(hb * 1000 * 3);
        }
        arm();
        if (this.dropTerminalUpdates && ev.type === 'UPDATE' && this.swallow(ev)) return;
        sink.send(ev);
      },
      () => {
        timer?.cancel();
        if (this.streamIdNow === r.streamId) this.streamIdNow = undefined;
        sink.close();
      },
    );
    sink.onClose(() => {
      timer?.cancel();
      if (this.streamIdNow === r.streamId) this.streamIdNow = undefined;
      stream.clientClose();
    });
    return undefined;
  }

  /** The `marathon-miss-terminal-updates` bug: acknowledges a terminal update itself and hides it. */
  private swallow(ev: SchedulerEvent): boolean {
    const status = (ev.update as { status?: { state?: string; uuid?: string; task_id: unknown; agent_id: unknown } } | undefined)?.status;
    if (!status || !['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE'].includes(status.state ?? ''))
      return false;
    if (status.uuid && this.frameworkId)
      void this.call({
        type: 'ACKNOWLEDGE',
        framework_id: { value: this.frameworkId },
        acknowledge: { agent_id: status.agent_id, task_id: status.task_id, uuid: status.uuid },
      });
    return true;
  }

  /** Like the HTTP transport, calls carry the stream id the master gave the current subscription. */
  async call(call: Record<string, unknown>): Promise<CallReply> {
    if (this.dead) return never();
    const streamId = this.streamIdNow;
    if (!streamId) return { status: 503, body: 'not subscribed' };
    try {
      const r = await this.net.request(this.node, MASTER_NODE, `${String(call.type)} marathon`, () =>
        this.host.schedulerCall(call as unknown as Parameters<Master['schedulerCall']>[0], streamId),
      );
      if (this.dead) return never();
      return r;
    } catch (e) {
      if (this.dead) return never();
      return { status: 503, body: (e as Error).message };
    }
  }
}

/**
 * Marathon's HTTP/TCP health checks answered from the simulated machines: a probe of
 * host:port succeeds when the agent machine `host` is up, reachable, and runs a container
 * holding that port. Answers come after a network delay; an unreachable machine times out.
 */
export class SimHealthProber implements HealthProber {
  constructor(
    private readonly clock: SimClock,
    private readonly net: SimNetwork,
    private readonly agents: readonly AgentNode[],
  ) {}

  private probe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
    const node = host.replace(/\.sim$/, '');
    const a = this.agents.find((x) => x.node === node);
    const reachable = a !== undefined && this.net.connected(node, MASTER_NODE);
    return new Promise((resolve) => {
      const delay = reachable ? this.net.latencyMs() * 2 : timeoutMs;
      this.clock.setTimer(delay, () => {
        if (!reachable) return resolve({ ok: false, cause: `${host}:${port}: timed out` });
        const serves = a
          .runningTasks()
          .some((t) => t.resources.some((r) => r.name === 'ports' && (r.ranges?.range ?? []).some((x) => x.begin <= port && port <= x.end)));
        resolve(serves ? { ok: true } : { ok: false, cause: `${host}:${port}: connection refused` });
      });
    });
  }

  http(host: string, port: number, _path: string, _https: boolean, timeoutMs: number): Promise<ProbeResult> {
    return this.probe(host, port, timeoutMs);
  }

  tcp(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
    return this.probe(host, port, timeoutMs);
  }
}

/** An app the simulator declares to Marathon. */
export interface SimMarathonApp {
  id: string;
  instances: number;
  cpus: number;
  mem: number;
  constraints?: string[][];
  healthCheck?: boolean;
  maximumOverCapacity: number;
  minimumHealthCapacity: number;
}

/** The apps of a run: a few of a few instances, some with constraints, some with health checks. */
export function marathonApps(n: number, instances: number): SimMarathonApp[] {
  const out: SimMarathonApp[] = [];
  for (let i = 0; i < n; i++) {
    const kind = i % 3;
    out.push({
      id: `/sim/app-${i}`,
      instances,
      cpus: kind === 1 ? 0.5 : 0.1,
      mem: kind === 1 ? 256 : 64,
      ...(kind === 1 ? { constraints: [['hostname', 'UNIQUE']] } : kind === 2 ? { constraints: [['rack', 'LIKE', 'r[0-4]']] } : {}),
      healthCheck: kind !== 1,
      maximumOverCapacity: kind === 2 ? 0 : 0.5,
      minimumHealthCapacity: kind === 2 ? 0.5 : 1,
    });
  }
  return out;
}

/** Marathon's machine: the durable store and the current Marathon process. */
export class SimMarathonNode {
  readonly node = MARATHON_NODE;
  readonly durable = new MemoryStore();
  marathon: Marathon | undefined;
  private transport: SimSchedulerTransport | undefined;
  private store: SimStore | undefined;
  incarnation = 0;
  /** Inject the `marathon-miss-terminal-updates` bug. */
  bugDropTerminalUpdates = false;
  /** Instances per app as last acknowledged by Marathon's API, and values asked for but never answered. */
  readonly declared = new Map<string, number>();
  readonly unanswered = new Map<string, Set<number>>();
  /** Counters of the incarnations that died (the live one's are added by `counters`). */
  private readonly pastCounters: Record<string, number> = {};
  /** API calls made (scale, restart), for the stats. */
  apiCalls = 0;
  private version = 0;

  constructor(
    private readonly clock: SimClock,
    private readonly random: Random,
    private readonly net: SimNetwork,
    private readonly host: MasterHost,
    private readonly agents: readonly AgentNode[],
    private readonly trace: Trace,
    readonly apps: SimMarathonApp[],
    private readonly traceLog: boolean,
  ) {}

  get up(): boolean {
    return this.marathon !== undefined;
  }

  private lastFrameworkId: string | undefined;
  /** Marathon's framework id, also while it is down. */
  get knownFrameworkId(): string | undefined {
    const id = this.marathon?.frameworkId;
    if (id) this.lastFrameworkId = id;
    return this.lastFrameworkId;
  }

  /** Starts a Marathon process on the stored state. Resolves once it has loaded it. */
  async start(): Promise<void> {
    if (this.marathon) return;
    this.incarnation++;
    const random = this.random.fork();
    const transport = new SimSchedulerTransport(this.net, this.host, this.clock, this.node);
    transport.dropTerminalUpdates = this.bugDropTerminalUpdates;
    const store = new SimStore(this.durable, this.clock, random.fork(), 1, 5);
    const m = new Marathon({
      clock: this.clock,
      random,
      store,
      transport,
      prober: new SimHealthProber(this.clock, this.net, this.agents),
      defer: (fn) => this.clock.defer(fn),
      config: { leader: 'marathon.sim:8080' },
      ...(this.traceLog ? { log: (level: string, msg: string) => this.trace.record(`marathon.${level}`, msg) } : {}),
    });
    this.marathon = m;
    this.transport = transport;
    this.store = store;
    this.trace.record('marathon.start', `incarnation ${this.incarnation}`);
    await m.start();
  }

  /** Creates the declared apps (once, on the first incarnation). */
  async createApps(): Promise<void> {
    const m = this.marathon;
    if (!m) throw new Error('marathon is down');
    for (const a of this.apps) {
      const r = await m.createApp(this.definition(a, 'sleep 100000'), false);
      if (!r.ok) throw new Error(`marathon refused app ${a.id}: ${JSON.stringify(r)}`);
      this.declared.set(a.id, a.instances);
    }
  }

  private definition(a: SimMarathonApp, cmd: string): Record<string, unknown> {
    return {
      id: a.id,
      cmd,
      cpus: a.cpus,
      mem: a.mem,
      instances: a.instances,
      portDefinitions: [{ port: 0, protocol: 'tcp' }],
      ...(a.constraints ? { constraints: a.constraints } : {}),
      ...(a.healthCheck
        ? {
            healthChecks: [
              { protocol: 'HTTP', path: '/health', portIndex: 0, gracePeriodSeconds: 30, intervalSeconds: 10, timeoutSeconds: 5, maxConsecutiveFailures: 3 },
            ],
          }
        : {}),
      upgradeStrategy: { minimumHealthCapacity: a.minimumHealthCapacity, maximumOverCapacity: a.maximumOverCapacity },
      unreachableStrategy: { inactiveAfterSeconds: 60, expungeAfterSeconds: 120 },
      backoffSeconds: 1,
      maxLaunchDelaySeconds: 30,
    };
  }

  /** The process dies: writes in flight are lost, its connections reset, its timers stop. */
  crash(): void {
    const m = this.marathon;
    if (!m) return;
    this.trace.record('marathon.crash', `incarnation ${this.incarnation}`);
    for (const [k, v] of Object.entries(m.counters)) this.pastCounters[k] = (this.pastCounters[k] ?? 0) + v;
    this.store?.kill();
    if (this.transport) this.transport.dead = true;
    void m.stop();
    this.marathon = undefined;
    this.transport = undefined;
    this.store = undefined;
  }

  /** A user's change while faults are on: a scale by one or a new command (a rolling restart). */
  churn(rng: Random): void {
    const m = this.marathon;
    if (!m || this.apps.length === 0) return;
    const a = this.apps[rng.int(this.apps.length)]!;
    const base = a.instances;
    const current = this.declared.get(a.id) ?? base;
    const scale = rng.chance(0.5);
    const instances = scale ? Math.max(1, Math.min(base + 2, current + (rng.chance(0.5) ? 1 : -1))) : current;
    this.version++;
    const body = scale ? { instances } : { cmd: `sleep ${100000 + this.version}` };
    let pending = this.unanswered.get(a.id);
    if (!pending) this.unanswered.set(a.id, (pending = new Set()));
    pending.add(instances);
    this.apiCalls++;
    this.trace.record('marathon.api', `${a.id} ${JSON.stringify(body)}`);
    void m.updateApp(a.id, body, { force: true, partial: true }).then(
      (r) => {
        pending.delete(instances);
        if (r.ok) this.declared.set(a.id, instances);
      },
      () => pending.delete(instances),
    );
  }

  /** Marathon's counters summed over every incarnation. */
  counters(): Record<string, number> {
    const out = { ...this.pastCounters };
    for (const [k, v] of Object.entries(this.marathon?.counters ?? {})) out[k] = (out[k] ?? 0) + v;
    return out;
  }

  /** Values Marathon may rightly hold for an app's instance count. */
  acceptableInstances(appId: string): number[] {
    return [this.declared.get(appId) ?? 0, ...(this.unanswered.get(appId) ?? [])];
  }
}
