import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { Socket } from 'node:net';
import { stringifyWithRaw } from '../base/raw-json.js';
import { encodeRecord } from '../base/recordio.js';
import type { EventSink } from '../ports/sink.js';

/** A route handler. Returning false means "not mine" so the next route is tried. */
export type Handler = (req: IncomingMessage, res: ServerResponse, ctx: RouteContext) => unknown;

export interface RouteContext {
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  params: Record<string, string>;
}

interface Route {
  method: string | '*';
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

/**
 * A deliberately small router: exact control over streaming responses matters more here than
 * framework features. Patterns use `:name` for one segment and `*` for the rest.
 */
export class Router {
  private readonly routes: Route[] = [];

  on(method: string | '*', path: string, handler: Handler): this {
    const keys: string[] = [];
    const src = path
      .split('/')
      .map((seg) => {
        if (seg.startsWith(':')) {
          keys.push(seg.slice(1));
          return '([^/]+)';
        }
        if (seg === '*') {
          keys.push('rest');
          return '(.*)';
        }
        return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('/');
    this.routes.push({ method, pattern: new RegExp(`^${src}$`), keys, handler });
    return this;
  }

  /** Handles the request; returns false when no route matched. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.replace(/\/{2,}/g, '/');
    let pathMatched = false;
    for (const r of this.routes) {
      const m = r.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== '*' && r.method !== req.method && !(r.method === 'GET' && req.method === 'HEAD')) continue;
      const params: Record<string, string> = {};
      r.keys.forEach((k, i) => {
        params[k] = decodeURIComponent(m[i + 1] ?? '');
      });
      const out = await r.handler(req, res, { path, query: url.searchParams, params });
      if (out !== false) return true;
    }
    if (pathMatched) {
      const allowed = [...new Set(this.routes.filter((r) => r.pattern.test(path)).map((r) => r.method))].join(', ');
      res.writeHead(405, { Allow: allowed, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`Expecting one of { '${allowed}' }, but received '${req.method}'`);
      return true;
    }
    return false;
  }
}

export class BodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Reads a request body with a size cap (413 beyond it). */
export async function readBody(req: IncomingMessage, maxBytes = 8 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new BodyError(413, `Request body exceeds ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = stringifyWithRaw(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Legacy Mesos GET endpoints accept ?jsonp=callback. */
export function sendLegacyJson(res: ServerResponse, query: URLSearchParams, body: unknown): void {
  const cb = query.get('jsonp');
  if (cb && /^[A-Za-z_$][\w$.]*$/.test(cb)) {
    const text = `${cb}(${stringifyWithRaw(body)});`;
    res.writeHead(200, { 'Content-Type': 'text/javascript', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  sendJson(res, 200, body);
}

/**
 * An EventSink writing RecordIO records to a chunked HTTP response: one write per record, compact
 * JSON, no separators (what mesos-framework and @dcos/recordio need). A subscriber that lets more
 * than maxBufferBytes pile up is disconnected instead of growing memory.
 */
export class RecordIOSink<E = unknown> implements EventSink<E> {
  private isClosed = false;
  private opened = false;
  private readonly closeFns: (() => void)[] = [];

  /** Headers are written on the first event (or `open()`), so a call can still fail with a plain error. */
  constructor(
    private readonly res: ServerResponse,
    private readonly maxBufferBytes: number,
    private readonly headers: Record<string, string> = { 'Content-Type': 'application/json' },
  ) {
    res.on('close', () => this.markClosed());
    res.socket?.setNoDelay(true);
    res.socket?.setTimeout(0);
  }

  /** Sends the 200 and the headers now, before any event. */
  open(): void {
    if (this.opened || this.isClosed) return;
    this.opened = true;
    this.res.writeHead(200, { ...this.headers, 'Cache-Control': 'no-cache' });
    this.res.flushHeaders();
  }

  /** True once the headers went out (the call can no longer answer with an error status). */
  get started(): boolean {
    return this.opened;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  send(event: E): boolean {
    if (this.isClosed) return false;
    if (this.res.writableLength > this.maxBufferBytes) {
      this.close();
      return false;
    }
    this.open();
    this.res.write(encodeRecord(JSON.stringify(event)));
    return true;
  }

  close(): void {
    if (this.isClosed) return;
    this.open();
    this.res.end();
    this.markClosed();
  }

  onClose(fn: () => void): void {
    if (this.isClosed) fn();
    else this.closeFns.push(fn);
  }

  private markClosed(): void {
    if (this.isClosed && this.closeFns.length === 0) return;
    this.isClosed = true;
    const fns = this.closeFns.splice(0);
    for (const fn of fns) fn();
  }
}

/** Parses a boolean query parameter the way clients send them: true/True/1, false/False/0. */
export function queryBool(q: URLSearchParams, name: string, dflt: boolean): boolean {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  const l = v.toLowerCase();
  if (l === 'true' || l === '1') return true;
  if (l === 'false' || l === '0') return false;
  return dflt;
}

export interface HttpServer {
  server: Server;
  port: number;
  /** Closes the listener and every open connection (streams included). */
  close(): Promise<void>;
}

/**
 * Serves a router on ip:port (0 = any free port): unmatched routes get a JSON 404, a handler
 * that throws gets a JSON 500 and a log line, long-lived streams are never timed out.
 */
export function serveHttp(router: Router, port: number, ip: string, log: (level: 'error', msg: string) => void = () => {}): Promise<HttpServer> {
  const server = createServer((req, res) => {
    router.handle(req, res).then(
      (handled) => {
        if (!handled) sendJson(res, 404, { code: 404, message: `No route for ${req.method} ${req.url}` });
      },
      (err: Error) => {
        log('error', `request ${req.method} ${req.url} failed: ${err.stack ?? err.message}`);
        if (!res.headersSent) sendJson(res, 500, { code: 500, message: err.message });
        else res.destroy();
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0;
  const sockets = new Set<Socket>();
  server.on('connection', (c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve({
        server,
        port: typeof addr === 'object' && addr ? addr.port : port,
        close: () => {
          for (const c of sockets) c.destroy();
          return new Promise<void>((r) => server.close(() => r()));
        },
      });
    });
  });
}
