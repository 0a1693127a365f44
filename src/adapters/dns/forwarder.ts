/**
 * A small DNS forwarder (UDP and TCP) for containers in network namespaces of their own: their
 * resolv.conf cannot name the cluster DNS on a 127/8 address (that is the namespace's own lo), so
 * the agent listens on an address they reach (the bridge's gateway, port 53) and relays each
 * query unchanged to the cluster DNS, and each answer back. It keeps no cache and reads nothing
 * but the length of a message: the cluster DNS does the work.
 *
 * UDP: one upstream socket per query (its own source port, so answers cannot be confused),
 * bounded in number; an unanswered query is dropped after `timeoutMs` (the client retries).
 * TCP: each client connection is piped to a connection of its own to the upstream.
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';

export interface DnsForwarderOptions {
  /** Address to listen on (UDP and TCP). */
  host: string;
  port: number;
  upstream: { host: string; port: number };
  timeoutMs?: number;
  /** Queries in flight at once over UDP; more are dropped (the client retries). */
  maxInFlight?: number;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

const MAX_DNS_MESSAGE = 65_535;

export class DnsForwarder {
  private udp: Socket | undefined;
  private tcp: Server | undefined;
  private inFlight = 0;
  private readonly conns = new Set<{ destroy(): void }>();
  /** Queries relayed and dropped, for tests and logs. */
  readonly stats = { udp: 0, tcp: 0, dropped: 0 };

  constructor(readonly opts: DnsForwarderOptions) {}

  /** Binds UDP and TCP; rejects (binding neither) when either cannot be bound. */
  async start(): Promise<void> {
    const { host, port } = this.opts;
    const udp = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ address: host, port, exclusive: true }, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    udp.on('error', (e) => this.opts.log?.('warn', `DNS forwarder on ${host}:${port} (udp): ${e.message}`));
    udp.on('message', (msg, rinfo) => this.relayUdp(udp, msg, rinfo.address, rinfo.port));
    const tcp = createServer((c) => this.relayTcp(c));
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host, port: udp.address().port, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      udp.close();
      throw e;
    }
    tcp.on('error', (e) => this.opts.log?.('warn', `DNS forwarder on ${host}:${port} (tcp): ${e.message}`));
    this.udp = udp;
    this.tcp = tcp;
  }

  /** The bound port (the one asked for, or the one the kernel chose for port 0). */
  get port(): number {
    return this.udp?.address().port ?? 0;
  }

  get listening(): boolean {
    return this.udp !== undefined;
  }

  private relayUdp(server: Socket, msg: Buffer, address: string, port: number): void {
    if (msg.length < 12 || msg.length > MAX_DNS_MESSAGE) return;
    if (this.inFlight >= (this.opts.maxInFlight ?? 1024)) {
      this.stats.dropped++;
      return;
    }
    this.inFlight++;
    this.stats.udp++;
    const up = createSocket(this.opts.upstream.host.includes(':') ? 'udp6' : 'udp4');
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.inFlight--;
      this.conns.delete(handle);
      up.close();
    };
    const handle = { destroy: finish };
    this.conns.add(handle);
    const timer = setTimeout(finish, this.opts.timeoutMs ?? 5_000);
    up.on('error', finish);
    up.on('message', (answer) => {
      // Only an answer to this query (same id) goes back; anything else on the socket is ignored.
      if (answer.length < 12 || answer.readUInt16BE(0) !== msg.readUInt16BE(0)) return;
      server.send(answer, port, address, () => {});
      finish();
    });
    up.send(msg, this.opts.upstream.port, this.opts.upstream.host, (e) => {
      if (e) finish();
    });
  }

  private relayTcp(client: import('node:net').Socket): void {
    this.stats.tcp++;
    const up = connect({ host: this.opts.upstream.host, port: this.opts.upstream.port });
    const handle = {
      destroy: () => {
        client.destroy();
        up.destroy();
      },
    };
    this.conns.add(handle);
    const idle = this.opts.timeoutMs ?? 5_000;
    client.setTimeout(idle * 6, () => handle.destroy());
    const end = () => {
      this.conns.delete(handle);
      handle.destroy();
    };
    client.on('error', end);
    up.on('error', end);
    client.on('close', end);
    up.on('close', end);
    client.pipe(up);
    up.pipe(client);
  }

  async stop(): Promise<void> {
    for (const c of [...this.conns]) c.destroy();
    this.conns.clear();
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    await Promise.all([udp ? new Promise<void>((r) => udp.close(() => r())) : undefined, tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined]);
  }
}
