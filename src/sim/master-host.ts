import { MemoryStore } from '../adapters/store/memory.js';
import type { Random } from '../base/random.js';
import { HierarchicalAllocator } from '../core/allocator/index.js';
import type { AgentCall, AgentCommand } from '../model/agent-protocol.js';
import type { CommandStream, MasterLink, MasterLinkReply } from '../ports/master-link.js';
import type { Store } from '../ports/store.js';
import type { MasterConfig } from '../services/master/config.js';
import { type CallResult, Master, type SchedulerCall } from '../services/master/master.js';
import type { SimClock } from './clock.js';
import { SimNetError, type SimNetwork, type SimStream } from './network.js';
import { SimStore } from './store.js';
import type { Trace } from './trace.js';

export const MASTER_NODE = 'master';

export interface MasterHostOptions {
  config: MasterConfig;
  /** Commit latency of the registry (fsync), uniformly in [min, max]. */
  storeLatencyMinMs: number;
  storeLatencyMaxMs: number;
  /** PING commands on agent streams (the HTTP adapter sends them every heartbeat interval). */
  agentStreamPingMs: number;
  /** Record the master's log lines in the trace. */
  traceLog: boolean;
  /**
   * A durable store to use as is (benchmarks: SQLite with fsync). Without it the registry is a
   * MemoryStore behind a crashable SimStore facade.
   */
  store?: Store;
}

/**
 * The machine the master runs on: it owns the durable registry (which survives crashes) and
 * the current Master incarnation, and serves the agent and scheduler endpoints over the
 * simulated network, the way src/api/master.ts serves them over HTTP.
 */
export class MasterHost {
  master: Master | undefined;
  store: SimStore | undefined;
  readonly durable = new MemoryStore();
  incarnation = 0;
  /** Exceptions the master threw while handling a call: always a bug. */
  readonly errors: string[] = [];
  /**
   * Sees every scheduler call just before the master handles it; the function it returns (if
   * any) runs right after the master's synchronous part (the invariant checker).
   */
  beforeSchedulerCall: ((m: Master, call: SchedulerCall) => (() => void) | undefined) | undefined;
  /** Called with every Master created (the invariant checker and bug injectors hook in here). */
  onStart: ((m: Master, store: SimStore) => void) | undefined;

  constructor(
    private readonly clock: SimClock,
    private readonly random: Random,
    readonly net: SimNetwork,
    private readonly trace: Trace,
    readonly options: MasterHostOptions,
  ) {}

  get up(): boolean {
    return this.master !== undefined;
  }

  /** Starts a new master incarnation on the durable registry. Resolves when it has recovered. */
  async start(): Promise<Master> {
    if (this.master) throw new Error('master already running');
    this.incarnation++;
    const random = this.random.fork();
    const simStore = new SimStore(this.durable, this.clock, random.fork(), this.options.storeLatencyMinMs, this.options.storeLatencyMaxMs);
    const store: Store = this.options.store ?? simStore;
    const log = this.options.traceLog ? (level: string, message: string) => this.trace.record(`master.${level}`, message) : undefined;
    const master = new Master({
      clock: this.clock,
      random,
      store,
      allocator: new HierarchicalAllocator({ random: random.fork() }),
      config: this.options.config,
      defer: (fn) => this.clock.defer(fn),
      ...(log ? { log } : {}),
    });
    this.master = master;
    this.store = simStore;
    this.onStart?.(master, simStore);
    this.net.setEndpoint(MASTER_NODE, true);
    this.trace.record('master.start', `incarnation ${this.incarnation}`);
    await master.start();
    return master;
  }

  /** The master process dies: uncommitted writes are lost, every connection is reset. */
  crash(): void {
    const m = this.master;
    if (!m) return;
    this.trace.record('master.crash', `incarnation ${this.incarnation}`);
    this.store?.kill();
    this.net.setEndpoint(MASTER_NODE, false);
    this.net.breakStreamsOf(MASTER_NODE);
    // Stops its timers; the final flush never resolves because the store is dead.
    void m.stop();
    this.master = undefined;
    this.store = undefined;
  }

  private current(): Master {
    const m = this.master;
    if (!m) throw new SimNetError('refused', 'master is down');
    return m;
  }

  private guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let p: Promise<T>;
    try {
      p = fn();
    } catch (e) {
      p = Promise.reject(e);
    }
    return p.catch((e: unknown) => {
      if (!(e instanceof SimNetError)) this.errors.push(`${what}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      throw e;
    });
  }

  // --- endpoints -----------------------------------------------------------------------------

  /** POST /master/internal/agent */
  agentCall(call: AgentCall): Promise<MasterLinkReply> {
    return this.guard(`agent call ${call.type}`, async () => {
      const r = await this.current().agentCall(call);
      return { status: r.status, body: r.body ?? {} };
    });
  }

  /** POST /master/internal/agent/stream */
  agentStream(node: string, agentId: string): Promise<SimStream<AgentCommand> | MasterLinkReply> {
    return this.guard('agent subscribe', async () => {
      const m = this.current();
      const stream = this.net.openStream<AgentCommand>(MASTER_NODE, node, `commands ${agentId}`);
      const err = m.agentSubscribe(agentId, stream);
      if (err) {
        stream.close();
        return { status: err.status, body: err.body ?? {} };
      }
      const ping = this.clock.setInterval(this.options.agentStreamPingMs, () => {
        if (stream.closed) ping.cancel();
        else stream.send({ type: 'PING' });
      });
      return stream;
    });
  }

  /** POST /api/v1/scheduler with SUBSCRIBE */
  schedulerSubscribe(node: string, call: Parameters<Master['subscribe']>[0]): Promise<{ stream: SimStream<SchedulerEvent>; streamId: string } | CallResult> {
    return this.guard('scheduler subscribe', async () => {
      const m = this.current();
      const streamId = this.random.uuid();
      const stream = this.net.openStream<SchedulerEvent>(MASTER_NODE, node, `events ${call.framework_id?.value ?? 'new'}`);
      const err = await m.subscribe(call, stream, streamId, node);
      if (err) {
        stream.close();
        return err;
      }
      return { stream, streamId };
    });
  }

  /**
   * A scheduler's SUBSCRIBE from `node` over the network. Every event stream the request opens
   * on the master (a duplicated request opens two) that the client does not take is closed from
   * the client's side, as a real client hangs up a connection whose response it gave up waiting
   * for: the master sees the stream close, as it would over HTTP. Left open, such a stream kept
   * its framework CONNECTED in the master, offered every agent to, with nobody reading.
   */
  async schedulerSubscribeOver(node: string, label: string, call: Parameters<Master['subscribe']>[0]): ReturnType<MasterHost['schedulerSubscribe']> {
    const opened: SimStream<SchedulerEvent>[] = [];
    let answered = false;
    let r: Awaited<ReturnType<MasterHost['schedulerSubscribe']>>;
    try {
      r = await this.net.request(node, MASTER_NODE, label, async () => {
        const x = await this.schedulerSubscribe(node, call);
        if ('stream' in x) {
          if (answered) x.stream.clientClose();
          else opened.push(x.stream);
        }
        return x;
      });
    } catch (e) {
      answered = true;
      for (const s of opened) s.clientClose();
      throw e;
    }
    answered = true;
    const kept = 'stream' in r ? r.stream : undefined;
    for (const s of opened) if (s !== kept) s.clientClose();
    return r;
  }

  /** POST /api/v1/scheduler (every other call) */
  schedulerCall(call: SchedulerCall, streamId: string): Promise<CallResult> {
    return this.guard(`scheduler call ${call.type}`, () => {
      const m = this.current();
      const after = this.beforeSchedulerCall?.(m, call);
      const p = m.schedulerCall(call, streamId);
      after?.();
      return p;
    });
  }
}

/** A scheduler event as the master sends it (the JSON object of the v1 API). */
export type SchedulerEvent = { type: string } & Record<string, unknown>;

/** The agent's MasterLink over the simulated network. */
export class SimMasterLink implements MasterLink {
  constructor(
    private readonly net: SimNetwork,
    private readonly host: MasterHost,
    readonly node: string,
  ) {}

  call(call: AgentCall): Promise<MasterLinkReply> {
    return this.net.request(this.node, MASTER_NODE, agentCallLabel(call), () => this.host.agentCall(call));
  }

  async subscribe(agentId: string, onCommand: (command: AgentCommand) => void, onClose: () => void): Promise<CommandStream | MasterLinkReply> {
    const r = await this.net.request(this.node, MASTER_NODE, `SUBSCRIBE ${agentId}`, () => this.host.agentStream(this.node, agentId));
    if (!isStream(r)) return r;
    r.attach(onCommand, onClose);
    return { close: () => r.clientClose() };
  }
}

function isStream<E>(r: SimStream<E> | MasterLinkReply): r is SimStream<E> {
  return typeof (r as SimStream<E>).attach === 'function';
}

function agentCallLabel(call: AgentCall): string {
  switch (call.type) {
    case 'STATUS_UPDATE':
      return `STATUS_UPDATE ${call.status?.task_id?.value} ${call.status?.state} ${call.status?.uuid?.slice(0, 8)}`;
    case 'REGISTER':
      return `REGISTER ${call.agent_info?.hostname}`;
    case 'REREGISTER':
      return `REREGISTER ${call.agent_id?.value} tasks=${call.tasks?.length ?? 0}`;
    default:
      return `${call.type} ${'agent_id' in call ? call.agent_id?.value : ''}`;
  }
}

/** A scheduler's connection to the master over the simulated network. */
export class SimSchedulerLink {
  constructor(
    private readonly net: SimNetwork,
    private readonly host: MasterHost,
    readonly node: string,
  ) {}

  /** Resolves with the open stream (SUBSCRIBED is its first event) or the master's error. */
  async subscribe(
    call: Parameters<Master['subscribe']>[0],
    onEvent: (e: SchedulerEvent) => void,
    onClose: () => void,
  ): Promise<{ streamId: string; close(): void } | CallResult> {
    const r = await this.host.schedulerSubscribeOver(this.node, `SUBSCRIBE ${call.framework_id?.value ?? 'new'}`, call);
    if (!('stream' in r)) return r;
    r.stream.attach(onEvent, onClose);
    return { streamId: r.streamId, close: () => r.stream.clientClose() };
  }

  call(call: SchedulerCall, streamId: string): Promise<CallResult> {
    return this.net.request(this.node, MASTER_NODE, schedulerCallLabel(call), () => this.host.schedulerCall(call, streamId));
  }
}

function schedulerCallLabel(call: SchedulerCall): string {
  const fw = call.framework_id?.value ?? '';
  switch (call.type) {
    case 'ACCEPT': {
      const n = (call.accept?.operations ?? []).reduce((k, op) => k + (op.launch?.task_infos?.length ?? 0), 0);
      return `ACCEPT ${fw} offers=${(call.accept?.offer_ids ?? []).map((o) => o.value.split('-O')[1]).join(',')} tasks=${n}`;
    }
    case 'ACKNOWLEDGE':
      return `ACKNOWLEDGE ${fw} ${call.acknowledge?.task_id?.value} ${call.acknowledge?.uuid?.slice(0, 8)}`;
    case 'KILL':
      return `KILL ${fw} ${call.kill?.task_id?.value}`;
    case 'RECONCILE':
      return `RECONCILE ${fw} n=${call.reconcile?.tasks?.length ?? 0}`;
    case 'DECLINE':
      return `DECLINE ${fw} n=${call.decline?.offer_ids?.length ?? 0}`;
    default:
      return `${call.type} ${fw}`;
  }
}
