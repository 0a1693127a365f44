import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { parseDurationMs } from '../base/duration.js';
import { parseFlags } from '../base/flags.js';
import { Random } from '../base/random.js';
import { RealClock } from '../adapters/clock-real.js';
import { MemoryStore } from '../adapters/store/memory.js';
import { SqliteStore } from '../adapters/store/sqlite.js';
import { gatewayRoutes } from '../api/gateway.js';
import { type HttpServer, Router, serveHttp } from '../api/http.js';
import { masterRoutes } from '../api/master.js';
import { HierarchicalAllocator } from '../core/allocator/index.js';
import type { Store } from '../ports/store.js';
import { DEFAULT_MASTER_CONFIG, type MasterConfig } from '../services/master/config.js';
import { Master } from '../services/master/master.js';
import { type ClusterDns, mountMesosDns, startClusterDns } from './dns.js';
import { type RunningMarathon, mountMarathonAlias, startMarathon } from './marathon.js';
import { mountVips, type RunningVips, startVips, type VipMode } from './vip.js';
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
  /** Cluster DNS (UDP+TCP) port; undefined = no DNS; 0 = any free port. */
  dnsPort?: number;
  /** Mesos-DNS HTTP API port (default 8123 when DNS runs; 0 = any free port). */
  dnsHttpPort?: number;
  /** Resolvers for other names ("host[:port]"); default the host's /etc/resolv.conf. */
  dnsResolvers?: string[];
  /** Leave out tasks whose health check has not passed (DnsConfig.onlyHealthy). */
  dnsOnlyHealthy?: boolean;
  /** Another "ip:port" the cluster DNS also answers on (e.g. port 53 for containers' resolv.conf). */
  dnsAlsoListen?: string;
  /** Port of the Marathon API in this process; undefined = no Marathon; 0 = any free port. */
  marathonPort?: number;
  /** Marathon's framework role (DC/OS: slave_public, so apps can accept public agents' resources; apps default to '*' only). */
  marathonRole?: string;
  /** VIPs (needs DNS): data path and address range; undefined = no VIPs. */
  vip?: { mode: VipMode; range?: string; src?: string };
}

export interface RunningMaster {
  master: Master;
  port: number;
  gatewayPort: number | undefined;
  dns: ClusterDns | undefined;
  marathon: RunningMarathon | undefined;
  vips: RunningVips | undefined;
  store: Store;
  stop(): Promise<void>;
}

/** Starts a master (and optionally the gateway) in this process. */
export async function startMaster(opts: MasterOptions): Promise<RunningMaster> {
  const ip = opts.ip ?? '127.0.0.1';
  const clock = new RealClock();
  const random = new Random(opts.seed ?? (Math.random() * 2 ** 32) >>> 0);
  const store: Store = opts.store === 'memory' ? new MemoryStore() : new SqliteStore(join(opts.workDir ?? '/var/lib/dcos-ts/master', 'registry.db'));
  const allocator = new HierarchicalAllocator({ random: random.fork() });
  const log = opts.log ?? (() => {});
  // Listen first: with port 0 the master must know its port before it describes itself.
  const router = new Router();
  const http = await serveHttp(router, opts.port ?? 5050, ip, log);
  const port = http.port;
  const config: MasterConfig = {
    ...DEFAULT_MASTER_CONFIG,
    hostname: opts.hostname ?? ip,
    ip,
    port,
    version: VERSION.mesos,
    ...(opts.workDir ? { workDir: opts.workDir } : {}),
    ...opts.config,
  };
  const master = new Master({ clock, random, store, allocator, config, log, defer: (fn) => setImmediate(fn) });
  masterRoutes(router, master, { maxSubscriberBufferBytes: config.maxSubscriberBufferBytes, heartbeatIntervalMs: config.heartbeatIntervalMs });
  await master.start();

  let dns: ClusterDns | undefined;
  if (opts.dnsPort !== undefined) {
    try {
      const dnsOpts = {
        ip,
        masterPort: port,
        dnsPort: opts.dnsPort,
        httpPort: opts.dnsHttpPort ?? 8123,
        log,
        ...(opts.dnsOnlyHealthy ? { config: { onlyHealthy: true } } : {}),
        ...(opts.dnsAlsoListen ? { alsoListen: opts.dnsAlsoListen } : {}),
      };
      dns = await startClusterDns(master, opts.dnsResolvers ? { ...dnsOpts, upstreams: opts.dnsResolvers } : dnsOpts);
    } catch (e) {
      log('error', `cluster DNS not started (port ${opts.dnsPort}): ${(e as Error).message}`);
    }
  }

  let vips: RunningVips | undefined;
  if (opts.vip && dns) {
    try {
      const { src, ...vip } = opts.vip;
      vips = await startVips(dns.service, { ...vip, table: `dcos_vip_${port}`, log, ...vipSource(src, ip) });
    } catch (e) {
      log('error', `VIPs not started: ${(e as Error).message}`);
    }
  }

  let marathon: RunningMarathon | undefined;
  if (opts.marathonPort !== undefined) {
    const role = opts.marathonRole && opts.marathonRole !== '*' ? { config: { role: opts.marathonRole, defaultAcceptedResourceRoles: ['*'] } } : {};
    marathon = await startMarathon({ master, ip, port: opts.marathonPort, masterPort: port, clock, random: random.fork(), store, log, ...role });
  }

  let gateway: HttpServer | undefined;
  if (opts.gatewayPort !== undefined) {
    const g = new Router();
    gatewayRoutes(g, {
      master,
      masterRouter: router,
      version: VERSION.dcos,
      clusterName: config.cluster ?? 'dcos-ts',
      ...(marathon ? { services: new Map([['marathon', marathon.router]]) } : {}),
    });
    if (marathon) mountMarathonAlias(g, marathon.router);
    if (dns) mountMesosDns(g, dns.router);
    if (vips) mountVips(g, vips.router);
    gateway = await serveHttp(g, opts.gatewayPort, ip, log);
  }

  return {
    master,
    port,
    gatewayPort: gateway?.port,
    dns,
    marathon,
    vips,
    store,
    async stop() {
      await marathon?.stop();
      await vips?.stop();
      await dns?.stop();
      await master.stop();
      await Promise.all([http.close(), gateway?.close()]);
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
  --dns_port=PORT                cluster DNS port, UDP and TCP (default 53; 0 = any free port; 'none' = no DNS)
  --dns_http_port=PORT           Mesos-DNS HTTP API port (default 8123; 0 = any free port)
  --marathon_port=PORT           Marathon API port (default 8080; 0 = any free port; 'none' = no Marathon)
  --marathon_role=ROLE           Marathon's role (default *); with slave_public (as DC/OS) apps that list it in
                                 acceptedResourceRoles run on public agents, the others still accept only '*'
  --dns_resolvers=H[:P],...      resolvers for other names (default: nameservers of /etc/resolv.conf)
  --dns_only_healthy             leave out tasks whose health check has not passed (tasks without one stay in)
  --dns_also_listen=IP:PORT      another address the DNS also answers on, e.g. 127.53.0.1:53 for containers'
                                 resolv.conf (if it cannot be bound, a warning and the ready line's
                                 dns_also_listen is null)
  --vip_mode=MODE                VIP data path: auto (nftables, else a userspace proxy), nftables, proxy, none (default auto)
  --vip_range=CIDR               addresses for named VIPs (default 11.0.0.0/8; made local on lo)
  --vip_src=IP|none              source address of local clients of a VIP (the local route's preferred source;
                                 default the --ip address, or none when it is 0.0.0.0)
`;

/** `dcos master`: runs until SIGTERM/SIGINT. Prints one JSON line when ready. */
export async function runMaster(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, new Set(['help', 'dns-only-healthy']));
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
    ...(flags.get('dns-port') === 'none' ? {} : { dnsPort: int('dns-port') ?? 53, dnsHttpPort: int('dns-http-port') ?? 8123 }),
    ...(flags.get('marathon-port') === 'none' ? {} : { marathonPort: int('marathon-port') ?? 8080 }),
    ...(flags.get('marathon-role') ? { marathonRole: flags.get('marathon-role') as string } : {}),
    ...(flags.get('dns-resolvers') !== undefined ? { dnsResolvers: (flags.get('dns-resolvers') as string).split(',').filter(Boolean) } : {}),
    ...(flags.get('dns-only-healthy') === 'true' ? { dnsOnlyHealthy: true } : {}),
    ...dnsAlsoFlag(flags.get('dns-also-listen')),
    ...vipFlags(flags.get('vip-mode'), flags.get('vip-range'), flags.get('vip-src')),
    config,
    log: (level, msg) => process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} master: ${msg}\n`),
  });
  process.stdout.write(
    `${JSON.stringify({ event: 'ready', master_id: running.master.id, port: running.port, gateway_port: running.gatewayPort ?? null, dns_port: running.dns?.dnsPort ?? null, dns_http_port: running.dns?.httpPort ?? null, dns_also_listen: running.dns?.alsoListen ?? null, marathon_port: running.marathon?.port ?? null, vip_mode: running.vips?.mode ?? null })}\n`,
  );
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
  });
  await running.stop();
}

function vipFlags(mode: string | undefined, range: string | undefined, src: string | undefined): Pick<MasterOptions, 'vip'> {
  const m = mode ?? 'auto';
  if (m === 'none') return {};
  if (m !== 'auto' && m !== 'nftables' && m !== 'proxy') throw new Error(`--vip_mode: expected auto, nftables, proxy or none, got '${m}'`);
  if (src !== undefined && src !== 'none' && !/^\d{1,3}(\.\d{1,3}){3}$/.test(src))
    throw new Error(`--vip_src: expected an IPv4 address of this machine or none, got '${src}'`);
  return { vip: { mode: m, ...(range ? { range } : {}), ...(src !== undefined ? { src } : {}) } };
}

function dnsAlsoFlag(v: string | undefined): Pick<MasterOptions, 'dnsAlsoListen'> {
  if (v === undefined) return {};
  if (!/^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/.test(v)) throw new Error(`--dns_also_listen: expected IPv4:PORT such as 127.53.0.1:53, got '${v}'`);
  return { dnsAlsoListen: v };
}

/** The VIP route's preferred source: as given ('none' = no source), else the master's address unless it is 0.0.0.0. */
function vipSource(given: string | undefined, ip: string): { src?: string } {
  if (given === 'none') return {};
  if (given !== undefined) return { src: given };
  return ip === '0.0.0.0' ? {} : { src: ip };
}
