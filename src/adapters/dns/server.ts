import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { type DnsConfig, lookup, type Zone } from '../../core/dns/index.js';
import { encodeAnswer, errorReply, FLAG_RD, parseQuestion, type Question, RCODE, udpLimit } from './wire.js';

export interface Upstream {
  host: string;
  port: number;
}

export interface DnsServerOptions {
  zone: Zone;
  config: DnsConfig;
  /** Address to listen on (UDP and TCP). */
  host: string;
  /** 0 = a free port (the same one for UDP and TCP). */
  port: number;
  /** Resolvers for names outside our zones, tried in order; [] = REFUSED. */
  upstreams: Upstream[];
  forwardTimeoutMs?: number;
  log?: (level: string, msg: string) => void;
}

/** Answers kept per zone version; a change to the zone drops them all. */
const MAX_CACHED_ANSWERS = 100_000;
/** Forwarded queries in flight over UDP; past this, SERVFAIL at once. */
const MAX_PENDING_FORWARDS = 4096;
const MAX_TCP_CONNECTIONS = 1024;
const TCP_IDLE_MS = 10_000;

interface Pending {
  client: RemoteInfo;
  clientId: number;
  msg: Buffer;
  upstream: number;
  timer: NodeJS.Timeout;
}

/** Parses the `nameserver` lines of resolv.conf. */
export function parseResolvConf(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m?.[1]) out.push({ host: m[1], port: 53 });
  }
  return out;
}

export function hostResolvers(path = '/etc/resolv.conf'): Upstream[] {
  try {
    return parseResolvConf(readFileSync(path, 'utf8'));
  } catch {
    return [];
  }
}

/** "host:port" or "host" (port 53). */
export function parseUpstream(s: string): Upstream {
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(s.trim());
  if (!m?.[1] || (m[1].includes(':') && !s.startsWith('['))) return { host: s.trim(), port: 53 };
  return { host: m[1], port: m[2] ? Number(m[2]) : 53 };
}

/**
 * The cluster DNS over UDP and TCP: names of our zones are answered from the Zone (answers are
 * cached per zone version, the client's id and question case patched in), other names are
 * relayed to the upstream resolvers. Large UDP answers come back truncated (TC) so clients retry
 * over TCP.
 */
export class DnsServer {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private fwd: UdpSocket | undefined;
  private readonly cache = new Map<string, Buffer>();
  private cacheVersion = -1;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly tcpConns = new Set<Socket>();
  port = 0;
  readonly stats = { queries: 0, answered: 0, nxdomain: 0, forwarded: 0, truncated: 0, errors: 0 };

  constructor(private readonly opts: DnsServerOptions) {}

  async start(): Promise<void> {
    const { host } = this.opts;
    const family = host.includes(':') ? 'udp6' : 'udp4';
    // UDP and TCP on one port: bind UDP first (port 0 picks one), then TCP on it; retry on a clash.
    for (let attempt = 0; ; attempt++) {
      const udp = createSocket({ type: family, reuseAddr: false });
      await new Promise<void>((res, rej) => {
        udp.once('error', rej);
        udp.bind(this.opts.port, host, () => {
          udp.off('error', rej);
          res();
        });
      });
      const port = udp.address().port;
      const tcp = createServer((s) => this.onTcp(s));
      const ok = await new Promise<boolean>((res) => {
        tcp.once('error', () => res(false));
        tcp.listen(port, host, () => res(true));
      });
      if (ok) {
        this.udp = udp;
        this.tcp = tcp;
        this.port = port;
        break;
      }
      udp.close();
      if (this.opts.port !== 0 || attempt >= 20) throw new Error(`DNS: TCP port ${port} on ${host} is taken`);
    }
    this.udp.on('message', (msg, rinfo) => this.onUdp(msg, rinfo));
    this.udp.on('error', (e) => this.opts.log?.('error', `dns udp: ${e.message}`));
    const fwd = createSocket(family);
    fwd.on('message', (msg, rinfo) => this.onUpstreamReply(msg, rinfo));
    fwd.on('error', (e) => this.opts.log?.('error', `dns forward: ${e.message}`));
    await new Promise<void>((res) => fwd.bind(0, () => res()));
    this.fwd = fwd;
  }

  async close(): Promise<void> {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    for (const s of this.tcpConns) s.destroy();
    await Promise.all([
      new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r())),
      new Promise<void>((r) => (this.fwd ? this.fwd.close(() => r()) : r())),
      new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r())),
    ]);
  }

  /** The reply for a query from the zone, or undefined when it must be forwarded. */
  answer(msg: Buffer, limitBytes: number | undefined): Buffer | undefined {
    const q = parseQuestion(msg);
    if (!q) return errorReply(msg, RCODE.FORMERR);
    const opcode = (q.flags >> 11) & 0xf;
    if (opcode !== 0) return errorReply(msg, RCODE.NOTIMP);
    const { zone, config } = this.opts;
    if (this.cacheVersion !== zone.version || this.cache.size >= MAX_CACHED_ANSWERS) {
      this.cache.clear();
      this.cacheVersion = zone.version;
    }
    const limit = limitBytes === undefined ? 0 : udpLimit(q.ednsSize);
    const key = `${q.type}|${limit}|${q.ednsSize === undefined ? 0 : 1}|${q.name}`;
    let tpl = this.cache.get(key);
    if (!tpl) {
      const ans = lookup(zone, q.name, q.type, config);
      if (ans.kind === 'forward') return undefined;
      const { buf, truncated } = encodeAnswer(q, ans, config.ttlSecs, limit || undefined);
      if (truncated) this.stats.truncated++;
      if (ans.rcode === RCODE.NXDOMAIN) this.stats.nxdomain++;
      tpl = buf;
      this.cache.set(key, tpl);
    }
    this.stats.answered++;
    // The template holds the lowercased question at the same offsets: patch id, RD and the client's spelling.
    const out = Buffer.allocUnsafe(tpl.length);
    tpl.copy(out);
    out.writeUInt16BE(q.id, 0);
    out.writeUInt16BE((out.readUInt16BE(2) & ~FLAG_RD) | (q.flags & FLAG_RD), 2);
    if (tpl.length >= q.end) msg.copy(out, 12, 12, q.end - 4);
    return out;
  }

  private onUdp(msg: Buffer, rinfo: RemoteInfo): void {
    this.stats.queries++;
    let reply: Buffer | undefined;
    try {
      reply = this.answer(msg, 512);
    } catch (e) {
      this.stats.errors++;
      reply = errorReply(msg, RCODE.SERVFAIL);
      this.opts.log?.('error', `dns: ${(e as Error).message}`);
    }
    if (reply) this.udp?.send(reply, rinfo.port, rinfo.address);
    else this.forwardUdp(msg, rinfo);
  }

  // ---------------------------------------------------------------------------------------------
  // Forwarding

  private forwardUdp(msg: Buffer, client: RemoteInfo): void {
    const q = parseQuestion(msg) as Question;
    if (this.opts.upstreams.length === 0) {
      this.udp?.send(errorReply(msg, RCODE.REFUSED), client.port, client.address);
      return;
    }
    if (this.pending.size >= MAX_PENDING_FORWARDS) {
      this.udp?.send(errorReply(msg, RCODE.SERVFAIL), client.port, client.address);
      return;
    }
    let id = this.nextId;
    while (this.pending.has(id)) id = (id + 1) & 0xffff;
    this.nextId = (id + 1) & 0xffff;
    const copy = Buffer.from(msg);
    copy.writeUInt16BE(id, 0);
    const p: Pending = { client, clientId: q.id, msg: copy, upstream: 0, timer: undefined as unknown as NodeJS.Timeout };
    this.pending.set(id, p);
    this.stats.forwarded++;
    this.sendUpstream(id, p);
  }

  private sendUpstream(id: number, p: Pending): void {
    const up = this.opts.upstreams[p.upstream] as Upstream;
    const perTryMs = Math.max(200, Math.floor((this.opts.forwardTimeoutMs ?? 5000) / this.opts.upstreams.length));
    p.timer = setTimeout(() => {
      p.upstream++;
      if (p.upstream < this.opts.upstreams.length) {
        this.sendUpstream(id, p);
        return;
      }
      this.pending.delete(id);
      const reply = errorReply(p.msg, RCODE.SERVFAIL);
      reply.writeUInt16BE(p.clientId, 0);
      this.udp?.send(reply, p.client.port, p.client.address);
    }, perTryMs);
    this.fwd?.send(p.msg, up.port, up.host);
  }

  private onUpstreamReply(msg: Buffer, rinfo: RemoteInfo): void {
    if (msg.length < 12) return;
    const id = msg.readUInt16BE(0);
    const p = this.pending.get(id);
    const up = p && this.opts.upstreams[p.upstream];
    if (!p || !up || up.port !== rinfo.port) return;
    clearTimeout(p.timer);
    this.pending.delete(id);
    const out = Buffer.from(msg);
    out.writeUInt16BE(p.clientId, 0);
    this.udp?.send(out, p.client.port, p.client.address);
  }

  private forwardTcp(msg: Buffer, reply: (b: Buffer) => void): void {
    const ups = this.opts.upstreams;
    if (ups.length === 0) {
      reply(errorReply(msg, RCODE.REFUSED));
      return;
    }
    this.stats.forwarded++;
    const tryOne = (i: number) => {
      if (i >= ups.length) {
        reply(errorReply(msg, RCODE.SERVFAIL));
        return;
      }
      const up = ups[i] as Upstream;
      const s = createConnection({ host: up.host, port: up.port });
      let buf: Buffer = Buffer.alloc(0);
      let done = false;
      const fail = () => {
        if (done) return;
        done = true;
        s.destroy();
        tryOne(i + 1);
      };
      s.setTimeout(Math.max(200, Math.floor((this.opts.forwardTimeoutMs ?? 5000) / ups.length)), fail);
      s.on('error', fail);
      s.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(msg.length);
        s.write(Buffer.concat([len, msg]));
      });
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          done = true;
          s.destroy();
          reply(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        }
      });
      s.on('close', fail);
    };
    tryOne(0);
  }

  // ---------------------------------------------------------------------------------------------
  // TCP: 2-byte length-prefixed messages (RFC 1035 §4.2.2), several per connection.

  private onTcp(s: Socket): void {
    if (this.tcpConns.size >= MAX_TCP_CONNECTIONS) {
      s.destroy();
      return;
    }
    this.tcpConns.add(s);
    s.on('close', () => this.tcpConns.delete(s));
    s.on('error', () => s.destroy());
    s.setTimeout(TCP_IDLE_MS, () => s.destroy());
    let buf: Buffer = Buffer.alloc(0);
    const send = (b: Buffer) => {
      if (s.destroyed) return;
      const len = Buffer.alloc(2);
      len.writeUInt16BE(b.length);
      s.write(Buffer.concat([len, b]));
    };
    s.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      while (buf.length >= 2) {
        const n = buf.readUInt16BE(0);
        if (buf.length < 2 + n) break;
        const msg = Buffer.from(buf.subarray(2, 2 + n));
        buf = buf.subarray(2 + n);
        this.stats.queries++;
        let reply: Buffer | undefined;
        try {
          reply = this.answer(msg, undefined);
        } catch (e) {
          this.stats.errors++;
          reply = errorReply(msg, RCODE.SERVFAIL);
          this.opts.log?.('error', `dns: ${(e as Error).message}`);
        }
        if (reply) send(reply);
        else this.forwardTcp(msg, send);
      }
    });
  }
}
