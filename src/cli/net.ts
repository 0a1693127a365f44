import { parseFlags } from '../base/flags.js';
import { ClusterClient, httpError } from './client.js';
import type { CommandSpec } from './commands.js';
import { CliError, printJson, table } from './output.js';

interface VipJson {
  vip: string;
  protocol: string;
  name: string;
  dns: string[];
  backend: { ip: string; port: number; task_id: string }[];
}

/** `dcos net vips`: the VIP table (address, name, backends), from /net/v1/vips. */
export const netVips: CommandSpec = {
  summary: 'List VIPs and their backends',
  usage: 'dcos net vips [--json]',
  booleans: ['json'],
  async run(args) {
    const { flags } = parseFlags(args, new Set(['json']));
    const c = new ClusterClient();
    const vips = await c.getJson<VipJson[]>('/net/v1/vips');
    if (flags.has('json')) {
      printJson(vips);
      return 0;
    }
    if (vips.length === 0) {
      console.log('No VIPs. Add a label VIP_0="/name:port" to a port of an app (portDefinitions[0].labels).');
      return 0;
    }
    const rows = vips.map((v) => [
      v.name,
      `${v.vip}/${v.protocol}`,
      v.dns[0] ?? '-',
      v.backend.length ? v.backend.map((b) => `${b.ip}:${b.port}`).join(' ') : '(none)',
    ]);
    console.log(table(['NAME', 'VIP', 'DNS', 'BACKENDS'], rows));
    return 0;
  },
};

export const NET_GROUP = {
  summary: 'Networking: VIPs (layer-4 load balancing)',
  commands: { vips: netVips },
};

/** The Marathon app of the edge LB (`dcos edgelb install`), marathon-lb's shape. */
export function edgeLbApp(o: {
  id: string;
  role: string;
  marathon: string;
  group: string;
  bind: string;
  httpPort: number;
  node: string;
  dcos: string;
  instances: number;
}): Record<string, unknown> {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return {
    id: o.id,
    instances: o.instances,
    cpus: 0.2,
    mem: 128,
    cmd: [
      'exec',
      q(o.node),
      q(o.dcos),
      'edgelb',
      `--marathon=${q(o.marathon)}`,
      `--group=${q(o.group)}`,
      `--bind=${o.bind === '$HOST' ? '"$HOST"' : q(o.bind)}`,
      '--http_port="$PORT0"',
      '--stats_port="$PORT1"',
      '--work_dir="$MESOS_SANDBOX/edgelb"',
    ].join(' '),
    acceptedResourceRoles: [o.role],
    portDefinitions: [
      { port: o.httpPort, name: 'http', protocol: 'tcp' },
      { port: 0, name: 'stats', protocol: 'tcp' },
    ],
    ...(o.httpPort !== 0 ? { requirePorts: true } : {}),
    healthChecks: [
      {
        protocol: 'MESOS_HTTP',
        portIndex: 1,
        path: '/_haproxy_health_check',
        gracePeriodSeconds: 30,
        delaySeconds: 2,
        intervalSeconds: 5,
        timeoutSeconds: 5,
        maxConsecutiveFailures: 3,
      },
    ],
    // One LB per public agent at most: they bind the same service ports.
    constraints: [['hostname', 'UNIQUE']],
    upgradeStrategy: { minimumHealthCapacity: 0, maximumOverCapacity: 0 },
    labels: { DCOS_SERVICE_NAME: o.id.replace(/^\//, ''), DCOS_PACKAGE_NAME: 'edgelb' },
  };
}

const EDGELB_INSTALL_USAGE =
  'dcos edgelb install [--id=/edgelb] [--public-agent-role=slave_public] [--group=external] [--http-port=0] [--bind=IP] [--instances=1] [--marathon-url=URL] [--json]';

/**
 * `dcos edgelb install`: posts the edge LB as a Marathon app on public agents (resources of
 * role slave_public), running `dcos edgelb` in the foreground against the cluster's Marathon.
 */
export async function edgelbInstall(args: string[]): Promise<number> {
  const { flags } = parseFlags(args, new Set(['json']));
  const id = flags.get('id') ?? '/edgelb';
  if (!/^\/?[a-z0-9]([a-z0-9.-]*[a-z0-9])?(\/[a-z0-9]([a-z0-9.-]*[a-z0-9])?)*$/.test(id))
    throw new CliError(`--id: '${id}' is not a Marathon app id (lowercase letters, digits, '-', '.', '/').`);
  const role = flags.get('public-agent-role') ?? 'slave_public';
  if (!/^[\w.-]+$/.test(role) || role === '.' || role === '..') throw new CliError(`--public-agent-role: '${role}' is not a role name.`);
  const httpPort = Number(flags.get('http-port') ?? '0');
  if (!Number.isInteger(httpPort) || httpPort < 0 || httpPort > 65535)
    throw new CliError(`--http-port: expected 0-65535 (0 = assigned), got '${flags.get('http-port')}'.`);
  const instances = Number(flags.get('instances') ?? '1');
  if (!Number.isInteger(instances) || instances < 0) throw new CliError(`--instances: expected a whole number, got '${flags.get('instances')}'.`);
  const c = new ClusterClient();
  const app = edgeLbApp({
    id: id.startsWith('/') ? id : `/${id}`,
    role,
    marathon: flags.get('marathon-url') ?? `${c.baseUrl}/service/marathon`,
    group: flags.get('group') ?? 'external',
    bind: flags.get('bind') ?? '$HOST',
    httpPort,
    node: process.execPath,
    dcos: process.argv[1] ?? 'dcos',
    instances,
  });
  // Say early why the app could wait for ever: Marathon without the role, or no public agent.
  const info = await c.getJson<{ marathon_config?: { mesos_role?: string } }>('/service/marathon/v2/info').catch(() => undefined);
  const mRole = info?.marathon_config?.mesos_role;
  if (mRole !== undefined && mRole !== role)
    throw new CliError(
      `Marathon runs with role '${mRole}', so it is never offered resources reserved for '${role}'.`,
      "Start the master with --marathon_role=slave_public ('dcos up --public-agents=1' does), or pass --public-agent-role.",
    );
  const slaves = await c.getJson<{ slaves?: { reserved_resources?: Record<string, unknown> }[] }>('/mesos/master/slaves').catch(() => undefined);
  if (slaves && !slaves.slaves?.some((s) => s.reserved_resources?.[role]))
    process.stderr.write(
      `Warning: no agent has resources reserved for role ${role} yet; the edge LB waits until one registers ('dcos up --public-agents=1').\n`,
    );
  const res = await c.request('POST', '/service/marathon/v2/apps', app);
  if (res.status === 409)
    throw new CliError(`The edge LB ${app.id} is already installed.`, `'dcos edgelb uninstall${id === '/edgelb' ? '' : ` --id=${id}`}' removes it.`);
  if (!res.ok) throw await httpError(res, 'install');
  const created = (await res.json()) as Record<string, unknown>;
  if (flags.has('json')) printJson(created);
  else
    console.log(
      `Installed the edge LB as Marathon app ${app.id} on agents with role ${role} (HTTP on the task's first port; 'dcos marathon app show ${app.id}').`,
    );
  return 0;
}

/** `dcos edgelb uninstall`: removes the edge LB app (its HAProxy stops with its task). */
export async function edgelbUninstall(args: string[]): Promise<number> {
  const { flags } = parseFlags(args, new Set(['json']));
  const raw = flags.get('id') ?? '/edgelb';
  const id = raw.startsWith('/') ? raw : `/${raw}`;
  const c = new ClusterClient();
  const res = await c.request('DELETE', `/service/marathon/v2/apps${id}?force=true`);
  if (res.status === 404) throw new CliError(`The edge LB ${id} is not installed.`);
  if (!res.ok) throw await httpError(res, 'uninstall');
  const body = (await res.json()) as Record<string, unknown>;
  if (flags.has('json')) printJson({ id, ...body });
  else console.log(`Removed the edge LB ${id}.`);
  return 0;
}

export const EDGELB_USAGE = `Usage: dcos edgelb install|uninstall|run [flags]

  install    ${EDGELB_INSTALL_USAGE}
  uninstall  dcos edgelb uninstall [--id=/edgelb] [--json]
  run        the edge LB itself in the foreground (what the installed app runs): dcos edgelb [run] --help
`;
