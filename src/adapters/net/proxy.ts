/**
 * The userspace VIP data path, for where nftables cannot be used: a TCP listener on each VIP
 * address and port (the range must be local: its route on lo, or a 127.x range) that pipes each
 * new connection to the next backend, round-robin. UDP VIPs are not proxied (reported).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Vip } from '../../core/vip/index.js';

interface Listener {
  server: Server;
  backends: Vip['backends'];
  next: number;
  sockets: Set<Socket>;
}

export class ProxyDataPath {
  readonly kind = 'proxy';
  private readonly listeners = new Map<string, Listener>();
  readonly counters = { connections: 0, failed: 0 };

  constructor(private readonly log: (level: string, msg: string) => void) {}

  async start(): Promise<void> {}

  async apply(vips: readonly Vip[]): Promise<void> {
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

  async stop(): Promise<void> {
    for (const l of this.listeners.values()) await closeListener(l);
    this.listeners.clear();
  }
}

function closeListener(l: Listener): Promise<void> {
  for (const s of l.sockets) s.destroy();
  return new Promise((resolve) => l.server.close(() => resolve()));
}
