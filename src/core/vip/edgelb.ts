/**
 * The edge load balancer's HAProxy configuration from Marathon apps, driven by marathon-lb's
 * labels: HAPROXY_GROUP, HAPROXY_n_GROUP, HAPROXY_n_VHOST, HAPROXY_n_MODE, HAPROXY_n_PATH,
 * HAPROXY_n_BALANCE. Virtual hosts share one HTTP frontend; every service port gets its own
 * frontend (tcp or http). Only running (and, with health checks, healthy) tasks are servers.
 * Pure: label values are checked before they reach the text, so no label can inject config.
 */

type Json = Record<string, any>;

export interface EdgeLbOptions {
  /** Apps whose HAPROXY_GROUP lists this group are served; `*` serves every app. */
  group: string;
  /** Address every frontend binds. */
  bind: string;
  /** The virtual-host (HTTP) frontend's port. */
  httpPort: number;
  /** HAProxy's stats page port; undefined = none. */
  statsPort?: number | undefined;
  /** The admin socket (runtime API; passes listeners to new workers on reload). */
  socketPath: string;
}

export interface EdgeBackend {
  name: string;
  appId: string;
  portIndex: number;
  mode: 'http' | 'tcp';
  balance: string;
  servicePort: number | undefined;
  vhosts: string[];
  path: string | undefined;
  servers: { name: string; host: string; port: number }[];
}

export interface EdgeConfig {
  text: string;
  backends: EdgeBackend[];
  problems: string[];
}

const BALANCES = new Set(['roundrobin', 'static-rr', 'leastconn', 'first', 'source', 'uri', 'random']);
const HOST_RE = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const PATH_RE = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/;
const SERVER_HOST_RE = /^[A-Za-z0-9.-]+$/;

const label = (labels: Json, key: string): string | undefined => {
  const v = labels[key];
  return typeof v === 'string' ? v : undefined;
};

/** Whether a Marathon task serves traffic: running, and all its health results alive if checked. */
export function edgeTaskServes(task: Json, hasHealthChecks: boolean): boolean {
  if (task.state !== 'TASK_RUNNING') return false;
  if (!hasHealthChecks) return true;
  const results = Array.isArray(task.healthCheckResults) ? task.healthCheckResults : [];
  return results.length > 0 && results.every((r: Json) => r?.alive === true);
}

function servicePorts(app: Json): number[] {
  const pm = app.container?.portMappings ?? app.container?.docker?.portMappings;
  if (Array.isArray(pm) && pm.length > 0) return pm.map((p: Json) => Number(p?.servicePort ?? 0));
  if (Array.isArray(app.portDefinitions)) return app.portDefinitions.map((p: Json) => Number(p?.port ?? 0));
  return [];
}

const inGroup = (value: string | undefined, group: string): boolean => group === '*' || (value ?? '').split(',').some((g) => g.trim() === group);

/** The backends of the apps this LB serves (sorted by name), and what was wrong with labels. */
export function edgeBackends(apps: readonly Json[], opts: Pick<EdgeLbOptions, 'group'>): { backends: EdgeBackend[]; problems: string[] } {
  const backends: EdgeBackend[] = [];
  const problems: string[] = [];
  for (const app of apps) {
    const id = typeof app?.id === 'string' ? app.id : '';
    if (!id) continue;
    const labels: Json = app.labels && typeof app.labels === 'object' ? app.labels : {};
    const ports = servicePorts(app);
    const tasks: Json[] = Array.isArray(app.tasks) ? app.tasks : [];
    const checked = Array.isArray(app.healthChecks) && app.healthChecks.length > 0;
    ports.forEach((servicePort, n) => {
      if (!inGroup(label(labels, `HAPROXY_${n}_GROUP`) ?? label(labels, 'HAPROXY_GROUP'), opts.group)) return;
      const where = `${id} port ${n}`;
      const vhostText = label(labels, `HAPROXY_${n}_VHOST`);
      const vhosts: string[] = [];
      for (const h of (vhostText ?? '').split(',').map((s) => s.trim().toLowerCase())) {
        if (!h) continue;
        if (HOST_RE.test(h)) vhosts.push(h);
        else problems.push(`${where}: HAPROXY_${n}_VHOST '${h}' is not a host name; left out`);
      }
      const modeText = label(labels, `HAPROXY_${n}_MODE`)?.toLowerCase();
      let mode: 'http' | 'tcp' = vhosts.length > 0 ? 'http' : 'tcp';
      if (modeText === 'http' || modeText === 'tcp') mode = modeText;
      else if (modeText !== undefined) problems.push(`${where}: HAPROXY_${n}_MODE '${modeText}' is not http or tcp; using ${mode}`);
      if (mode === 'tcp' && vhosts.length > 0) {
        problems.push(`${where}: virtual hosts need HAPROXY_${n}_MODE http; vhosts left out`);
        vhosts.length = 0;
      }
      const balanceText = label(labels, `HAPROXY_${n}_BALANCE`);
      let balance = 'roundrobin';
      if (balanceText !== undefined) {
        if (BALANCES.has(balanceText)) balance = balanceText;
        else problems.push(`${where}: HAPROXY_${n}_BALANCE '${balanceText}' is not one of ${[...BALANCES].join(', ')}; using roundrobin`);
      }
      let path = label(labels, `HAPROXY_${n}_PATH`);
      if (path !== undefined && !PATH_RE.test(path)) {
        problems.push(`${where}: HAPROXY_${n}_PATH '${path}' is not a URL path; ignored`);
        path = undefined;
      }
      const servers: EdgeBackend['servers'] = [];
      for (const t of tasks) {
        const host = typeof t?.host === 'string' ? t.host : '';
        const port = Array.isArray(t?.ports) ? Number(t.ports[n]) : Number.NaN;
        if (!edgeTaskServes(t, checked) || !SERVER_HOST_RE.test(host) || !(port > 0 && port < 65536)) continue;
        servers.push({ name: String(t.id).replace(/[^A-Za-z0-9._-]/g, '_'), host, port });
      }
      servers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const base = id.replace(/^\//, '').replace(/[^A-Za-z0-9_-]/g, '_');
      backends.push({
        name: `${base}_${servicePort > 0 ? servicePort : `p${n}`}`,
        appId: id,
        portIndex: n,
        mode,
        balance,
        servicePort: servicePort > 0 && servicePort < 65536 ? servicePort : undefined,
        vhosts,
        path,
        servers,
      });
    });
  }
  backends.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Two apps cannot share a service port: the first (by name) keeps it.
  const seen = new Map<number, string>();
  for (const b of backends) {
    if (b.servicePort === undefined) continue;
    const other = seen.get(b.servicePort);
    if (other) {
      problems.push(`${b.appId}: service port ${b.servicePort} is also used by ${other}; no frontend for it`);
      b.servicePort = undefined;
    } else seen.set(b.servicePort, b.appId);
  }
  return { backends, problems };
}

export function haproxyConfig(apps: readonly Json[], opts: EdgeLbOptions): EdgeConfig {
  const { backends, problems } = edgeBackends(apps, opts);
  const L: string[] = [
    '# Generated by dcos edgelb from Marathon app labels; changes here are overwritten.',
    'global',
    '  maxconn 4096', // needs about 2 file descriptors each; root here cannot raise the limit (no CAP_SYS_RESOURCE)
    `  stats socket ${opts.socketPath} mode 600 level admin expose-fd listeners`,
    '  hard-stop-after 5m',
    'defaults',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-request 15s',
    '  option dontlognull',
  ];
  if (opts.statsPort !== undefined) {
    L.push(
      'listen stats',
      `  bind ${opts.bind}:${opts.statsPort}`,
      // Mesos-level health checks (MESOS_HTTP) probe 127.0.0.1, as Mesos does.
      ...(opts.bind === '0.0.0.0' || opts.bind === '127.0.0.1' ? [] : [`  bind 127.0.0.1:${opts.statsPort}`]),
      '  mode http',
      '  monitor-uri /_haproxy_health_check',
      '  stats enable',
      '  stats uri /haproxy?stats',
    );
  }
  L.push('frontend http_in', `  bind ${opts.bind}:${opts.httpPort}`, '  mode http', '  option forwardfor');
  // Rules with a path first: they are more specific than the same host without one.
  const routed = backends.filter((b) => b.vhosts.length > 0).sort((a, b) => (b.path ?? '').length - (a.path ?? '').length);
  for (const [i, b] of routed.entries()) {
    L.push(`  acl host_${i} req.hdr(host),field(1,:),lower -m str ${b.vhosts.join(' ')}`);
    if (b.path) L.push(`  acl path_${i} path_beg ${b.path}`);
    L.push(`  use_backend ${b.name} if host_${i}${b.path ? ` path_${i}` : ''}`);
  }
  for (const b of backends) {
    if (b.servicePort === undefined) continue;
    L.push(`frontend ${b.name}_in`, `  bind ${opts.bind}:${b.servicePort}`, `  mode ${b.mode}`, `  default_backend ${b.name}`);
  }
  for (const b of backends) {
    L.push(`backend ${b.name}`, `  mode ${b.mode}`, `  balance ${b.balance}`);
    for (const s of b.servers) L.push(`  server ${s.name} ${s.host}:${s.port}`);
  }
  return { text: `${L.join('\n')}\n`, backends, problems };
}
