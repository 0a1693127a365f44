import type { Random } from '../base/random.js';
import type { EventSink } from '../ports/sink.js';
import type { SimClock } from './clock.js';
import type { Trace } from './trace.js';

/**
 * The simulated network between the master and everyone else (agents and schedulers only ever
 * talk to the master). Two kinds of traffic, as on the real wire:
 *
 * - Requests (an HTTP POST and its reply): each one can be delayed, dropped (the caller times
 *   out, whether or not the request ran), duplicated (the server runs it twice; the caller
 *   keeps the first reply), or overtaken by a later request (reordered).
 * - Streams (the scheduler's event stream, the agent's command stream): a TCP connection, so
 *   FIFO and lossless while open. Events are delayed; a partition holds them until it heals
 *   (retransmission); a crash or a timeout breaks the connection and drops what is in flight.
 *
 * Partitions cut a node off from the master in both directions. All randomness comes from one
 * seeded Random, all time from the SimClock.
 */

export interface LinkFaults {
  /** One-way latency bounds. */
  delayMinMs: number;
  delayMaxMs: number;
  /** Probability that a request, or its reply, is lost. */
  dropRate: number;
  /** Probability that a request is delivered twice. */
  dupRate: number;
  /** Probability that a request is held back long enough to be overtaken. */
  reorderRate: number;
  reorderDelayMaxMs: number;
}

export const CLEAN_LINKS: LinkFaults = {
  delayMinMs: 1,
  delayMaxMs: 5,
  dropRate: 0,
  dupRate: 0,
  reorderRate: 0,
  reorderDelayMaxMs: 0,
};

export const ZERO_LATENCY: LinkFaults = { ...CLEAN_LINKS, delayMinMs: 0, delayMaxMs: 0 };

export type NetErrorCode = 'timeout' | 'refused' | 'reset';

export class SimNetError extends Error {
  constructor(
    readonly code: NetErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SimNetError';
  }
}

interface Endpoint {
  epoch: number;
  up: boolean;
}

export interface NetStats {
  requests: number;
  requestsDropped: number;
  repliesDropped: number;
  duplicated: number;
  reordered: number;
  timeouts: number;
  refused: number;
  streamEvents: number;
  streamsBroken: number;
}

export class SimNetwork {
  faults: LinkFaults;
  /** A caller gives up on a request after this long. */
  requestTimeoutMs = 10_000;
  private readonly isolated = new Set<string>();
  private readonly endpoints = new Map<string, Endpoint>();
  /** Streams waiting for a partition to heal, by the non-master node. */
  private readonly blocked = new Map<string, Set<SimStream<unknown>>>();
  private readonly streams = new Set<SimStream<unknown>>();
  readonly stats: NetStats = {
    requests: 0,
    requestsDropped: 0,
    repliesDropped: 0,
    duplicated: 0,
    reordered: 0,
    timeouts: 0,
    refused: 0,
    streamEvents: 0,
    streamsBroken: 0,
  };

  constructor(
    readonly clock: SimClock,
    private readonly random: Random,
    readonly trace: Trace,
    faults: LinkFaults = CLEAN_LINKS,
  ) {
    this.faults = faults;
  }

  // --- topology ----------------------------------------------------------------------------

  /** Declares a server endpoint (the master). A new epoch means a new process: old replies die. */
  setEndpoint(name: string, up: boolean): number {
    const prev = this.endpoints.get(name);
    const epoch = up ? (prev?.epoch ?? 0) + 1 : (prev?.epoch ?? 0);
    this.endpoints.set(name, { epoch, up });
    return epoch;
  }

  endpointEpoch(name: string): number {
    return this.endpoints.get(name)?.epoch ?? 0;
  }

  isUp(name: string): boolean {
    return this.endpoints.get(name)?.up ?? false;
  }

  /** Cuts `node` off from the master in both directions. */
  isolate(node: string): void {
    this.isolated.add(node);
    this.trace.record('net.partition', node);
  }

  heal(node: string): void {
    if (!this.isolated.delete(node)) return;
    this.trace.record('net.heal', node);
    const waiting = this.blocked.get(node);
    this.blocked.delete(node);
    for (const s of waiting ?? []) s.pumpSoon();
  }

  healAll(): void {
    for (const n of [...this.isolated].sort()) this.heal(n);
  }

  isolatedNodes(): string[] {
    return [...this.isolated].sort();
  }

  /** Whether a and b can exchange packets right now. */
  connected(a: string, b: string): boolean {
    return !this.isolated.has(a) && !this.isolated.has(b);
  }

  // --- requests ----------------------------------------------------------------------------

  latencyMs(): number {
    const f = this.faults;
    return f.delayMinMs + (f.delayMaxMs > f.delayMinMs ? this.random.next() * (f.delayMaxMs - f.delayMinMs) : 0);
  }

  private requestDelayMs(): number {
    let d = this.latencyMs();
    if (this.faults.reorderRate > 0 && this.random.chance(this.faults.reorderRate)) {
      this.stats.reordered++;
      d += this.random.next() * this.faults.reorderDelayMaxMs;
    }
    return d;
  }

  /**
   * Sends a request from `from` to the server `to`; `handle` runs there (possibly twice) and its
   * result travels back. Rejects with SimNetError on timeout, refusal or reset.
   */
  request<T>(from: string, to: string, label: string, handle: () => Promise<T>): Promise<T> {
    this.stats.requests++;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (ok: boolean, v: unknown): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        if (ok) resolve(v as T);
        else reject(v);
      };
      const timer = this.clock.setTimer(this.requestTimeoutMs, () => {
        this.stats.timeouts++;
        this.trace.record('net.timeout', `${from}->${to} ${label}`);
        settle(false, new SimNetError('timeout', `request ${label} from ${from} to ${to} timed out`));
      });
      const deliver = (copy: number): void => {
        if (this.faults.dropRate > 0 && this.random.chance(this.faults.dropRate)) {
          this.stats.requestsDropped++;
          this.trace.record('net.drop.req', `${from}->${to} ${label}`);
          return;
        }
        this.clock.setTimer(this.requestDelayMs(), () => {
          if (settled && copy === 0) return; // the caller gave up before it left
          if (!this.connected(from, to)) {
            this.trace.record('net.lost.req', `${from}->${to} ${label}`);
            return;
          }
          const ep = this.endpoints.get(to);
          if (!ep?.up) {
            this.clock.setTimer(this.latencyMs(), () => {
              if (!this.connected(from, to)) return;
              this.stats.refused++;
              settle(false, new SimNetError('refused', `${to} refused ${label}`));
            });
            return;
          }
          const epoch = ep.epoch;
          this.trace.record('net.req', `${from}->${to} ${label}${copy > 0 ? ' (dup)' : ''}`);
          handle().then(
            (value) => this.reply(from, to, label, epoch, settle, true, value),
            (err: unknown) => this.reply(from, to, label, epoch, settle, false, err),
          );
        });
      };
      deliver(0);
      if (this.faults.dupRate > 0 && this.random.chance(this.faults.dupRate)) {
        this.stats.duplicated++;
        deliver(1);
      }
    });
  }

  private reply(from: string, to: string, label: string, epoch: number, settle: (ok: boolean, v: unknown) => void, ok: boolean, value: unknown): void {
    if (this.endpointEpoch(to) !== epoch || !this.isUp(to)) {
      // The server died while handling it: the connection was reset.
      this.clock.setTimer(this.latencyMs(), () => {
        if (!this.connected(from, to)) return;
        this.trace.record('net.reset', `${from}<-${to} ${label}`);
        settle(false, new SimNetError('reset', `${to} died while handling ${label}`));
      });
      return;
    }
    if (this.faults.dropRate > 0 && this.random.chance(this.faults.dropRate)) {
      this.stats.repliesDropped++;
      this.trace.record('net.drop.reply', `${from}<-${to} ${label}`);
      return;
    }
    this.clock.setTimer(this.latencyMs(), () => {
      if (!this.connected(from, to)) {
        this.trace.record('net.lost.reply', `${from}<-${to} ${label}`);
        return;
      }
      settle(ok, value);
    });
  }

  // --- streams -----------------------------------------------------------------------------

  /** Opens a stream from server `server` to client `client`. Events queue until the client attaches. */
  openStream<E>(server: string, client: string, label: string): SimStream<E> {
    const s = new SimStream<E>(this, server, client, label, this.endpointEpoch(server));
    this.streams.add(s as SimStream<unknown>);
    return s;
  }

  /** Breaks every stream of a server epoch (the process died); clients see a reset. */
  breakStreamsOf(server: string): void {
    for (const s of [...this.streams]) if (s.server === server) s.break();
  }

  /** Breaks every stream to a client (the client process died); servers see the close. */
  breakStreamsTo(client: string): void {
    for (const s of [...this.streams]) if (s.client === client) s.clientClose();
  }

  /** @internal */
  forget(s: SimStream<unknown>): void {
    this.streams.delete(s);
  }

  /** @internal */
  block(node: string, s: SimStream<unknown>): void {
    let set = this.blocked.get(node);
    if (!set) this.blocked.set(node, (set = new Set()));
    set.add(s);
  }

  get openStreams(): number {
    return this.streams.size;
  }
}

type Item<E> = { kind: 'event'; atMs: number; event: E } | { kind: 'eof'; atMs: number };

/**
 * One server-to-client stream. The server holds it as an EventSink; the client attaches a
 * handler. FIFO and lossless while open, like a TCP connection.
 */
export class SimStream<E> implements EventSink<E> {
  private readonly queue: Item<E>[] = [];
  private head = 0;
  private lastAtMs = 0;
  private pumpTimer: { cancel(): void } | undefined;
  private onEvent: ((e: E) => void) | undefined;
  private clientOnClose: (() => void) | undefined;
  private readonly serverOnClose: (() => void)[] = [];
  /** Server side closed (or learned of the close). */
  private serverClosed = false;
  /** Client side closed (or learned of the close). */
  private clientClosed = false;
  /** Events delivered to the client. */
  delivered = 0;

  constructor(
    private readonly net: SimNetwork,
    readonly server: string,
    readonly client: string,
    readonly label: string,
    readonly epoch: number,
  ) {}

  get closed(): boolean {
    return this.serverClosed;
  }

  // --- server side (EventSink) ----------------------------------------------------------------

  send(event: E): boolean {
    if (this.serverClosed) return false;
    this.enqueue({ kind: 'event', atMs: 0, event });
    return true;
  }

  close(): void {
    if (this.serverClosed) return;
    this.serverClosed = true;
    this.fireServerClose();
    this.enqueue({ kind: 'eof', atMs: 0 });
  }

  onClose(fn: () => void): void {
    if (this.serverClosed) this.net.clock.defer(fn);
    else this.serverOnClose.push(fn);
  }

  // --- client side ---------------------------------------------------------------------------

  /** The client starts reading. Events that arrived before are delivered now, in order. */
  attach(onEvent: (e: E) => void, onClose: () => void): void {
    this.onEvent = onEvent;
    this.clientOnClose = onClose;
    if (this.clientClosed) {
      this.net.clock.defer(onClose);
      return;
    }
    this.pumpSoon(0);
  }

  /** The client hangs up (or its process died). The server learns after a network delay. */
  clientClose(): void {
    if (this.clientClosed) return;
    this.clientClosed = true;
    this.onEvent = undefined;
    this.clientOnClose = undefined;
    this.drop();
    this.notifyServer();
  }

  /** The server process died: the client sees a reset; nobody is told on the server side. */
  break(): void {
    this.serverClosed = true;
    this.serverOnClose.length = 0;
    this.net.stats.streamsBroken++;
    this.queue.length = 0;
    this.head = 0;
    this.enqueue({ kind: 'eof', atMs: 0 }, true);
  }

  /** @internal Reschedules delivery (after a partition heals). */
  pumpSoon(delayMs = this.net.latencyMs()): void {
    if (this.clientClosed || this.pumpTimer) return;
    this.pumpTimer = this.net.clock.setTimer(delayMs, () => {
      this.pumpTimer = undefined;
      this.pump();
    });
  }

  private enqueue(item: Item<E>, force = false): void {
    if (this.clientClosed) return;
    if (!force && this.serverClosed && item.kind === 'event') return;
    const now = this.net.clock.nowMs();
    item.atMs = Math.max(now + this.net.latencyMs(), this.lastAtMs);
    this.lastAtMs = item.atMs;
    this.queue.push(item);
    this.schedule();
  }

  private schedule(): void {
    if (this.pumpTimer || this.head >= this.queue.length || !this.onEvent) return;
    const at = this.queue[this.head]!.atMs;
    this.pumpTimer = this.net.clock.setTimer(Math.max(0, at - this.net.clock.nowMs()), () => {
      this.pumpTimer = undefined;
      this.pump();
    });
  }

  private pump(): void {
    if (this.clientClosed || !this.onEvent) return;
    if (!this.net.connected(this.server, this.client)) {
      this.net.block(this.client, this as SimStream<unknown>);
      return;
    }
    const now = this.net.clock.nowMs();
    while (this.head < this.queue.length && this.queue[this.head]!.atMs <= now) {
      const item = this.queue[this.head++]!;
      if (item.kind === 'eof') {
        const cb = this.clientOnClose;
        this.clientClosed = true;
        this.onEvent = undefined;
        this.clientOnClose = undefined;
        this.drop();
        this.net.trace.record('stream.eof', `${this.server}->${this.client} ${this.label}`);
        cb?.();
        return;
      }
      this.delivered++;
      this.net.stats.streamEvents++;
      this.onEvent(item.event);
      if (this.clientClosed) return;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    this.schedule();
  }

  private drop(): void {
    this.queue.length = 0;
    this.head = 0;
    this.pumpTimer?.cancel();
    this.pumpTimer = undefined;
    if (this.serverClosed) this.net.forget(this as SimStream<unknown>);
  }

  private notifyServer(): void {
    if (this.serverClosed) {
      this.net.forget(this as SimStream<unknown>);
      return;
    }
    const tryNotify = (): void => {
      if (this.serverClosed) return;
      if (this.net.endpointEpoch(this.server) !== this.epoch || !this.net.isUp(this.server)) {
        this.serverClosed = true;
        this.serverOnClose.length = 0;
        this.net.forget(this as SimStream<unknown>);
        return;
      }
      if (!this.net.connected(this.server, this.client)) {
        // The reset reaches the server once the partition heals (or never, if the server dies).
        this.net.clock.setTimer(1000, tryNotify);
        return;
      }
      this.serverClosed = true;
      this.net.forget(this as SimStream<unknown>);
      this.net.trace.record('stream.closed-by-client', `${this.server}->${this.client} ${this.label}`);
      this.fireServerClose();
    };
    this.net.clock.setTimer(this.net.latencyMs(), tryNotify);
  }

  private fireServerClose(): void {
    const fns = this.serverOnClose.splice(0);
    for (const fn of fns) this.net.clock.defer(fn);
  }
}
