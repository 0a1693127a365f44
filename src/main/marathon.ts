import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { RealClock } from '../adapters/clock-real.js';
import { HttpSchedulerTransport, parseMasterUrl } from '../adapters/scheduler-http.js';
import { MemoryStore } from '../adapters/store/memory.js';
import { SqliteStore } from '../adapters/store/sqlite.js';
import type { Clock } from '../base/clock.js';
import { parseFlags } from '../base/flags.js';
import { Random } from '../base/random.js';
import { type HttpServer, Router, sendJson, serveHttp } from '../api/http.js';
import { marathonRoutes } from '../api/marathon.js';
import { CliError } from '../cli/output.js';
import type { HttpAnswer } from '../core/marathon/index.js';
import type { Store } from '../ports/store.js';
import type { Master } from '../services/master/master.js';
import { type HealthProber, Marathon, type MarathonConfig, type ProbeResult, type SchedulerTransport } from '../services/marathon/index.js';

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
  const { master } = opts;
  return serveMarathon({
    ...opts,
    masterUrl: `http://${opts.ip}:${opts.masterPort}`,
    transport: {
      subscribe: (call, sink, streamId) => master.subscribe(call as Parameters<Master['subscribe']>[0], sink, streamId, opts.ip),
      call: (call, streamId) => master.schedulerCall(call as unknown as Parameters<Master['schedulerCall']>[0], streamId),
    },
  });
}

/** Marathon over any scheduler transport, serving /v2 on `ip:port`. */
async function serveMarathon(opts: {
  ip: string;
  port: number;
  masterUrl: string;
  transport: SchedulerTransport;
  clock: Clock;
  random: Random;
  store: Store;
  log: (level: string, msg: string) => void;
  config?: Partial<MarathonConfig>;
  onStop?: () => Promise<void> | void;
}): Promise<RunningMarathon> {
  const router = new Router();
  const http: HttpServer = await serveHttp(router, opts.port, opts.ip, opts.log);
  const marathon = new Marathon({
    clock: opts.clock,
    random: opts.random,
    store: opts.store,
    log: opts.log,
    defer: (fn) => setImmediate(fn),
    prober: netProber,
    config: { leader: `${opts.ip}:${http.port}`, masterUrl: opts.masterUrl, ...(opts.config ?? {}) },
    transport: opts.transport,
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
      await opts.onStop?.();
    },
  };
}

/**
 * Marathon as its own process: framework `marathon` over the master's scheduler HTTP API
 * (RecordIO event stream, Mesos-Stream-Id on calls), its state in its own SQLite file.
 * A dropped stream (master restart, missed heartbeats) is re-subscribed with the same
 * framework id, with backoff.
 */
export async function startMarathonServer(opts: {
  master: string;
  workDir: string;
  ip?: string;
  port?: number;
  store?: 'sqlite' | 'memory';
  log?: (level: string, msg: string) => void;
  config?: Partial<MarathonConfig>;
  seed?: number;
}): Promise<RunningMarathon> {
  const transport = new HttpSchedulerTransport({ master: opts.master });
  const store: Store = opts.store === 'memory' ? new MemoryStore() : new SqliteStore(join(opts.workDir, 'marathon.db'));
  return serveMarathon({
    ip: opts.ip ?? '127.0.0.1',
    port: opts.port ?? 8080,
    masterUrl: transport.url,
    transport,
    clock: new RealClock(),
    random: new Random(opts.seed ?? (Math.random() * 2 ** 32) >>> 0),
    store,
    log: opts.log ?? (() => {}),
    ...(opts.config ? { config: opts.config } : {}),
    async onStop() {
      transport.close();
      await store.close();
    },
  });
}

const MARATHON_SERVER_HELP = `Usage: dcos marathon-server --master=http://HOST:PORT [flags]

Runs Marathon as its own process: framework 'marathon' over the master's scheduler HTTP API,
serving the Marathon REST API (/v2/*) on its own port. State lives in WORK_DIR/marathon.db;
a restarted process recovers it, re-subscribes as the same framework and reconciles.

Flags:
  --master=URL          the master, http://host:port or host:port (required)
  --work_dir=DIR        where marathon.db lives (default /var/lib/dcos-ts/marathon)
  --ip=IP               address to bind and advertise (default 127.0.0.1)
  --http_port=PORT      REST API port (default 8080; 0 = any free port)
  --store=sqlite|memory state backend (default sqlite)
  --framework_name=NAME (default marathon)
  --mesos_role=ROLE     the framework's role (default *)
`;

/** `dcos marathon-server`: runs until SIGTERM/SIGINT; prints one JSON line when serving. */
export async function runMarathonServer(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, new Set(['help']));
  if (flags.has('help')) {
    process.stdout.write(MARATHON_SERVER_HELP);
    return;
  }
  const master = flags.get('master');
  if (!master) throw new CliError('--master=http://HOST:PORT is required.', 'See dcos marathon-server --help.');
  try {
    parseMasterUrl(master);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const portText = flags.get('http-port') ?? '8080';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--http_port: expected 0-65535, got '${portText}'.`);
  const storeKind = flags.get('store') ?? 'sqlite';
  if (storeKind !== 'sqlite' && storeKind !== 'memory') throw new CliError(`--store must be sqlite or memory, got '${storeKind}'.`);
  const config: Partial<MarathonConfig> = {};
  const name = flags.get('framework-name');
  if (name) config.frameworkName = name;
  const role = flags.get('mesos-role');
  if (role) config.role = role;
  const running = await startMarathonServer({
    master,
    workDir: flags.get('work-dir') ?? '/var/lib/dcos-ts/marathon',
    ip: flags.get('ip') ?? '127.0.0.1',
    port,
    store: storeKind,
    config,
    log: (level, msg) => process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} marathon: ${msg}\n`),
  });
  process.stdout.write(`${JSON.stringify({ event: 'ready', http_port: running.port, master })}\n`);
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
  });
  await running.stop();
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
