import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { Clock } from '../base/clock.js';
import type { Random } from '../base/random.js';
import { type HttpServer, Router, sendJson, serveHttp } from '../api/http.js';
import { marathonRoutes } from '../api/marathon.js';
import type { HttpAnswer } from '../core/marathon/index.js';
import type { Store } from '../ports/store.js';
import type { Master } from '../services/master/master.js';
import { type HealthProber, Marathon, type MarathonConfig, type ProbeResult } from '../services/marathon/index.js';

/** The Marathon release whose API this one follows (api-contracts.md §4). */
export const MARATHON_API_VERSION = '1.11.0';

export interface RunningMarathon {
  marathon: Marathon;
  router: Router;
  port: number;
  stop(): Promise<void>;
}

/**
 * Marathon in the master process: its own HTTP port and the in-process scheduler transport
 * (the same call and event objects as the HTTP scheduler API, without the wire).
 */
export async function startMarathon(opts: {
  master: Master;
  ip: string;
  port: number;
  masterPort: number;
  clock: Clock;
  random: Random;
  store: Store;
  log: (level: string, msg: string) => void;
  config?: Partial<MarathonConfig>;
}): Promise<RunningMarathon> {
  const router = new Router();
  const http: HttpServer = await serveHttp(router, opts.port, opts.ip, opts.log);
  const { master } = opts;
  const marathon = new Marathon({
    clock: opts.clock,
    random: opts.random,
    store: opts.store,
    log: opts.log,
    defer: (fn) => setImmediate(fn),
    prober: netProber,
    config: { leader: `${opts.ip}:${http.port}`, masterUrl: `http://${opts.ip}:${opts.masterPort}`, ...(opts.config ?? {}) },
    transport: {
      subscribe: (call, sink, streamId) => master.subscribe(call as Parameters<Master['subscribe']>[0], sink, streamId, opts.ip),
      call: (call, streamId) => master.schedulerCall(call as unknown as Parameters<Master['schedulerCall']>[0], streamId),
    },
  });
  marathonRoutes(router, marathon, { version: MARATHON_API_VERSION });
  await marathon.start();
  return {
    marathon,
    router,
    port: http.port,
    async stop() {
      await marathon.stop();
      await http.close();
    },
  };
}

/** The deprecated `/marathon/` prefix of Admin Router, next to `/service/marathon/`. */
export function mountMarathonAlias(gateway: Router, marathonRouter: Router): void {
  gateway.on('*', '/marathon/*', async (req, res, ctx) => {
    const qs = ctx.query.toString();
    req.url = `/${ctx.params.rest ?? ''}${qs ? `?${qs}` : ''}`;
    if (!(await marathonRouter.handle(req, res))) sendJson(res, 404, { message: `No route for ${req.url}` });
  });
}

/** Health checks over the network: HTTP(S) status 200-399 is healthy (1xx too if ignored), TCP connects. */
export const netProber: HealthProber = {
  http(host, port, path, https, timeoutMs, ignoreHttp1xx): Promise<ProbeResult> {
    return new Promise((resolve) => {
      const req = (https ? httpsRequest : httpRequest)(
        { host, port, path, method: 'GET', timeout: timeoutMs, agent: false, rejectUnauthorized: false },
        (res) => {
          res.resume();
          const code = res.statusCode ?? 0;
          resolve(code >= 200 && code < 400 ? { ok: true } : ignoreHttp1xx && code < 200 ? { ok: true } : { ok: false, cause: `HTTP ${code}` });
        },
      );
      req.on('timeout', () => {
        req.destroy();
        resolve({ ok: false, cause: `timed out after ${timeoutMs} ms` });
      });
      req.on('error', (e) => resolve({ ok: false, cause: e.message }));
      req.end();
    });
  },
  get(host, port, path, https, timeoutMs): Promise<HttpAnswer> {
    return new Promise((resolve) => {
      const req = (https ? httpsRequest : httpRequest)(
        { host, port, path, method: 'GET', timeout: timeoutMs, agent: false, rejectUnauthorized: false },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            // Only the start of a body is kept (readiness results show at most a few KB).
            if (size < 65536) chunks.push(c);
            size += c.length;
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', (e) => resolve({ error: e.message }));
        },
      );
      req.on('timeout', () => {
        req.destroy();
        resolve({ error: `timed out after ${timeoutMs} ms` });
      });
      req.on('error', (e) => resolve({ error: e.message }));
      req.end();
    });
  },
  tcp(host, port, timeoutMs): Promise<ProbeResult> {
    return new Promise((resolve) => {
      const sock = connect({ host, port, timeout: timeoutMs });
      sock.on('connect', () => {
        sock.destroy();
        resolve({ ok: true });
      });
      sock.on('timeout', () => {
        sock.destroy();
        resolve({ ok: false, cause: `timed out after ${timeoutMs} ms` });
      });
      sock.on('error', (e) => resolve({ ok: false, cause: e.message }));
    });
  },
};
