import { lookup, normName, QTYPE, type Rr } from '../core/dns/index.js';
import type { DnsService } from '../services/dns/index.js';
import { type Router, sendJson } from './http.js';

export interface MesosDnsApiOptions {
  service: DnsService;
  version: string;
  dnsPort: number;
  httpPort: number;
  resolvers: string[];
  masters: string[];
}

const fqdn = (n: string) => (n.endsWith('.') ? n : `${n}.`);

/** The Mesos-DNS HTTP API (resolver.go): version, config, hosts, services, enumerate. */
export function mesosDnsRoutes(router: Router, opts: MesosDnsApiOptions): void {
  const { service } = opts;
  const cfg = service.config;
  const records = (name: string, type: number): Rr[] => {
    const a = lookup(service.zone, name, type, cfg);
    return a.kind === 'answer' ? (a.answers.filter((r) => r.type === 'A' || r.type === 'AAAA' || r.type === 'SRV') as Rr[]) : [];
  };

  router.on('GET', '/v1/version', (_req, res) =>
    sendJson(res, 200, { Service: 'Mesos-DNS', Version: opts.version, URL: 'https://github.com/mesosphere/mesos-dns' }),
  );

  router.on('GET', '/v1/config', (_req, res) =>
    sendJson(res, 200, {
      RefreshSeconds: 0,
      Port: opts.dnsPort,
      Timeout: 5,
      StateTimeoutSeconds: 300,
      ZkDetectionTimeout: 30,
      HttpPort: opts.httpPort,
      TTL: cfg.ttlSecs,
      SRVRecordDefaultWeight: cfg.srvWeight,
      SOASerial: cfg.soa.serial,
      SOARefresh: cfg.soa.refreshSecs,
      SOARetry: cfg.soa.retrySecs,
      SOAExpire: cfg.soa.expireSecs,
      SOAMinttl: cfg.soa.minTtlSecs,
      SOAMname: fqdn(cfg.soa.mname),
      SOARname: fqdn(cfg.soa.rname),
      Masters: opts.masters,
      ZoneResolvers: {},
      Resolvers: opts.resolvers,
      IPSources: cfg.ipSources,
      Zk: '',
      Domain: cfg.domain,
      File: '',
      Listener: '0.0.0.0',
      HTTPListener: '0.0.0.0',
      RecurseOn: opts.resolvers.length > 0,
      DnsOn: true,
      HttpOn: true,
      ExternalOn: opts.resolvers.length > 0,
      EnforceRFC952: cfg.enforceRFC952,
      SetTruncateBit: true,
      EnumerationOn: true,
      MesosHTTPSOn: false,
      CACertFile: '',
      CertFile: '',
      KeyFile: '',
      MesosCredentials: { Principal: '', Secret: '' },
      IAMConfigFile: '',
      MesosAuthentication: '',
    }),
  );

  router.on('GET', '/v1/hosts/:host', (_req, res, ctx) => {
    const host = fqdn(normName(ctx.params.host ?? ''));
    const out = [...records(host, QTYPE.A), ...records(host, QTYPE.AAAA)].map((r) => ({ host, ip: r.type === 'SRV' ? '' : r.ip }));
    sendJson(res, 200, out.length ? out : [{ host: '', ip: '' }]);
  });

  router.on('GET', '/v1/services/:service', (_req, res, ctx) => {
    const name = fqdn(normName(ctx.params.service ?? ''));
    const out: { service: string; host: string; ip: string; port: string }[] = [];
    for (const r of records(name, QTYPE.SRV)) {
      if (r.type !== 'SRV') continue;
      const ips = service.zone.records(r.target).filter((x): x is Extract<Rr, { ip: string }> => x.type === 'A' || x.type === 'AAAA');
      for (const ip of ips.length ? ips : [undefined]) out.push({ service: name, host: fqdn(r.target), ip: ip ? ip.ip : '', port: String(r.port) });
    }
    sendJson(res, 200, out.length ? out : [{ service: '', host: '', ip: '', port: '' }]);
  });

  router.on('GET', '/v1/enumerate', (_req, res) => {
    const byFw = new Map<string, { name: string; tasks: unknown[] }>();
    for (const fw of service.frameworks.values()) byFw.set(fw.id, { name: fw.name, tasks: [] });
    for (const t of service.tasks.values()) {
      const rrs = service.taskRecordsOf(t.framework_id.value, t.task_id.value);
      if (!rrs.length) continue;
      const entry = byFw.get(t.framework_id.value);
      entry?.tasks.push({
        name: t.name,
        id: t.task_id.value,
        records: rrs.map((r) => ({ name: fqdn(r.name), host: r.type === 'SRV' ? `${fqdn(r.target)}:${r.port}` : r.ip, rtype: r.type })),
      });
    }
    sendJson(res, 200, { frameworks: [...byFw.values()] });
  });

  /** Not in Mesos-DNS: what the DNS server answers for (name, type), for `dcos node dns`. */
  router.on('GET', '/v1/lookup/:name', (_req, res, ctx) => {
    const name = ctx.params.name ?? '';
    const type = (ctx.query.get('type') ?? 'ANY').toUpperCase();
    const qtype = QTYPE[type as keyof typeof QTYPE];
    if (qtype === undefined) return sendJson(res, 400, { code: 400, message: `Unknown type '${type}' (one of ${Object.keys(QTYPE).join(', ')})` });
    const a = lookup(service.zone, name, qtype, cfg);
    if (a.kind === 'forward') return sendJson(res, 200, { name: fqdn(name), type, status: 'FORWARDED', answers: [], additional: [] });
    return sendJson(res, 200, {
      name: fqdn(normName(name)),
      type,
      status: a.rcode === 3 ? 'NXDOMAIN' : 'NOERROR',
      answers: a.answers,
      additional: a.additional,
    });
  });
}
