/**
 * Marathon app definitions (api-contracts.md §4.2): validation with a JSON path per bad field,
 * normalisation with Marathon's RAML defaults, and the split between runtime-relevant fields
 * (a change replaces tasks) and the rest (instances, labels, ... change nothing that runs).
 */
import { pathError, resolvePath } from './path.js';

// App JSON as clients send it: validated field by field below, so the input type is loose.
type Json = Record<string, any>;

export interface PortDefinition {
  port: number;
  protocol: string;
  name?: string;
  labels?: Record<string, string>;
}

export interface UpgradeStrategy {
  minimumHealthCapacity: number;
  maximumOverCapacity: number;
}

export type Constraint = [string, string] | [string, string, string];

/** A normalised app: every defaulted field is present. Unknown extra fields are kept as given. */
export interface App {
  id: string;
  cmd?: string;
  args?: string[];
  user?: string;
  env: Record<string, string | { secret: string }>;
  instances: number;
  cpus: number;
  mem: number;
  disk: number;
  gpus: number;
  executor: string;
  constraints: Constraint[];
  portDefinitions?: PortDefinition[];
  requirePorts: boolean;
  fetch: { uri: string; extract: boolean; executable: boolean; cache: boolean; destPath?: string }[];
  backoffSeconds: number;
  backoffFactor: number;
  maxLaunchDelaySeconds: number;
  upgradeStrategy: UpgradeStrategy;
  unreachableStrategy: 'disabled' | { inactiveAfterSeconds: number; expungeAfterSeconds: number };
  killSelection: 'YOUNGEST_FIRST' | 'OLDEST_FIRST';
  taskKillGracePeriodSeconds?: number;
  labels: Record<string, string>;
  dependencies: string[];
  healthChecks: Json[];
  readinessChecks: Json[];
  acceptedResourceRoles?: string[];
  role?: string;
  container?: Json;
  networks: Json[];
  secrets?: Json;
  version: string;
  versionInfo: { lastScalingAt: string; lastConfigChangeAt: string };
  [extra: string]: unknown;
}

export interface FieldError {
  path: string;
  errors: string[];
}

export type Validated = { ok: true; app: App } | { ok: false; details: FieldError[] };

const OPERATORS = new Set(['UNIQUE', 'CLUSTER', 'GROUP_BY', 'LIKE', 'UNLIKE', 'MAX_PER', 'IS']);
const HEALTH_PROTOCOLS = new Set(['HTTP', 'HTTPS', 'TCP', 'COMMAND', 'MESOS_TCP', 'MESOS_HTTP', 'MESOS_HTTPS']);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

class Errors {
  readonly list: FieldError[] = [];
  add(path: string, msg: string): void {
    const e = this.list.find((x) => x.path === path);
    if (e) e.errors.push(msg);
    else this.list.push({ path, errors: [msg] });
  }
}

function num(e: Errors, v: Json, key: string, dflt: number, opts: { min?: number; max?: number; int?: boolean } = {}): number {
  const x = v[key];
  if (x === undefined || x === null) return dflt;
  if (!isNum(x)) {
    e.add(`/${key}`, 'error.expected.jsnumber');
    return dflt;
  }
  if (opts.int && !Number.isInteger(x)) e.add(`/${key}`, 'error.expected.int');
  if (opts.min !== undefined && x < opts.min) e.add(`/${key}`, `got ${x}, expected ${opts.min} or more`);
  if (opts.max !== undefined && x > opts.max) e.add(`/${key}`, `got ${x}, expected ${opts.max} or less`);
  return x;
}

function strMap(e: Errors, v: unknown, path: string, allowSecret: boolean): Record<string, any> {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) {
    e.add(path, 'error.expected.jsobject');
    return {};
  }
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === 'string') continue;
    if (allowSecret && isObj(x) && typeof x.secret === 'string') continue;
    e.add(`${path}/${k}`, 'error.expected.jsstring');
  }
  return { ...v };
}

/**
 * Validates an app definition and fills in Marathon's defaults. `base` resolves relative ids
 * (a group's path); `nowIso` becomes the version of a new definition.
 */
export function validateApp(raw: unknown, nowIso: string, base = '/'): Validated {
  const e = new Errors();
  if (!isObj(raw)) return { ok: false, details: [{ path: '/', errors: ['error.expected.jsobject'] }] };
  const v = raw;
  let id = '';
  if (typeof v.id !== 'string' || v.id === '') e.add('/id', typeof v.id === 'string' ? 'error.minLength' : 'error.path.missing');
  else {
    id = resolvePath(v.id, base);
    const pe = pathError(id);
    if (pe) e.add('/id', pe);
  }
  if (v.cmd !== undefined && v.cmd !== null && (typeof v.cmd !== 'string' || v.cmd.length === 0)) e.add('/cmd', 'error.minLength');
  if (v.args !== undefined && v.args !== null && (!Array.isArray(v.args) || v.args.some((a: unknown) => typeof a !== 'string'))) {
    e.add('/args', 'error.expected.jsarray of strings');
  }
  const hasCmd = typeof v.cmd === 'string' && v.cmd.length > 0;
  const hasArgs = Array.isArray(v.args);
  if (hasCmd && hasArgs) e.add('/', "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.");
  const container = v.container;
  if (container !== undefined && container !== null && !isObj(container)) e.add('/container', 'error.expected.jsobject');
  const image = isObj(container) ? (container.docker?.image ?? container.appc?.image) : undefined;
  if (!hasCmd && !hasArgs && !image) e.add('/', "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.");
  if (isObj(container) && container.type !== undefined && !['DOCKER', 'MESOS'].includes(container.type)) {
    e.add('/container/type', "error.expected.validenumvalue: 'DOCKER' or 'MESOS'");
  }

  const instances = num(e, v, 'instances', 1, { min: 0, int: true });
  const cpus = num(e, v, 'cpus', 1, { min: 0.001 });
  const mem = num(e, v, 'mem', 128, { min: 0 });
  const disk = num(e, v, 'disk', 0, { min: 0 });
  const gpus = num(e, v, 'gpus', 0, { min: 0, int: true });
  const backoffSeconds = num(e, v, 'backoffSeconds', 1, { min: 0 });
  const backoffFactor = num(e, v, 'backoffFactor', 1.15, { min: 1 });
  const maxLaunchDelaySeconds = num(e, v, 'maxLaunchDelaySeconds', 300, { min: 0 });
  if (v.taskKillGracePeriodSeconds !== undefined && v.taskKillGracePeriodSeconds !== null) num(e, v, 'taskKillGracePeriodSeconds', 0, { min: 0 });

  const env = strMap(e, v.env, '/env', true);
  for (const k of Object.keys(env)) if (!ENV_NAME.test(k)) e.add(`/env/${k}`, 'must be a valid environment variable name');
  const labels = strMap(e, v.labels, '/labels', false) as Record<string, string>;

  const constraints: Constraint[] = [];
  if (v.constraints !== undefined && v.constraints !== null) {
    if (!Array.isArray(v.constraints)) e.add('/constraints', 'error.expected.jsarray');
    else
      v.constraints.forEach((c: unknown, i: number) => {
        const p = `/constraints(${i})`;
        if (!Array.isArray(c) || c.length < 2 || c.length > 3 || c.some((x) => typeof x !== 'string')) {
          e.add(p, 'Each constraint must have either 2 or 3 fields');
          return;
        }
        const err = constraintError(c as Constraint);
        if (err) e.add(p, err);
        else constraints.push([...c] as Constraint);
      });
  }

  let portDefinitions: PortDefinition[] | undefined;
  const networks: Json[] = Array.isArray(v.networks) && v.networks.length > 0 ? v.networks : [{ mode: 'host' }];
  networks.forEach((n, i) => {
    if (!isObj(n) || !['host', 'container', 'container/bridge'].includes(n.mode ?? 'container')) e.add(`/networks(${i})/mode`, 'error.expected.validenumvalue');
  });
  const hostNetwork = networks.every((n) => (n as Json).mode === 'host');
  if (hostNetwork) {
    const src = Array.isArray(v.portDefinitions)
      ? v.portDefinitions
      : Array.isArray(v.ports)
        ? v.ports.map((p: unknown) => ({ port: p }))
        : [{ port: 0, name: 'default' }];
    portDefinitions = [];
    const seenNames = new Set<string>();
    const seenPorts = new Set<number>();
    src.forEach((pd: unknown, i: number) => {
      const p = `/portDefinitions(${i})`;
      if (!isObj(pd)) {
        e.add(p, 'error.expected.jsobject');
        return;
      }
      const port = pd.port ?? 0;
      if (!Number.isInteger(port) || port < 0 || port > 65535) e.add(`${p}/port`, 'got out of range, expected 0..65535');
      else if (port !== 0 && seenPorts.has(port)) e.add('/portDefinitions', 'Ports must be unique.');
      seenPorts.add(port);
      const protocol = pd.protocol ?? 'tcp';
      if (!['tcp', 'udp', 'udp,tcp', 'tcp,udp'].includes(protocol)) e.add(`${p}/protocol`, 'error.expected.validenumvalue');
      if (pd.name !== undefined) {
        if (typeof pd.name !== 'string' || !/^[a-z0-9-]+$/.test(pd.name)) e.add(`${p}/name`, "must fully match regular expression '^[a-z0-9-]+$'");
        else if (seenNames.has(pd.name)) e.add('/portDefinitions', 'Port names must be unique.');
        else seenNames.add(pd.name);
      }
      portDefinitions?.push({ port, protocol, ...(pd.name !== undefined ? { name: pd.name } : {}), ...(pd.labels ? { labels: pd.labels } : {}) });
    });
  }
  if (!hostNetwork) validateContainerNetworking(e, networks, container);
  const requirePorts = v.requirePorts === true;
  if (requirePorts && portDefinitions?.some((p) => p.port === 0)) e.add('/portDefinitions', 'requirePorts needs explicit non-zero ports');

  const us = isObj(v.upgradeStrategy) ? v.upgradeStrategy : {};
  const upgradeStrategy: UpgradeStrategy = {
    minimumHealthCapacity: us.minimumHealthCapacity ?? 1,
    maximumOverCapacity: us.maximumOverCapacity ?? 1,
  };
  for (const k of ['minimumHealthCapacity', 'maximumOverCapacity'] as const) {
    const x = upgradeStrategy[k];
    if (!isNum(x)) e.add(`/upgradeStrategy/${k}`, 'error.expected.jsnumber');
    else if (x < 0) e.add(`/upgradeStrategy/${k}`, 'is less than 0');
    else if (x > 1) e.add(`/upgradeStrategy/${k}`, 'is greater than 1');
  }

  let unreachableStrategy: App['unreachableStrategy'] = { inactiveAfterSeconds: 0, expungeAfterSeconds: 0 };
  if (v.unreachableStrategy === 'disabled') unreachableStrategy = 'disabled';
  else if (isObj(v.unreachableStrategy)) {
    const i = v.unreachableStrategy.inactiveAfterSeconds ?? 0;
    const x = v.unreachableStrategy.expungeAfterSeconds ?? 0;
    if (!isNum(i) || i < 0) e.add('/unreachableStrategy/inactiveAfterSeconds', 'got negative value, expected 0 or more');
    if (!isNum(x) || x < 0) e.add('/unreachableStrategy/expungeAfterSeconds', 'got negative value, expected 0 or more');
    if (isNum(i) && isNum(x) && i > x) e.add('/unreachableStrategy/inactiveAfterSeconds', 'inactiveAfterSeconds must be less or equal to expungeAfterSeconds');
    unreachableStrategy = { inactiveAfterSeconds: i, expungeAfterSeconds: x };
  } else if (v.unreachableStrategy !== undefined && v.unreachableStrategy !== null) e.add('/unreachableStrategy', "must be 'disabled' or an object");

  const killSelection = v.killSelection ?? 'YOUNGEST_FIRST';
  if (killSelection !== 'YOUNGEST_FIRST' && killSelection !== 'OLDEST_FIRST')
    e.add('/killSelection', "error.expected.validenumvalue: 'YOUNGEST_FIRST' or 'OLDEST_FIRST'");

  const dependencies: string[] = [];
  if (Array.isArray(v.dependencies)) {
    v.dependencies.forEach((d: unknown, i: number) => {
      if (typeof d !== 'string') e.add(`/dependencies(${i})`, 'error.expected.jsstring');
      else dependencies.push(resolvePath(d, id ? id.slice(0, id.lastIndexOf('/')) || '/' : '/'));
    });
  }

  const healthChecks: Json[] = [];
  (Array.isArray(v.healthChecks) ? v.healthChecks : []).forEach((h: unknown, i: number) => {
    const p = `/healthChecks(${i})`;
    if (!isObj(h)) {
      e.add(p, 'error.expected.jsobject');
      return;
    }
    const protocol = h.protocol ?? 'HTTP';
    if (!HEALTH_PROTOCOLS.has(protocol)) e.add(`${p}/protocol`, 'error.expected.validenumvalue');
    if (protocol.includes('COMMAND') && !isObj(h.command)) e.add(`${p}/command`, 'is required for COMMAND health checks');
    const hc: Json = {
      gracePeriodSeconds: 300,
      intervalSeconds: 60,
      timeoutSeconds: 20,
      maxConsecutiveFailures: 3,
      delaySeconds: 15,
      ...h,
      protocol,
    };
    if (protocol !== 'COMMAND' && hc.port === undefined && hc.portIndex === undefined) hc.portIndex = 0;
    if ((protocol === 'HTTP' || protocol === 'HTTPS' || protocol === 'MESOS_HTTP' || protocol === 'MESOS_HTTPS') && hc.path === undefined) hc.path = '/';
    for (const [k, min] of [
      ['gracePeriodSeconds', 0],
      ['intervalSeconds', 1],
      ['timeoutSeconds', 1],
      ['maxConsecutiveFailures', 0],
      ['delaySeconds', 0],
    ] as const) {
      if (!isNum(hc[k])) e.add(`${p}/${k}`, 'error.expected.jsnumber');
      else if (hc[k] < min) e.add(`${p}/${k}`, `got ${hc[k]}, expected ${min} or more`);
    }
    if (hc.portIndex !== undefined && (!Number.isInteger(hc.portIndex) || hc.portIndex < 0)) e.add(`${p}/portIndex`, 'got out of range, expected 0 or more');
    if (protocol === 'COMMAND' && isObj(h.command) && typeof h.command.value !== 'string') e.add(`${p}/command/value`, 'error.expected.jsstring');
    healthChecks.push(hc);
  });
  const mesosChecks = healthChecks.filter((h) => ['COMMAND', 'MESOS_HTTP', 'MESOS_HTTPS', 'MESOS_TCP'].includes(h.protocol)).length;
  if (mesosChecks > 1) e.add('/', 'AppDefinition can contain at most one Mesos health check');

  const readinessChecks: Json[] = [];
  (Array.isArray(v.readinessChecks) ? v.readinessChecks : []).forEach((r: unknown, i: number) => {
    const p = `/readinessChecks(${i})`;
    if (!isObj(r)) {
      e.add(p, 'error.expected.jsobject');
      return;
    }
    const rc: Json = {
      name: 'readinessCheck',
      protocol: 'HTTP',
      path: '/',
      portName: 'http-api',
      intervalSeconds: 30,
      timeoutSeconds: 10,
      httpStatusCodesForReady: [200],
      preserveLastResponse: false,
      ...r,
    };
    if (typeof rc.name !== 'string' || rc.name === '') e.add(`${p}/name`, 'error.minLength');
    if (rc.protocol !== 'HTTP' && rc.protocol !== 'HTTPS') e.add(`${p}/protocol`, "error.expected.validenumvalue: 'HTTP' or 'HTTPS'");
    if (typeof rc.path !== 'string' || rc.path === '') e.add(`${p}/path`, 'error.minLength');
    if (!isNum(rc.intervalSeconds) || rc.intervalSeconds < 1) e.add(`${p}/intervalSeconds`, 'got out of range, expected 1 or more');
    if (!isNum(rc.timeoutSeconds) || rc.timeoutSeconds < 1) e.add(`${p}/timeoutSeconds`, 'got out of range, expected 1 or more');
    else if (isNum(rc.intervalSeconds) && rc.timeoutSeconds >= rc.intervalSeconds)
      e.add(`${p}/timeoutSeconds`, 'timeoutSeconds must be smaller than intervalSeconds');
    const codes = rc.httpStatusCodesForReady;
    if (!Array.isArray(codes) || codes.length === 0 || codes.some((c: unknown) => !Number.isInteger(c) || (c as number) < 100 || (c as number) > 999))
      e.add(`${p}/httpStatusCodesForReady`, 'must be a non-empty list of HTTP status codes');
    if (typeof rc.preserveLastResponse !== 'boolean') e.add(`${p}/preserveLastResponse`, 'error.expected.jsboolean');
    readinessChecks.push(rc);
  });

  const fetch = (Array.isArray(v.fetch) ? v.fetch : Array.isArray(v.uris) ? v.uris.map((u: string) => ({ uri: u })) : []).map((f: Json, i: number) => {
    if (!isObj(f) || typeof f.uri !== 'string') e.add(`/fetch(${i})/uri`, 'error.path.missing');
    return { extract: true, executable: false, cache: false, ...f } as App['fetch'][number];
  });

  if (v.acceptedResourceRoles !== undefined && v.acceptedResourceRoles !== null) {
    if (!Array.isArray(v.acceptedResourceRoles) || v.acceptedResourceRoles.some((r: unknown) => typeof r !== 'string'))
      e.add('/acceptedResourceRoles', 'error.expected.jsarray of strings');
    else if (new Set(v.acceptedResourceRoles).size !== v.acceptedResourceRoles.length) e.add('/acceptedResourceRoles', 'elements must be unique');
  }

  const portNames = new Set<string>(
    [
      ...(portDefinitions ?? []).map((pd) => pd.name),
      ...(isObj(container) && Array.isArray(container.portMappings) ? container.portMappings.map((pm: Json) => pm?.name) : []),
    ].filter((n): n is string => typeof n === 'string'),
  );
  readinessChecks.forEach((rc, i) => {
    if (!portNames.has(rc.portName)) e.add(`/readinessChecks(${i})/portName`, `Must be one of the port names: [${[...portNames].join(', ')}]`);
  });

  if (e.list.length > 0) return { ok: false, details: e.list };

  const {
    ports: _ports,
    uris: _uris,
    tasksStaged: _a,
    tasksRunning: _b,
    tasksHealthy: _c,
    tasksUnhealthy: _d,
    deployments: _e,
    tasks: _f,
    lastTaskFailure: _g,
    version: _v,
    versionInfo: _vi,
    ...rest
  } = v;
  const app: App = {
    ...rest,
    id,
    env,
    instances,
    cpus,
    mem,
    disk,
    gpus,
    executor: typeof v.executor === 'string' ? v.executor : '',
    constraints,
    requirePorts,
    fetch,
    backoffSeconds,
    backoffFactor,
    maxLaunchDelaySeconds,
    upgradeStrategy,
    unreachableStrategy,
    killSelection,
    labels,
    dependencies,
    healthChecks,
    readinessChecks,
    networks,
    version: nowIso,
    versionInfo: { lastScalingAt: nowIso, lastConfigChangeAt: nowIso },
  };
  if (portDefinitions) app.portDefinitions = portDefinitions;
  else delete app.portDefinitions;
  if (isObj(container)) app.container = { type: container.docker ? 'DOCKER' : 'MESOS', volumes: [], ...container };
  return { ok: true, app };
}

/** networks and container.portMappings of an app that is not on the host network (see networks.ts). */
function validateContainerNetworking(e: Errors, networks: Json[], container: unknown): void {
  const modes = networks.map((n) => (isObj(n) ? (n.mode ?? 'container') : undefined));
  if (modes.includes('host')) e.add('/networks', 'host networking cannot be combined with container networks');
  if (modes.includes('container/bridge') && networks.length > 1) e.add('/networks', 'container/bridge networking cannot be combined with other networks');
  networks.forEach((n, i) => {
    if (!isObj(n) || (n.mode ?? 'container') !== 'container') return;
    if (typeof n.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(n.name))
      e.add(`/networks(${i})/name`, 'a container network needs the name of a network the agents offer');
  });
  if (!isObj(container)) return;
  const key = container.portMappings !== undefined ? 'portMappings' : 'docker/portMappings';
  const pms = container.portMappings ?? (isObj(container.docker) ? container.docker.portMappings : undefined);
  if (pms === undefined || pms === null) return;
  if (!Array.isArray(pms)) {
    e.add(`/container/${key}`, 'error.expected.jsarray');
    return;
  }
  const names = new Set<string>();
  const hostPorts = new Set<number>();
  const port = (x: unknown) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 65535;
  pms.forEach((pm: unknown, i: number) => {
    const p = `/container/${key}(${i})`;
    if (!isObj(pm)) {
      e.add(p, 'error.expected.jsobject');
      return;
    }
    if (pm.containerPort !== undefined && !port(pm.containerPort)) e.add(`${p}/containerPort`, 'got out of range, expected 0..65535');
    if (pm.hostPort !== undefined && pm.hostPort !== null) {
      if (!port(pm.hostPort)) e.add(`${p}/hostPort`, 'got out of range, expected 0..65535');
      else if (pm.hostPort !== 0 && hostPorts.has(pm.hostPort)) e.add(`/container/${key}`, 'hostPort values must be unique');
      else hostPorts.add(pm.hostPort);
    }
    if (pm.servicePort !== undefined && pm.servicePort !== null && !port(pm.servicePort)) e.add(`${p}/servicePort`, 'got out of range, expected 0..65535');
    if (pm.protocol !== undefined && !['tcp', 'udp', 'udp,tcp', 'tcp,udp'].includes(pm.protocol)) e.add(`${p}/protocol`, 'error.expected.validenumvalue');
    if (pm.name !== undefined) {
      if (typeof pm.name !== 'string' || !/^[a-z0-9-]+$/.test(pm.name)) e.add(`${p}/name`, "must fully match regular expression '^[a-z0-9-]+$'");
      else if (names.has(pm.name)) e.add(`/container/${key}`, 'Port names must be unique.');
      else names.add(pm.name);
    }
  });
}

export function constraintError(c: Constraint): string | undefined {
  const [, op, value] = c;
  if (!OPERATORS.has(op)) return `Constraint operator must be one of ${[...OPERATORS].join(', ')}; got ${op}`;
  if ((op === 'LIKE' || op === 'UNLIKE' || op === 'IS') && value === undefined) return `Constraint ${op} requires a value`;
  if (op === 'LIKE' || op === 'UNLIKE') {
    try {
      new RegExp(`^(?:${value})$`);
    } catch {
      return `'${value}' is not a valid regular expression`;
    }
  }
  if ((op === 'MAX_PER' || (op === 'GROUP_BY' && value !== undefined)) && !/^\d+$/.test(value ?? '')) return `Value for ${op} must be a positive integer`;
  if (op === 'UNIQUE' && value !== undefined) return 'UNIQUE does not take a value';
  return undefined;
}

/** Fields that do not change what runs: a change to only these replaces no task. */
const NON_RUNTIME = new Set([
  'instances',
  'labels',
  'version',
  'versionInfo',
  'upgradeStrategy',
  'backoffSeconds',
  'backoffFactor',
  'maxLaunchDelaySeconds',
  'killSelection',
  'dependencies',
  'unreachableStrategy',
  'taskKillGracePeriodSeconds',
]);

/** A stable key of the runtime-relevant fields; tasks launched under another key are replaced. */
export function runtimeKey(app: App): string {
  const pick: Json = {};
  for (const k of Object.keys(app).sort()) if (!NON_RUNTIME.has(k)) pick[k] = app[k];
  return stableStringify(pick);
}

function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (isObj(v))
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

/** JSON merge of a partial update onto the current definition (PATCH, PUT with partialUpdate). */
export function mergeApp(current: App, patch: Json): Json {
  const out: Json = { ...current };
  for (const [k, x] of Object.entries(patch)) {
    if (x === null) delete out[k];
    else out[k] = x;
  }
  out.id = current.id;
  return out;
}

/** Backoff before the next launch after `failures` consecutive failures (0 = none). */
export function backoffDelayMs(app: Pick<App, 'backoffSeconds' | 'backoffFactor' | 'maxLaunchDelaySeconds'>, failures: number): number {
  if (failures <= 0) return 0;
  const s = app.backoffSeconds * app.backoffFactor ** (failures - 1);
  return Math.round(Math.min(s, app.maxLaunchDelaySeconds) * 1000);
}
