import { createServer, type Server } from 'node:http';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { parseDurationMs } from '../base/duration.js';
import { parseFlags } from '../base/flags.js';
import { Random } from '../base/random.js';
import { RealClock } from '../adapters/clock-real.js';
import { MemoryStore } from '../adapters/store/memory.js';
import { SqliteStore } from '../adapters/store/sqlite.js';
import { gatewayRoutes } from '../api/gateway.js';
import { Router, sendJson } from '../api/http.js';
import { masterRoutes } from '../api/master.js';
import { HierarchicalAllocator } from '../core/allocator/index.js';
import type { Store } from '../ports/store.js';
import { DEFAULT_MASTER_CONFIG, type MasterConfig } from '../services/master/config.js';
import { Master } from '../services/master/master.js';
import { VERSION } from './version.js';

export interface MasterOptions {
  workDir?: string;
  ip?: string;
  port?: number;
  hostname?: string;
  /** Port of the gateway (the cluster URL); undefined = no gateway; 0 = any free port. */
  gatewayPort?: number;
  store?: 'sqlite' | 'memory';
  config?: Partial<MasterConfig>;
  log?: (level: string, msg: string) => void;
  seed?: number;
}

export interface RunningMaster {
  master: Master;
  port: number;
  gatewayPort: number | undefined;
  store: Store;
  stop(): Promise<void>;
}

function listen(server: Server, port: number, ip: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

function serve(router: Router): Server {
  const server = createServer((req, res) => {
    router.handle(req, res).then(
      (handled) => {
        if (!handled) sendJson(res, 404, { code: 404, message: `No route for ${req.method} ${req.url}` });
      },
      (err: Error) => {
        if (!res.headersSent) sendJson(res, 500, { code: 500, message: err.message });
        else res.destroy();
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0;
  return server;
}

/** Starts a master (and optionally the gateway) in this process. */
export async function startMaster(opts: MasterOptions): Promise<RunningMaster> {
  const ip = opts.ip ?? '127.0.0.1';
  const clock = new RealClock();
  const random = new Random(opts.seed ?? (Math.random() * 2 ** 32) >>> 0);
  const store: Store = opts.store === 'memory' ? new MemoryStore() : new SqliteStore(join(opts.workDir ?? '/var/lib/dcos-ts/master', 'registry.db'));
  const allocator = new HierarchicalAllocator({ random: random.fork() });
  const server0 = serve(new Router());
  const port = await listen(server0, opts.port ?? 5050, ip);
  const config: MasterConfig = {
    ...DEFAULT_MASTER_CONFIG,
    hostname: opts.hostname ?? ip,
    ip,
    port,
    version: VERSION.mesos,
    ...(opts.workDir ? { workDir: opts.workDir } : {}),
    ...opts.config,
  };
  const log = opts.log ?? (() => {});
  const master = new Master({ clock, random, store, allocator, config, log, defer: (fn) => setImmediate(fn) });
  const router = new Router();
  masterRoutes(router, master, { maxSubscriberBufferBytes: config.maxSubscriberBufferBytes, heartbeatIntervalMs: config.heartbeatIntervalMs });
  server0.removeAllListeners('request');
  server0.on('request', (req, res) => {
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
  await master.start();

  let gatewayServer: Server | undefined;
  let gatewayPort: number | undefined;
  if (opts.gatewayPort !== undefined) {
    const g = new Router();
    gatewayRoutes(g, { master, masterRouter: router, version: VERSION.dcos, clusterName: config.cluster ?? 'dcos-ts' });
    gatewayServer = serve(g);
    gatewayPort = await listen(gatewayServer, opts.gatewayPort, ip);
  }
  const sockets = new Set<import('node:net').Socket>();
  for (const s of [server0, gatewayServer])
    s?.on('connection', (c) => {
      sockets.add(c);
      c.on('close', () => sockets.delete(c));
    });

  return {
    master,
    port,
    gatewayPort,
    store,
    async stop() {
      await master.stop();
      for (const c of sockets) c.destroy();
      await Promise.all([server0, gatewayServer].map((s) => (s ? new Promise<void>((r) => s.close(() => r())) : undefined)));
      await store.close();
    },
  };
}

const MASTER_HELP = `Usage: dcos master [flags]

Runs a master: the Mesos-compatible scheduler and operator APIs, the allocator and the registry.

Flags:
  --work_dir=DIR                 where the registry (SQLite) lives (default /var/lib/dcos-ts/master)
  --ip=IP                        address to bind (default 127.0.0.1)
  --port=PORT                    master port (default 5050; 0 = any free port)
  --hostname=NAME                hostname to advertise (default the ip)
  --gateway_port=PORT            also serve the cluster gateway on this port
  --store=sqlite|memory          registry backend (default sqlite)
  --agent_ping_timeout=DURATION  (default 15secs)
  --max_agent_ping_timeouts=N    (default 5)
  --allocation_interval=DURATION (default 1secs)
  --offer_timeout=DURATION       rescind offers not used within this time (default: never)
  --failover_retry=DURATION      status update retry interval (default 10secs)
  --cluster=NAME                 cluster name
`;

/** `dcos master`: runs until SIGTERM/SIGINT. Prints one JSON line when ready. */
export async function runMaster(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, new Set(['help']));
  if (flags.has('help')) {
    process.stdout.write(MASTER_HELP);
    return;
  }
  const dur = (name: string): number | undefined => {
    const v = flags.get(name);
    if (v === undefined) return undefined;
    const ms = parseDurationMs(v);
    if (ms === undefined) throw new Error(`--${name}: cannot parse duration '${v}' (examples: 15secs, 500ms, 2mins)`);
    return ms;
  };
  const int = (name: string): number | undefined => {
    const v = flags.get(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: expected a non-negative integer, got '${v}'`);
    return n;
  };
  const config: Partial<MasterConfig> = {};
  const set = <K extends keyof MasterConfig>(k: K, v: MasterConfig[K] | undefined) => {
    if (v !== undefined) config[k] = v;
  };
  set('agentPingTimeoutMs', dur('agent-ping-timeout'));
  set('maxAgentPingTimeouts', int('max-agent-ping-timeouts'));
  set('allocationIntervalMs', dur('allocation-interval'));
  set('offerTimeoutMs', dur('offer-timeout'));
  set('statusUpdateRetryMs', dur('failover-retry'));
  set('cluster', flags.get('cluster'));
  const ip = flags.get('ip') ?? '127.0.0.1';
  const gw = flags.get('gateway-port');
  const running = await startMaster({
    workDir: flags.get('work-dir') ?? '/var/lib/dcos-ts/master',
    ip,
    port: int('port') ?? 5050,
    hostname: flags.get('hostname') ?? (ip === '0.0.0.0' ? osHostname() : ip),
    ...(gw !== undefined ? { gatewayPort: Number(gw) } : {}),
    store: flags.get('store') === 'memory' ? 'memory' : 'sqlite',
    config,
    log: (level, msg) => process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} master: ${msg}\n`),
  });
  process.stdout.write(`${JSON.stringify({ event: 'ready', master_id: running.master.id, port: running.port, gateway_port: running.gatewayPort ?? null })}\n`);
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
  });
  await running.stop();
}
