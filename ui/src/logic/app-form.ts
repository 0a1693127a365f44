/**
 * The service form and the JSON editor edit the same Marathon app definition. The form owns a
 * few fields (as the strings the inputs hold); everything else in the JSON is kept aside as
 * `extra` and merged back, so switching views never drops input. Validation speaks Marathon's
 * 422 shape (`{path, errors}`), so the client's errors and the server's land on fields the same way.
 */

export type Json = Record<string, any>;

export interface KeyValue {
  key: string;
  value: string;
}

export interface PortRow {
  port: string;
  name: string;
  protocol: string;
}

export interface HealthForm {
  /** '' = no health check. */
  protocol: string;
  path: string;
  portIndex: string;
  command: string;
  gracePeriodSeconds: string;
  intervalSeconds: string;
  timeoutSeconds: string;
  maxConsecutiveFailures: string;
}

export interface AppForm {
  id: string;
  cmd: string;
  instances: string;
  cpus: string;
  mem: string;
  disk: string;
  image: string;
  env: KeyValue[];
  labels: KeyValue[];
  ports: PortRow[];
  health: HealthForm;
}

export interface FieldError {
  path: string;
  errors: string[];
}

const NO_HEALTH: HealthForm = {
  protocol: '',
  path: '',
  portIndex: '',
  command: '',
  gracePeriodSeconds: '',
  intervalSeconds: '',
  timeoutSeconds: '',
  maxConsecutiveFailures: '',
};

export function emptyForm(): AppForm {
  return { id: '', cmd: '', instances: '1', cpus: '0.1', mem: '128', disk: '0', image: '', env: [], labels: [], ports: [], health: { ...NO_HEALTH } };
}

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

/** A number input's text as JSON: a number when it reads as one, the text itself otherwise (validation names it), absent when empty. */
function numOut(s: string): number | string | undefined {
  const t = s.trim();
  if (t === '') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}

const HEALTH_NUMS = ['gracePeriodSeconds', 'intervalSeconds', 'timeoutSeconds', 'maxConsecutiveFailures'] as const;

/** Splits a definition into what the form shows and what it keeps aside. */
export function formFromJson(def: Json): { form: AppForm; extra: Json } {
  const extra: Json = { ...def };
  const form = emptyForm();
  for (const k of ['id', 'cmd', 'instances', 'cpus', 'mem', 'disk'] as const) {
    form[k] = str(def[k]);
    delete extra[k];
  }
  const c = def.container;
  if (isObj(c) && isObj(c.docker) && typeof c.docker.image === 'string') {
    form.image = c.docker.image;
    const { image: _i, ...docker } = c.docker;
    const rest: Json = { ...c, docker };
    if (Object.keys(docker).length === 0) delete rest.docker;
    if (rest.type === 'DOCKER') delete rest.type;
    if (Object.keys(rest).length === 0) delete extra.container;
    else extra.container = rest;
  }
  const splitMap = (key: 'env' | 'labels'): KeyValue[] => {
    const m = def[key];
    if (!isObj(m)) return [];
    const rows: KeyValue[] = [];
    const kept: Json = {};
    for (const [k, v] of Object.entries(m)) {
      if (typeof v === 'string') rows.push({ key: k, value: v });
      else kept[k] = v; // secrets and other non-strings stay in the JSON
    }
    if (Object.keys(kept).length > 0) extra[key] = kept;
    else delete extra[key];
    return rows;
  };
  form.env = splitMap('env');
  form.labels = splitMap('labels');
  if (
    Array.isArray(def.portDefinitions) &&
    def.portDefinitions.every((p: unknown) => isObj(p) && Object.keys(p).every((k) => ['port', 'name', 'protocol'].includes(k)))
  ) {
    form.ports = def.portDefinitions.map((p: Json) => ({ port: str(p.port), name: str(p.name), protocol: str(p.protocol) }));
    delete extra.portDefinitions;
  }
  if (Array.isArray(def.healthChecks) && def.healthChecks.length > 0 && isObj(def.healthChecks[0])) {
    const h: Json = { ...def.healthChecks[0] };
    const known = new Set(['protocol', 'path', 'portIndex', 'command', ...HEALTH_NUMS]);
    const cmdOk = h.command === undefined || (isObj(h.command) && Object.keys(h.command).length === 1 && typeof h.command.value === 'string');
    if (Object.keys(h).every((k) => known.has(k)) && cmdOk) {
      form.health = {
        protocol: str(h.protocol || 'HTTP'),
        path: str(h.path),
        portIndex: str(h.portIndex),
        command: isObj(h.command) ? str(h.command.value) : '',
        gracePeriodSeconds: str(h.gracePeriodSeconds),
        intervalSeconds: str(h.intervalSeconds),
        timeoutSeconds: str(h.timeoutSeconds),
        maxConsecutiveFailures: str(h.maxConsecutiveFailures),
      };
      const rest = def.healthChecks.slice(1);
      if (rest.length > 0) extra.healthChecks = rest;
      else delete extra.healthChecks;
    }
  }
  return { form, extra };
}

/** The definition the form and the kept-aside fields describe. Empty rows and empty inputs are left out. */
export function jsonFromForm(form: AppForm, extra: Json): Json {
  const out: Json = {};
  if (form.id.trim() !== '') out.id = form.id.trim();
  if (form.cmd !== '') out.cmd = form.cmd;
  for (const k of ['instances', 'cpus', 'mem', 'disk'] as const) {
    const v = numOut(form[k]);
    if (v !== undefined) out[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) if (!(k in out)) out[k] = v;
  if (form.image.trim() !== '') {
    const c: Json = isObj(extra.container) ? { ...extra.container } : {};
    out.container = { ...c, type: c.type ?? 'DOCKER', docker: { ...(isObj(c.docker) ? c.docker : {}), image: form.image.trim() } };
  }
  const joinMap = (rows: KeyValue[], key: 'env' | 'labels') => {
    const m: Json = isObj(extra[key]) ? { ...extra[key] } : {};
    for (const r of rows) if (r.key !== '' || r.value !== '') m[r.key] = r.value;
    if (Object.keys(m).length > 0) out[key] = m;
  };
  joinMap(form.env, 'env');
  joinMap(form.labels, 'labels');
  if (form.ports.length > 0) {
    out.portDefinitions = form.ports.map((p) => {
      const d: Json = {};
      const port = numOut(p.port);
      d.port = port ?? 0;
      if (p.name !== '') d.name = p.name;
      if (p.protocol !== '') d.protocol = p.protocol;
      return d;
    });
  }
  if (form.health.protocol !== '') {
    const h = form.health;
    const hc: Json = { protocol: h.protocol };
    if (h.protocol.includes('COMMAND')) hc.command = { value: h.command };
    else {
      if (h.protocol.includes('HTTP') && h.path !== '') hc.path = h.path;
      const pi = numOut(h.portIndex);
      if (pi !== undefined) hc.portIndex = pi;
    }
    for (const k of HEALTH_NUMS) {
      const v = numOut(h[k]);
      if (v !== undefined) hc[k] = v;
    }
    out.healthChecks = [hc, ...(Array.isArray(extra.healthChecks) ? extra.healthChecks : [])];
  }
  return out;
}

/**
 * Where JSON text stops being valid (a character offset), found by a small scanner, since the
 * engine's message names a position only in some versions. -1 when the text is valid.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const lit = (w: string) => {
    if (text.startsWith(w, i)) i += w.length;
    else fail();
  };
  const string = () => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      else if ((text.charCodeAt(i) ?? 0) < 0x20) fail();
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return void i++;
        else fail();
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return void i++;
        else fail();
      }
    } else if (c === '"') string();
    else if (c === 't') lit('true');
    else if (c === 'f') lit('false');
    else if (c === 'n') lit('null');
    else {
      const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
      if (!m) fail();
      i += (m as RegExpExecArray)[0].length;
    }
  };
  try {
    value();
    ws();
    return i < text.length ? i : -1;
  } catch (at) {
    return typeof at === 'number' ? at : 0;
  }
}

/** Reads the JSON editor's text: the definition, or where the text stops being JSON (1-based line). */
export function parseDefinition(text: string): { ok: true; def: Json } | { ok: false; message: string; line?: number } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    const at = jsonErrorOffset(text);
    const line = at >= 0 ? text.slice(0, at).split('\n').length : undefined;
    return { ok: false, message: `This is not valid JSON${line ? ` (line ${line})` : ''}: ${(e as Error).message.split('\n')[0]}`, ...(line ? { line } : {}) };
  }
  if (!isObj(v)) return { ok: false, message: 'The definition must be a JSON object ({ … }).' };
  return { ok: true, def: v };
}

const SEGMENT = /^(([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])$/;

/**
 * What the UI checks before sending: enough for a useful request (id, something to run, sane
 * numbers, ports). Marathon stays the authority; its 422 details are shown the same way.
 */
export function validateDefinition(def: Json): FieldError[] {
  const out: FieldError[] = [];
  const add = (path: string, msg: string) => {
    const e = out.find((x) => x.path === path);
    if (e) e.errors.push(msg);
    else out.push({ path, errors: [msg] });
  };
  if (typeof def.id !== 'string' || def.id.trim() === '') add('/id', 'An ID is required, such as /my-group/my-app.');
  else {
    const segs = def.id.split('/').filter(Boolean);
    if (segs.length === 0) add('/id', 'The ID must name the service, not only /.');
    else if (!segs.every((s: string) => SEGMENT.test(s) || s === '.' || s === '..'))
      add('/id', 'Use lowercase letters, digits, hyphens and dots in each part (no leading or trailing hyphen), parts separated by /.');
  }
  const hasImage = isObj(def.container) && isObj(def.container.docker) && typeof def.container.docker.image === 'string' && def.container.docker.image !== '';
  const hasCmd = typeof def.cmd === 'string' && def.cmd !== '';
  const hasArgs = Array.isArray(def.args) && def.args.length > 0;
  if (!hasCmd && !hasArgs && !hasImage) add('/cmd', 'Give a command or a container image (or both).');
  const number = (key: string, min: number, opts: { int?: boolean; above?: boolean } = {}) => {
    const v = def[key];
    if (v === undefined || v === null) return;
    if (typeof v !== 'number' || !Number.isFinite(v)) return add(`/${key}`, 'Must be a number.');
    if (opts.int && !Number.isInteger(v)) add(`/${key}`, 'Must be a whole number.');
    if (opts.above ? v <= min : v < min) add(`/${key}`, opts.above ? `Must be more than ${min}.` : `Must be ${min} or more.`);
  };
  number('instances', 0, { int: true });
  number('cpus', 0, { above: true });
  number('mem', 0);
  number('disk', 0);
  if (def.env !== undefined) {
    if (!isObj(def.env)) add('/env', 'Must be an object of NAME: value.');
    else if (Object.keys(def.env).some((k) => k === '')) add('/env', 'Every variable needs a name.');
  }
  if (def.labels !== undefined) {
    if (!isObj(def.labels)) add('/labels', 'Must be an object of key: value.');
    else if (Object.keys(def.labels).some((k) => k === '')) add('/labels', 'Every label needs a key.');
  }
  if (Array.isArray(def.portDefinitions)) {
    def.portDefinitions.forEach((p: unknown, i: number) => {
      if (!isObj(p)) add(`/portDefinitions(${i})`, 'Must be an object.');
      else if (typeof p.port !== 'number' || !Number.isInteger(p.port) || p.port < 0 || p.port > 65535)
        add(`/portDefinitions(${i})/port`, 'A port is a whole number from 0 to 65535 (0 = any free port).');
    });
  }
  if (Array.isArray(def.healthChecks)) {
    def.healthChecks.forEach((h: unknown, i: number) => {
      if (!isObj(h)) return;
      for (const k of HEALTH_NUMS) {
        const v = h[k];
        if (v !== undefined && (typeof v !== 'number' || v < 0)) add(`/healthChecks(${i})/${k}`, 'Must be a number, 0 or more.');
      }
      if (String(h.protocol ?? '').includes('COMMAND') && !(isObj(h.command) && typeof h.command.value === 'string' && h.command.value !== ''))
        add(`/healthChecks(${i})/command`, 'A command health check needs a command.');
    });
  }
  // Environment names are left to Marathon, which names the bad one in its 422 (shown on the row).
  return out;
}

/** Marathon's error codes in words. */
export function humanError(msg: string): string {
  const words: Record<string, string> = {
    'error.path.missing': 'Is required.',
    'error.minLength': 'Must not be empty.',
    'error.expected.jsnumber': 'Must be a number.',
    'error.expected.int': 'Must be a whole number.',
    'error.expected.jsstring': 'Must be text.',
    'error.expected.jsobject': 'Must be an object.',
    'error.expected.jsarray': 'Must be a list.',
    'error.expected.validenumvalue': 'Is not one of the allowed values.',
  };
  if (words[msg]) return words[msg];
  if (msg.startsWith("must fully match regular expression '^(([a-z0-9]"))
    return 'Use lowercase letters, digits, hyphens and dots in each part (no leading or trailing hyphen), parts separated by /.';
  return msg.charAt(0).toUpperCase() + msg.slice(1);
}

/**
 * Where an error shows in the form: a field key (`id`, `cpus`, `env.2.key`, `ports.0.port`,
 * `health.path`), or `general` for the rest (shown above the form with its JSON path).
 */
export function fieldOf(path: string, form: AppForm): string {
  const p = path.replace(/\[(\d+)\]/g, '($1)');
  const top = /^\/(id|cmd|args|instances|cpus|mem|disk)$/.exec(p);
  if (top) return top[1] === 'args' ? 'cmd' : (top[1] as string);
  if (/^\/container(\/docker(\/image)?)?$/.test(p)) return 'image';
  const kv = /^\/(env|labels)(?:\/(.+))?$/.exec(p);
  if (kv) {
    const rows = kv[1] === 'env' ? form.env : form.labels;
    const i = kv[2] === undefined ? -1 : rows.findIndex((r) => r.key === kv[2]);
    return i >= 0 ? `${kv[1]}.${i}.key` : (kv[1] as string);
  }
  const port = /^\/portDefinitions(?:\((\d+)\)(?:\/(port|name|protocol))?)?$/.exec(p);
  if (port) return port[1] === undefined ? 'ports' : `ports.${port[1]}.${port[2] ?? 'port'}`;
  const hc = /^\/healthChecks\(0\)(?:\/(\w+))?/.exec(p);
  if (hc && form.health.protocol !== '') {
    const k = hc[1] ?? 'protocol';
    return `health.${k === 'command' || k === 'path' || k === 'portIndex' || (HEALTH_NUMS as readonly string[]).includes(k) ? k : 'protocol'}`;
  }
  return 'general';
}

/** Groups errors by form field; `general` keeps the JSON path in front of each message. */
export function errorsByField(details: readonly FieldError[], form: AppForm): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const d of details) {
    const f = fieldOf(d.path, form);
    const msgs = d.errors.map((e) => (f === 'general' && d.path !== '/' && d.path !== '' ? `${d.path}: ${humanError(e)}` : humanError(e)));
    out.set(f, [...(out.get(f) ?? []), ...msgs]);
  }
  return out;
}

/** Reads Marathon's error body (`{message, details?}`); tolerates text and other shapes. */
export function readMarathonError(body: string): { message: string; details: FieldError[]; deployments: string[] } {
  try {
    const j = JSON.parse(body) as Json;
    const details: FieldError[] = Array.isArray(j.details)
      ? j.details
          .filter((d: unknown) => isObj(d))
          .map((d: Json) => ({ path: str(d.path), errors: Array.isArray(d.errors) ? d.errors.map(str) : [str(d.errors)] }))
      : [];
    const deployments = Array.isArray(j.deployments) ? j.deployments.map((d: Json) => str(isObj(d) ? d.id : d)) : [];
    return { message: str(j.message) || body.slice(0, 300), details, deployments };
  } catch {
    return { message: body.trim().slice(0, 300), details: [], deployments: [] };
  }
}
