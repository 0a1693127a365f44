import type { Clock } from '../base/clock.js';
import type { Random } from '../base/random.js';
import { type HttpServer, Router, sendJson, serveHttp } from '../api/http.js';
import { marathonRoutes } from '../api/marathon.js';
import type { Store } from '../ports/store.js';
import type { Master } from '../services/master/master.js';
import { Marathon, type MarathonConfig } from '../services/marathon/index.js';

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
