import type { IncomingMessage, ServerResponse } from 'node:http';
import { DnsServer, hostResolvers, parseUpstream, type Upstream } from '../adapters/dns/index.js';
import { type HttpServer, Router, sendJson, serveHttp } from '../api/http.js';
import { mesosDnsRoutes } from '../api/mesos-dns.js';
import { DEFAULT_DNS_CONFIG, type DnsConfig } from '../core/dns/index.js';
import { DnsService } from '../services/dns/index.js';
import type { Master } from '../services/master/master.js';
import { getState } from '../services/master/views.js';
import { VERSION } from './version.js';

export interface ClusterDnsOptions {
  ip: string;
  masterPort: number;
  /** DNS port (UDP and TCP); 0 = a free port. */
  dnsPort: number;
  /** Mesos-DNS HTTP API port; 0 = a free port; undefined = none (the gateway still serves it). */
  httpPort: number | undefined;
  /** "host[:port]" resolvers for other names; undefined = the host's /etc/resolv.conf. */
  upstreams?: string[];
  config?: Partial<DnsConfig>;
  /** Another "ip:port" to answer on as well (a second listener on the same zone); best effort. */
  alsoListen?: string;
  log: (level: string, msg: string) => void;
}

export interface ClusterDns {
  service: DnsService;
  server: DnsServer;
  router: Router;
  dnsPort: number;
  httpPort: number | undefined;
  /** "ip:port" of the second listener when it was bound. */
  alsoListen: string | undefined;
  stop(): Promise<void>;
}

/** The cluster DNS in the master process: records pushed from the master's operator events. */
export async function startClusterDns(master: Master, opts: ClusterDnsOptions): Promise<ClusterDns> {
  const config: DnsConfig = { ...DEFAULT_DNS_CONFIG, nsIp: opts.ip === '0.0.0.0' ? '127.0.0.1' : opts.ip, ...opts.config };
  const service = new DnsService(config);
  const leader = { ip: config.nsIp, port: opts.masterPort };
  service.start({
    snapshot: () => ({ state: getState(master), leader, masters: [leader] }),
    subscribe: (sink) => master.operatorSubscribe(sink),
  });
  // Never forward to ourselves (a resolv.conf that already points at the cluster DNS).
  const upstreams: Upstream[] = (opts.upstreams ? opts.upstreams.map(parseUpstream) : hostResolvers()).filter(
    (u) => !(u.port === opts.dnsPort && (u.host === opts.ip || u.host === '127.0.0.1')),
  );
  const server = new DnsServer({ zone: service.zone, config, host: opts.ip, port: opts.dnsPort, upstreams, log: opts.log });
  await server.start();
  let also: DnsServer | undefined;
  if (opts.alsoListen) {
    const i = opts.alsoListen.lastIndexOf(':');
    const host = opts.alsoListen.slice(0, i);
    const port = Number(opts.alsoListen.slice(i + 1));
    // Never forward to ourselves there either.
    const ups = upstreams.filter((u) => !(u.host === host && u.port === port));
    const s = new DnsServer({ zone: service.zone, config, host, port, upstreams: ups, log: opts.log });
    try {
      await s.start();
      also = s;
    } catch (e) {
      opts.log('warn', `cluster DNS not also on ${opts.alsoListen}: ${(e as Error).message}`);
      await s.close().catch(() => {});
    }
  }
  const router = new Router();
  let http: HttpServer | undefined;
  const apiOpts = {
    service,
    version: VERSION.dcos,
    dnsPort: server.port,
    httpPort: 0,
    resolvers: upstreams.map((u) => `${u.host}:${u.port}`),
    masters: [`${leader.ip}:${leader.port}`],
  };
  mesosDnsRoutes(router, apiOpts);
  if (opts.httpPort !== undefined) {
    try {
      http = await serveHttp(router, opts.httpPort, opts.ip, opts.log);
      apiOpts.httpPort = http.port;
    } catch (e) {
      opts.log('error', `Mesos-DNS HTTP API not started (port ${opts.httpPort}): ${(e as Error).message}; it is still served by the gateway at /mesos_dns/`);
    }
  }
  return {
    service,
    server,
    router,
    dnsPort: server.port,
    httpPort: http?.port,
    alsoListen: also ? opts.alsoListen : undefined,
    async stop() {
      service.stop();
      await Promise.all([server.close(), also?.close(), http?.close()]);
    },
  };
}

/** Serves the Mesos-DNS API through the gateway at /mesos_dns/ (as DC/OS Admin Router does). */
export function mountMesosDns(gateway: Router, dnsRouter: Router): void {
  gateway.on('*', '/mesos_dns/*', async (req: IncomingMessage, res: ServerResponse, ctx) => {
    const qs = ctx.query.toString();
    req.url = `/${ctx.params.rest ?? ''}${qs ? `?${qs}` : ''}`;
    if (!(await dnsRouter.handle(req, res))) sendJson(res, 404, { code: 404, message: `No route for ${req.url}` });
  });
}
