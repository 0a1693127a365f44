/**
 * The userspace VIP data path, for where nftables cannot be used (the range must be local: its
 * route on lo, or a 127.x range).
 *
 * - TCP: a listener on each VIP address and port that pipes each new connection to the next
 *   backend, round-robin.
 * - UDP: a socket on each VIP address and port. A datagram from a client without a flow opens
 *   one to the next backend (round-robin), through a socket of its own so replies find their
 *   way back; later datagrams of that client (address and port) follow its flow, as conntrack
 *   keeps a UDP flow on one backend. Replies go back from the VIP's socket. A flow idle for
 *   `udpIdleMs` (default 30 s) is closed; at most `udpMaxFlows` per VIP (default 4096: the
 *   least recently used is closed for a new one); a flow whose backend leaves the table is
 *   closed, so the client's next datagram goes to a backend that is still there.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Vip } from '../../core/vip/index.js';

export interface ProxyOptions {
  /** A UDP flow with no datagram either way for this long is closed (default 30 000). */
  udpIdleMs?: number;
  /** UDP flows per VIP (default 4096). */
  udpMaxFlows?: number;
}

interface UdpFlow {
  backend: string;
  upstream: UdpSocket;
  lastMs: number;
  /** Datagrams that arrived before the upstream socket was connected (a local step; bounded). */
  pending: Buffer[] | undefined;
}

/** Datagrams held per flow while its socket connects. */
const MAX_PENDING = 64;

interface UdpListener {
  socket: UdpSocket;
  backends: Vip['backends'];
  next: number;
  /** Client "ip:port" to its flow, least recently used first. */
  flows: Map<string, UdpFlow>;
  sweep: NodeJS.Timeout;
}

interface Listener {
  server: Server;
  backends: Vip['backends'];
  next: number;
  sockets: Set<Socket>;
}

export class ProxyDataPath {
  readonly kind = 'proxy';
  private readonly listeners = new Map<string, Listener>();
  private readonly udp = new Map<string, UdpListener>();
  readonly counters = { connections: 0, failed: 0, udpFlows: 0, udpDatagrams: 0, udpDropped: 0, udpExpired: 0, udpEvicted: 0 };

  constructor(
    private readonly log: (level: string, msg: string) => void,
    private readonly opts: ProxyOptions = {},
  ) {}

  /** Open UDP flows per VIP "ip:port" (for tests and status). */
  udpFlows(vip: string): number {
    return this.udp.get(vip)?.flows.size ?? 0;
  }

  async start(): Promise<void> {}

  async apply(vips: readonly Vip[]): Promise<void> {
    await this.applyUdp(vips.filter((v) => v.protocol === 'udp'));
    const want = new Map<string, Vip>();
    for (const v of vips) {
      if (v.protocol !== 'tcp') continue;
      want.set(`${v.ip}:${v.port}`, v);
    }
    for (const [k, l] of this.listeners) {
      if (want.has(k)) continue;
      this.listeners.delete(k);
      await closeListener(l);
    }
    for (const [k, v] of want) {
      const existing = this.listeners.get(k);
      if (existing) {
        existing.backends = v.backends;
        continue;
      }
      const l: Listener = { server: createServer(), backends: v.backends, next: 0, sockets: new Set() };
      l.server.on('connection', (client) => this.pipe(l, client));
      try {
        await new Promise<void>((resolve, reject) => {
          l.server.once('error', reject);
          l.server.listen(v.port, v.ip, () => resolve());
        });
        this.listeners.set(k, l);
      } catch (e) {
        this.log('error', `VIP proxy cannot listen on ${k} (${v.label}): ${(e as Error).message}`);
      }
    }
  }

  private pipe(l: Listener, client: Socket): void {
    this.counters.connections++;
    const b = l.backends.length > 0 ? l.backends[l.next++ % l.backends.length] : undefined;
    if (!b) {
      this.counters.failed++;
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection({ host: b.ip, port: b.port });
    l.sockets.add(client);
    l.sockets.add(upstream);
    const done = () => {
      l.sockets.delete(client);
      l.sockets.delete(upstream);
    };
    upstream.on('error', () => {
      this.counters.failed++;
      client.destroy();
    });
    client.on('error', () => upstream.destroy());
    upstream.on('close', done);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private async applyUdp(vips: readonly Vip[]): Promise<void> {
    const want = new Map(vips.map((v) => [`${v.ip}:${v.port}`, v]));
    for (const [k, l] of this.udp) {
      if (want.has(k)) continue;
      this.udp.delete(k);
      closeUdp(l);
    }
    for (const [k, v] of want) {
      const existing = this.udp.get(k);
      if (existing) {
        existing.backends = v.backends;
        const alive = new Set(v.backends.map((b) => `${b.ip}:${b.port}`));
        for (const [c, f] of existing.flows) {
          if (alive.has(f.backend)) continue;
          existing.flows.delete(c);
          closeQuietly(f.upstream);
        }
        continue;
      }
      const idleMs = this.opts.udpIdleMs ?? 30_000;
      const l: UdpListener = {
        socket: createSocket('udp4'),
        backends: v.backends,
        next: 0,
        flows: new Map(),
        sweep: setInterval(() => this.expire(l, idleMs), Math.max(10, Math.min(idleMs / 2, 5_000))),
      };
      l.sweep.unref();
      l.socket.on('message', (msg, from) => this.datagram(l, msg, from));
      try {
        await new Promise<void>((resolve, reject) => {
          l.socket.once('error', reject);
          l.socket.bind(v.port, v.ip, () => {
            l.socket.off('error', reject);
            resolve();
          });
        });
        l.socket.on('error', (e) => this.log('warn', `VIP proxy ${k}/udp: ${e.message}`));
        this.udp.set(k, l);
      } catch (e) {
        clearInterval(l.sweep);
        l.socket.close();
        this.log('error', `VIP proxy cannot listen on ${k}/udp (${v.label}): ${(e as Error).message}`);
      }
    }
  }

  private datagram(l: UdpListener, msg: Buffer, from: RemoteInfo): void {
    this.counters.udpDatagrams++;
    const key = `${from.address}:${from.port}`;
    let flow = l.flows.get(key);
    if (flow) {
      // Most recently used goes last.
      l.flows.delete(key);
      l.flows.set(key, flow);
    } else {
      const b = l.backends.length > 0 ? l.backends[l.next++ % l.backends.length] : undefined;
      if (!b) {
        this.counters.udpDropped++;
        return;
      }
      if (l.flows.size >= (this.opts.udpMaxFlows ?? 4096)) {
        const [oldKey, old] = l.flows.entries().next().value as [string, UdpFlow];
        l.flows.delete(oldKey);
        closeQuietly(old.upstream);
        this.counters.udpEvicted++;
      }
      const upstream = createSocket('udp4');
      const f: UdpFlow = { backend: `${b.ip}:${b.port}`, upstream, lastMs: Date.now(), pending: [] };
      upstream.on('message', (reply) => {
        f.lastMs = Date.now();
        l.socket.send(reply, from.port, from.address);
      });
      // An unreachable backend (ICMP) or a closed socket: drop the flow; the next datagram picks again.
      upstream.on('error', () => {
        if (l.flows.get(key) === f) l.flows.delete(key);
        closeQuietly(upstream);
      });
      upstream.connect(b.port, b.ip, () => {
        const held = f.pending ?? [];
        f.pending = undefined;
        for (const m of held) this.send(f, m);
      });
      flow = f;
      l.flows.set(key, f);
      this.counters.udpFlows++;
    }
    flow.lastMs = Date.now();
    if (flow.pending) {
      if (flow.pending.length < MAX_PENDING) flow.pending.push(msg);
      else this.counters.udpDropped++;
    } else this.send(flow, msg);
  }

  private send(f: UdpFlow, msg: Buffer): void {
    try {
      f.upstream.send(msg, (e) => {
        if (e) this.counters.udpDropped++;
      });
    } catch {
      this.counters.udpDropped++;
    }
  }

  private expire(l: UdpListener, idleMs: number): void {
    const cutoff = Date.now() - idleMs;
    for (const [k, f] of l.flows) {
      if (f.lastMs > cutoff) continue;
      l.flows.delete(k);
      closeQuietly(f.upstream);
      this.counters.udpExpired++;
    }
  }

  async stop(): Promise<void> {
    for (const l of this.listeners.values()) await closeListener(l);
    this.listeners.clear();
    for (const l of this.udp.values()) closeUdp(l);
    this.udp.clear();
  }
}

function closeQuietly(s: UdpSocket): void {
  try {
    s.close();
  } catch {}
}

function closeUdp(l: UdpListener): void {
  clearInterval(l.sweep);
  for (const f of l.flows.values()) closeQuietly(f.upstream);
  l.flows.clear();
  l.socket.close();
}

function closeListener(l: Listener): Promise<void> {
  for (const s of l.sockets) s.destroy();
  return new Promise((resolve) => l.server.close(() => resolve()));
}
