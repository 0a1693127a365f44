/**
 * Test fixtures for the Mesos-compatible master: a master on a loopback port, a fake agent that
 * speaks the agent protocol (docs/agent-protocol.md) and a scheduler that speaks the v1
 * scheduler API over real HTTP. Everything here is protocol-level; nothing reaches into the
 * master's internals.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { startMaster, type RunningMaster } from '../../src/main/master.js';
import type { MasterConfig } from '../../src/services/master/config.js';
import { getJson, openStream, post, type StreamHandle } from './http.js';

// JSON from the wire: tests assert on concrete values, so loose typing is deliberate here.
export type Json = any;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Timers long enough to stay out of the way; tests that exercise one lower it. */
export const QUIET: Partial<MasterConfig> = {
  allocationIntervalMs: 50,
  heartbeatIntervalMs: 60_000,
  statusUpdateRetryMs: 60_000,
  agentPingTimeoutMs: 60_000,
  maxAgentPingTimeouts: 5,
};

export interface TestMaster {
  running: RunningMaster;
  port: number;
  base: string;
  stop(): Promise<void>;
}

export async function startTestMaster(opts: { config?: Partial<MasterConfig>; store?: 'memory' | 'sqlite'; workDir?: string } = {}): Promise<TestMaster> {
  const running = await startMaster({
    port: 0,
    store: opts.store ?? 'memory',
    ...(opts.workDir ? { workDir: opts.workDir } : {}),
    config: { ...QUIET, ...(opts.config ?? {}) },
  });
  let stopped = false;
  return {
    running,
    port: running.port,
    base: `http://127.0.0.1:${running.port}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      await running.stop();
    },
  };
}

/** A POST with full control over headers (fetch adds a Content-Type to string bodies). */
export function rawRequest(
  url: string,
  opts: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body, 'utf8');
    const headers: Record<string, string | number> = { ...(opts.headers ?? {}) };
    if (body) headers['Content-Length'] = body.length;
    const req = request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: opts.method ?? 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Matches events of a stream out of order: each event is handed out once, the earliest match
 * first, so waiting for an UPDATE does not throw away the OFFERS that came before it.
 */
export class EventLog {
  private readonly taken = new Set<number>();
  constructor(readonly stream: StreamHandle) {}

  get events(): Json[] {
    return this.stream.events;
  }

  private find(pred: (e: Json) => boolean): number {
    const evs = this.stream.events;
    for (let i = 0; i < evs.length; i++) if (!this.taken.has(i) && pred(evs[i])) return i;
    return -1;
  }

  async take(pred: (e: Json) => boolean, what: string, timeoutMs = 5000): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.find(pred);
      if (i >= 0) {
        this.taken.add(i);
        return this.stream.events[i];
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stream has ${JSON.stringify(this.summary())}`);
      }
      await sleep(10);
    }
  }

  /** Fails if an event matching pred (not yet taken) is seen within ms. */
  async none(pred: (e: Json) => boolean, what: string, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.find(pred);
      if (i >= 0) throw new Error(`unexpected ${what}: ${JSON.stringify(this.stream.events[i]).slice(0, 600)}`);
      if (Date.now() > deadline) return;
      await sleep(10);
    }
  }

  /** Marks every event received so far as seen. */
  skipAll(): void {
    for (let i = 0; i < this.stream.events.length; i++) this.taken.add(i);
  }

  summary(): string[] {
    return this.stream.events.map((e: Json, i) => {
      const st = e.update?.status;
      const tag = st ? `:${st.task_id?.value}:${st.state}` : e.type === 'OFFERS' ? `:${e.offers?.offers?.length}` : '';
      return `${this.taken.has(i) ? '' : '*'}${e.type}${tag}`;
    });
  }
}

// -----------------------------------------------------------------------------------------------
// Fake agent

export const AGENT_RESOURCES = [
  { name: 'cpus', type: 'SCALAR', scalar: { value: 4 } },
  { name: 'mem', type: 'SCALAR', scalar: { value: 4096 } },
  { name: 'disk', type: 'SCALAR', scalar: { value: 10000 } },
  { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 32000 }] } },
];

export interface AgentOptions {
  hostname?: string;
  port?: number;
  resources?: Json[];
  attributes?: Json[];
}

export class FakeAgent {
  stream: StreamHandle | undefined;
  commands: EventLog | undefined;
  private pinger: NodeJS.Timeout | undefined;

  private constructor(
    public base: string,
    readonly id: string,
    readonly agentInfo: Json,
    readonly registerReply: Json,
  ) {}

  static async register(base: string, opts: AgentOptions = {}): Promise<FakeAgent> {
    const agentInfo: Json = {
      hostname: opts.hostname ?? 'agent1.test',
      port: opts.port ?? 5051,
      resources: opts.resources ?? AGENT_RESOURCES,
      ...(opts.attributes ? { attributes: opts.attributes } : {}),
    };
    const r = await post(`${base}/master/internal/agent`, { type: 'REGISTER', ip: '127.0.0.1', version: '1', agent_info: agentInfo });
    if (r.status !== 200) throw new Error(`REGISTER: ${r.status} ${r.text}`);
    const reply = r.json() as Json;
    return new FakeAgent(base, reply.agent_id.value, agentInfo, reply);
  }

  /** Registers and opens the command stream. */
  static async start(base: string, opts: AgentOptions = {}): Promise<FakeAgent> {
    const a = await FakeAgent.register(base, opts);
    await a.subscribe();
    return a;
  }

  async subscribe(): Promise<StreamHandle> {
    this.stream?.close();
    const s = await openStream(`${this.base}/master/internal/agent/stream`, { type: 'SUBSCRIBE', agent_id: { value: this.id } });
    if (s.status !== 200) throw new Error(`agent SUBSCRIBE: ${s.status}`);
    this.stream = s;
    this.commands = new EventLog(s);
    return s;
  }

  call(body: Json): Promise<{ status: number; text: string; json: () => unknown }> {
    return post(`${this.base}/master/internal/agent`, body);
  }

  /** Waits for a command of this type on the command stream. */
  command(type: string, pred: (c: Json) => boolean = () => true, timeoutMs = 5000): Promise<Json> {
    if (!this.commands) throw new Error('agent has no command stream');
    return this.commands.take((c) => c.type === type && pred(c), `agent command ${type}`, timeoutMs);
  }

  /** Sends a status update with a fresh uuid; resolves with the uuid once the master replied 200. */
  async update(frameworkId: string, taskId: string, state: string, extra: Json = {}): Promise<string> {
    const uuid = randomBytes(16).toString('base64');
    const r = await this.call({
      type: 'STATUS_UPDATE',
      agent_id: { value: this.id },
      framework_id: { value: frameworkId },
      status: {
        task_id: { value: taskId },
        state,
        uuid,
        source: 'SOURCE_EXECUTOR',
        timestamp: Date.now() / 1000,
        agent_id: { value: this.id },
        ...extra,
      },
    });
    if (r.status !== 200) throw new Error(`STATUS_UPDATE ${taskId} ${state}: ${r.status} ${r.text}`);
    return uuid;
  }

  async ping(): Promise<number> {
    return (await this.call({ type: 'PING', agent_id: { value: this.id } })).status;
  }

  startPinging(everyMs = 40): void {
    this.stopPinging();
    this.pinger = setInterval(() => {
      this.ping().catch(() => {});
    }, everyMs);
  }

  stopPinging(): void {
    if (this.pinger) clearInterval(this.pinger);
    this.pinger = undefined;
  }

  /** REREGISTER with the given tasks (Task objects) and framework infos. */
  reregister(tasks: Json[], frameworks: Json[]): Promise<{ status: number; text: string; json: () => unknown }> {
    return this.call({
      type: 'REREGISTER',
      agent_id: { value: this.id },
      ip: '127.0.0.1',
      version: '1',
      agent_info: { ...this.agentInfo, id: { value: this.id } },
      tasks,
      frameworks,
    });
  }

  close(): void {
    this.stopPinging();
    this.stream?.close();
  }
}

// -----------------------------------------------------------------------------------------------
// Scheduler

export function frameworkInfo(over: Json = {}): Json {
  return { user: 'root', name: 'test-framework', failover_timeout: 3600, ...over };
}

export const PARTITION_AWARE = { capabilities: [{ type: 'PARTITION_AWARE' }] };

export class Scheduler {
  readonly ev: EventLog;
  private constructor(
    public base: string,
    readonly stream: StreamHandle,
    readonly streamId: string,
    readonly frameworkId: string,
    readonly info: Json,
    readonly subscribed: Json,
  ) {
    this.ev = new EventLog(stream);
  }

  /** SUBSCRIBE; resolves once SUBSCRIBED arrived. Pass info.id to fail over / re-subscribe. */
  static async subscribe(base: string, info: Json = frameworkInfo()): Promise<Scheduler> {
    const body: Json = { type: 'SUBSCRIBE', subscribe: { framework_info: info } };
    if (info.id) body.framework_id = info.id;
    const s = await openStream(`${base}/api/v1/scheduler`, body);
    if (s.status !== 200) {
      await s.closed;
      throw new Error(`SUBSCRIBE: ${s.status} ${s.chunks.join('')}`);
    }
    const first = (await s.next(() => true, 5000)) as Json;
    if (first.type !== 'SUBSCRIBED') throw new Error(`first event is ${JSON.stringify(first)}`);
    const streamId = s.headers['mesos-stream-id'];
    if (typeof streamId !== 'string') throw new Error('no Mesos-Stream-Id header');
    const sched = new Scheduler(base, s, streamId, first.subscribed.framework_id.value, info, first);
    sched.ev.take((e) => e === first, 'SUBSCRIBED', 0).catch(() => {});
    return sched;
  }

  /** A scheduler call on this framework's stream; payload goes under the lower-cased type. */
  call(type: string, payload?: Json, headers: Record<string, string> = { 'Mesos-Stream-Id': this.streamId }) {
    const body: Json = { framework_id: { value: this.frameworkId }, type };
    if (payload !== undefined) body[type.toLowerCase()] = payload;
    return post(`${this.base}/api/v1/scheduler`, body, headers);
  }

  /** Waits for an OFFERS event and returns its first offer matching pred. */
  async offer(pred: (o: Json) => boolean = () => true, timeoutMs = 5000): Promise<Json> {
    const e = await this.ev.take((e) => e.type === 'OFFERS' && e.offers.offers.some(pred), 'an offer', timeoutMs);
    return e.offers.offers.find(pred);
  }

  /** Waits for an UPDATE for this task (optionally in this state); returns the TaskStatus. */
  async update(taskId: string, state?: string, timeoutMs = 5000): Promise<Json> {
    const e = await this.ev.take(
      (e) => e.type === 'UPDATE' && e.update.status.task_id.value === taskId && (!state || e.update.status.state === state),
      `UPDATE ${taskId} ${state ?? ''}`,
      timeoutMs,
    );
    return e.update.status;
  }

  async ack(status: Json): Promise<void> {
    const r = await this.call('ACKNOWLEDGE', { agent_id: status.agent_id, task_id: status.task_id, uuid: status.uuid });
    if (r.status !== 202) throw new Error(`ACKNOWLEDGE: ${r.status} ${r.text}`);
  }

  async accept(offerIds: string[], operations: Json[], refuseSeconds = 0) {
    return this.call('ACCEPT', { offer_ids: offerIds.map((value) => ({ value })), operations, filters: { refuse_seconds: refuseSeconds } });
  }

  /** ACCEPT with one LAUNCH of these tasks; asserts 202. */
  async launch(offer: Json, tasks: Json[], refuseSeconds = 0): Promise<void> {
    const r = await this.accept([offer.id.value], [{ type: 'LAUNCH', launch: { task_infos: tasks } }], refuseSeconds);
    if (r.status !== 202) throw new Error(`ACCEPT: ${r.status} ${r.text}`);
  }

  /**
   * Launches one task on the next offer, has the agent report RUNNING, and acknowledges it.
   * Returns the RUNNING status the framework received.
   */
  async runTask(agent: FakeAgent, taskId: string, res: { cpus?: number; mem?: number } = {}): Promise<Json> {
    const offer = await this.offer((o) => o.agent_id.value === agent.id);
    await this.launch(offer, [taskInfo(offer, taskId, res)]);
    await agent.command('RUN_TASK', (c) => c.task.task_id.value === taskId);
    await agent.update(this.frameworkId, taskId, 'TASK_RUNNING');
    const st = await this.update(taskId, 'TASK_RUNNING');
    await this.ack(st);
    return st;
  }

  close(): void {
    this.stream.close();
  }
}

/** A command TaskInfo taking cpus/mem from the offer, with the offer's allocation role. */
export function taskInfo(offer: Json, taskId: string, res: { cpus?: number; mem?: number; name?: string } = {}): Json {
  const alloc = offer.allocation_info ?? { role: '*' };
  return {
    name: res.name ?? `task ${taskId}`,
    task_id: { value: taskId },
    agent_id: offer.agent_id,
    command: { shell: true, value: 'sleep 1000' },
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: res.cpus ?? 0.1 }, allocation_info: alloc },
      { name: 'mem', type: 'SCALAR', scalar: { value: res.mem ?? 32 }, allocation_info: alloc },
    ],
  };
}

export async function masterState(base: string): Promise<Json> {
  return getJson(`${base}/master/state`);
}

/** The framework entry in /master/state (active or completed). */
export async function legacyFramework(base: string, id: string): Promise<{ where: 'frameworks' | 'completed_frameworks'; fw: Json } | undefined> {
  const s = await masterState(base);
  const a = s.frameworks.find((f: Json) => f.id === id);
  if (a) return { where: 'frameworks', fw: a };
  const c = s.completed_frameworks.find((f: Json) => f.id === id);
  if (c) return { where: 'completed_frameworks', fw: c };
  return undefined;
}

export async function operator(base: string, call: Json): Promise<{ status: number; text: string; json: () => Json }> {
  return post(`${base}/api/v1`, call) as Promise<{ status: number; text: string; json: () => Json }>;
}

/** Resolves true if the stream closes within ms. */
export async function closedWithin(stream: StreamHandle, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    stream.closed.then(() => true),
    new Promise<boolean>((res) => {
      timer = setTimeout(() => res(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return r;
}

export const utf8Len = (s: string): number => Buffer.byteLength(s, 'utf8');

/** Checks that every raw chunk of a stream is exactly one `<len>\n<compact json>` record. */
export function framingErrors(stream: StreamHandle): string[] {
  const errors: string[] = [];
  stream.chunks.forEach((c, i) => {
    const m = /^(\d+)\n([^\n]*)$/s.exec(c);
    if (!m) {
      errors.push(`chunk ${i} is not one record: ${JSON.stringify(c.slice(0, 120))}`);
      return;
    }
    const [, len, json] = m as unknown as [string, string, string];
    if (Number(len) !== utf8Len(json)) errors.push(`chunk ${i}: prefix ${len} but ${utf8Len(json)} bytes`);
    if (json.includes('\n')) errors.push(`chunk ${i}: newline inside the JSON`);
    try {
      const parsed = JSON.parse(json);
      if (JSON.stringify(parsed) !== json) errors.push(`chunk ${i}: JSON is not compact`);
    } catch (e) {
      errors.push(`chunk ${i}: ${(e as Error).message}`);
    }
  });
  return errors;
}
