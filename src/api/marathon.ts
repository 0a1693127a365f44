/**
 * Marathon's REST API v2 (api-contracts.md §4): thin handlers over the Marathon service, errors
 * in Marathon's JSON format, booleans in query strings in any case, ids with or without the
 * leading slash, the SSE event stream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolvePath } from '../core/marathon/index.js';
import type { GroupEmbed, Instance, Marathon, MarathonError, MarathonEvent, Outcome } from '../services/marathon/index.js';
import { BodyError, type RouteContext, type Router, queryBool, readBody, sendJson, sendText } from './http.js';

type Json = Record<string, any>;

export interface MarathonApiOptions {
  version: string;
  /** Bytes an SSE subscriber may fall behind before it is disconnected. */
  maxEventBufferBytes?: number;
  /** Keep-alive comment interval on the event stream. */
  eventKeepAliveMs?: number;
}

const EMBED_SUFFIXES = new Set([
  'tasks',
  'counts',
  'deployments',
  'readiness',
  'lastTaskFailure',
  'failures',
  'taskStats',
  'processedOffersSummary',
  'lastUnusedOffers',
]);

/** `app.tasks`, `apps.tasks`, `group.apps.tasks` and `tasks` all mean the same (InfoEmbedResolver). */
export function parseEmbed(q: URLSearchParams): Set<string> {
  const out = new Set<string>();
  for (const raw of q.getAll('embed')) {
    for (const v of raw.split(',')) {
      const s = v.trim().replace(/^(group\.apps\.|apps\.|app\.)/, '');
      if (EMBED_SUFFIXES.has(s)) out.add(s === 'failures' ? 'lastTaskFailure' : s);
    }
  }
  if (out.has('tasks')) out.add('deployments');
  return out;
}

/**
 * Which parts a GroupInfo embeds: without `embed`, apps, groups and pods (Marathon's default);
 * otherwise only those named (`group.apps.<x>` implies `group.apps`).
 */
export function groupEmbed(q: URLSearchParams): GroupEmbed {
  const all = q
    .getAll('embed')
    .flatMap((e) => e.split(','))
    .map((e) => e.trim())
    .filter(Boolean);
  if (all.length === 0) return { apps: true, groups: true, pods: true };
  return { apps: all.some((e) => e === 'group.apps' || e.startsWith('group.apps.')), groups: all.includes('group.groups'), pods: all.includes('group.pods') };
}

/** Label selectors: `a,b==c,d!=e,f in (x,y),g notin (z)`. */
export function labelSelector(text: string): (labels: Record<string, string>) => boolean {
  const terms: ((l: Record<string, string>) => boolean)[] = [];
  for (const m of text.matchAll(/\s*([^,\s!=]+)\s*(?:(==|!=)\s*([^,\s]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*(?:,|$)/g)) {
    const [, key, op, val, setOp, setVals] = m;
    if (!key) continue;
    const k = key;
    if (op === '==') terms.push((l) => l[k] === val);
    else if (op === '!=') terms.push((l) => l[k] !== val);
    else if (setOp) {
      const vals = (setVals ?? '').split(',').map((x) => x.trim());
      terms.push(setOp === 'in' ? (l) => l[k] !== undefined && vals.includes(l[k] as string) : (l) => l[k] === undefined || !vals.includes(l[k] as string));
    } else terms.push((l) => l[k] !== undefined);
  }
  return (l) => terms.every((t) => t(l));
}

function sendError(res: ServerResponse, e: MarathonError): void {
  const { status, ...body } = e;
  sendJson(res, status, body);
}

async function jsonBody(req: IncomingMessage, res: ServerResponse): Promise<{ ok: true; body: unknown } | { ok: false }> {
  let text: string;
  try {
    text = await readBody(req);
  } catch (e) {
    sendJson(res, e instanceof BodyError ? e.status : 400, { message: (e as Error).message });
    return { ok: false };
  }
  try {
    return { ok: true, body: JSON.parse(text) };
  } catch {
    sendJson(res, 400, { message: 'Invalid JSON', details: [{ path: '/', errors: ['error.expected.jsobject'] }] });
    return { ok: false };
  }
}

function deploymentHeaders(id: string): Record<string, string> {
  return { 'Marathon-Deployment-Id': id };
}

export function marathonRoutes(router: Router, m: Marathon, opts: MarathonApiOptions): void {
  const maxBuf = opts.maxEventBufferBytes ?? 4 * 1024 * 1024;
  const keepAliveMs = opts.eventKeepAliveMs ?? 15_000;
  const clientIp = (req: IncomingMessage) => req.socket.remoteAddress ?? '';
  const count = () => {
    m.counters['marathon.http.requests']!++;
  };
  const answer = <T>(res: ServerResponse, r: Outcome<T>, ok: (v: T, created?: boolean) => void) => {
    if (!r.ok) sendError(res, r.error);
    else ok(r.value, r.created);
  };

  router.on('GET', '/ping', (_req, res) => sendText(res, 200, 'pong'));

  router.on('GET', '/v2/apps', (_req, res, ctx) => {
    count();
    const embed = parseEmbed(ctx.query);
    const cmd = ctx.query.get('cmd');
    const id = ctx.query.get('id');
    const label = ctx.query.get('label');
    const sel = label ? labelSelector(label) : () => true;
    const apps = [...m.apps.values()]
      .filter((a) => (cmd ? (a.cmd ?? '').includes(cmd) : true) && (id ? a.id.includes(id) : true) && sel(a.labels))
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((a) => m.appInfo(a, embed));
    sendJson(res, 200, { apps });
  });

  router.on('POST', '/v2/apps', async (req, res, ctx) => {
    count();
    const b = await jsonBody(req, res);
    if (!b.ok) return;
    const r = await m.createApp(b.body, queryBool(ctx.query, 'force', false));
    answer(res, r, ({ app, deploymentId }) => {
      m.emit({ eventType: 'api_post_event', clientIp: clientIp(req), uri: '/v2/apps', appDefinition: app });
      sendJson(
        res,
        201,
        { ...m.appInfo(app, new Set()), tasksStaged: 0, tasksRunning: 0, tasksHealthy: 0, tasksUnhealthy: 0, deployments: [{ id: deploymentId }] },
        {
          Location: app.id,
          ...deploymentHeaders(deploymentId),
        },
      );
    });
  });

  const bulk = async (req: IncomingMessage, res: ServerResponse, ctx: RouteContext) => {
    count();
    const b = await jsonBody(req, res);
    if (!b.ok) return;
    if (!Array.isArray(b.body)) return sendJson(res, 422, { message: 'Object is not valid', details: [{ path: '/', errors: ['error.expected.jsarray'] }] });
    const changes = new Map();
    for (const [i, raw] of b.body.entries()) {
      const id = resolvePath(String((raw as Json)?.id ?? ''));
      const before = m.apps.get(id);
      const merged = before && (req.method === 'PATCH' || queryBool(ctx.query, 'partialUpdate', true)) ? { ...before, ...(raw as Json), id } : raw;
      const p = m.prepare(merged, before);
      if (!p.ok) {
        const e = p.error as Json;
        return sendJson(res, e.status, { message: e.message, details: (e.details ?? []).map((d: Json) => ({ ...d, path: `/${i}${d.path}` })) });
      }
      changes.set(id, p.value);
    }
    const r = await m.deploy(changes, queryBool(ctx.query, 'force', false));
    answer(res, r, (v) => sendJson(res, 200, v, deploymentHeaders(v.deploymentId)));
  };
  router.on('PUT', '/v2/apps', bulk);
  router.on('PATCH', '/v2/apps', bulk);

  // App ids contain slashes: /v2/apps/* is resolved by suffix.
  router.on('*', '/v2/apps/*', async (req, res, ctx) => {
    count();
    const rest = `/${ctx.params.rest ?? ''}`.replace(/\/+$/, '');
    const q = ctx.query;
    const force = queryBool(q, 'force', false);
    let mm: RegExpExecArray | null;
    if ((mm = /^(.*)\/restart$/.exec(rest)) && req.method === 'POST') {
      const r = await m.restartApp(mm[1] as string, force);
      return answer(res, r, (v) => sendJson(res, 200, v, deploymentHeaders(v.deploymentId)));
    }
    if ((mm = /^(.*)\/tasks\/([^/]+)$/.exec(rest)) && req.method === 'DELETE') {
      const id = resolvePath(mm[1] as string);
      const taskId = mm[2] as string;
      if (!m.apps.has(id)) return sendJson(res, 404, { message: `App '${id}' does not exist` });
      const inst = m.instances.get(taskId);
      if (!inst || inst.appId !== id) return sendJson(res, 404, { message: `Task '${taskId}' does not exist` });
      const r = await m.killTasks([taskId], { scale: queryBool(q, 'scale', false), wipe: queryBool(q, 'wipe', false), force });
      return answer(res, r, (v) =>
        'deploymentId' in v ? sendJson(res, 200, v, deploymentHeaders(v.deploymentId)) : sendJson(res, 200, { task: m.taskJson(inst) }),
      );
    }
    if ((mm = /^(.*)\/tasks$/.exec(rest))) {
      const id = resolvePath(mm[1] as string);
      if (!m.apps.has(id)) return sendJson(res, 404, { message: `App '${id}' does not exist` });
      const tasks = m.tasksOf(id);
      if (req.method === 'GET') {
        if ((req.headers.accept ?? '').includes('text/plain') && !(req.headers.accept ?? '').includes('json')) return sendText(res, 200, tasksText(m, tasks));
        return sendJson(res, 200, { tasks: tasks.map((t) => m.taskJson(t)) });
      }
      if (req.method === 'DELETE') {
        const host = q.get('host');
        const pick = tasks.filter((t) => !host || t.host === host);
        const r = await m.killTasks(
          pick.map((t) => t.taskId),
          { scale: queryBool(q, 'scale', false), wipe: queryBool(q, 'wipe', false), force },
        );
        return answer(res, r, (v) =>
          'deploymentId' in v ? sendJson(res, 200, v, deploymentHeaders(v.deploymentId)) : sendJson(res, 200, { tasks: pick.map((t) => m.taskJson(t)) }),
        );
      }
      return false;
    }
    if ((mm = /^(.*)\/versions\/([^/]+)$/.exec(rest)) && req.method === 'GET') {
      const app = await m.appVersion(mm[1] as string, mm[2] as string);
      if (!app) return sendJson(res, 404, { message: `App '${resolvePath(mm[1] as string)}' does not exist in version ${mm[2]}` });
      return sendJson(res, 200, app);
    }
    if ((mm = /^(.*)\/versions$/.exec(rest)) && req.method === 'GET') {
      const vs = await m.versions(mm[1] as string);
      if (!vs) return sendJson(res, 404, { message: `App '${resolvePath(mm[1] as string)}' does not exist` });
      return sendJson(res, 200, { versions: vs });
    }
    const id = resolvePath(rest);
    switch (req.method) {
      case 'GET':
      case 'HEAD': {
        const app = m.apps.get(id);
        if (!app) return sendJson(res, 404, { message: `App '${id}' does not exist` });
        const embed = parseEmbed(q);
        return sendJson(res, 200, { app: m.appInfo(app, new Set([...embed, 'lastTaskFailure'])) });
      }
      case 'PUT':
      case 'PATCH': {
        const b = await jsonBody(req, res);
        if (!b.ok) return;
        const partial = req.method === 'PATCH' || queryBool(q, 'partialUpdate', true);
        const r = await m.updateApp(id, b.body, { force, partial });
        return answer(res, r, (v, created) => {
          m.emit({ eventType: 'api_post_event', clientIp: clientIp(req), uri: `/v2/apps${id}`, appDefinition: v.app });
          if (created) {
            return sendJson(
              res,
              201,
              { ...m.appInfo(v.app, new Set()), deployments: [{ id: v.deploymentId }] },
              { Location: id, ...deploymentHeaders(v.deploymentId) },
            );
          }
          sendJson(res, 200, { deploymentId: v.deploymentId, version: v.version }, deploymentHeaders(v.deploymentId));
        });
      }
      case 'DELETE': {
        const r = await m.deleteApp(id, queryBool(q, 'force', true));
        return answer(res, r, (v) => sendJson(res, 200, v, deploymentHeaders(v.deploymentId)));
      }
      default:
        return false;
    }
  });

  const groupRoute = async (req: IncomingMessage, res: ServerResponse, ctx: RouteContext) => {
    count();
    const rest = `/${ctx.params.rest ?? ''}`.replace(/\/+$/, '');
    const q = ctx.query;
    const force = queryBool(q, 'force', false);
    const notFound = (gid: string, version?: string) =>
      sendJson(res, 404, { message: `Group '${gid}' does not exist${version ? ` in version ${version}` : ''}` });
    let mm: RegExpExecArray | null;
    if (req.method === 'GET' || req.method === 'HEAD') {
      if ((mm = /^(.*)\/versions\/([^/]+)$/.exec(rest))) {
        const gid = resolvePath(mm[1] as string);
        const g = await m.groupAtVersion(gid, mm[2] as string, groupEmbed(q));
        return g ? sendJson(res, 200, g) : notFound(gid, mm[2]);
      }
      if ((mm = /^(.*)\/versions$/.exec(rest))) {
        const gid = resolvePath(mm[1] as string);
        const vs = m.groupVersionList(gid);
        return vs ? sendJson(res, 200, vs) : notFound(gid);
      }
      const gid = resolvePath(rest);
      const appEmbed = parseEmbed(
        new URLSearchParams(
          q
            .getAll('embed')
            .flatMap((e) => e.split(','))
            .filter((e) => e.trim().startsWith('group.apps.'))
            .map((e): [string, string] => ['embed', e.trim()]),
        ),
      );
      const g = m.groupJson(gid, (a) => m.appInfo(a, appEmbed), groupEmbed(q));
      return g ? sendJson(res, 200, g) : notFound(gid);
    }
    const gid = resolvePath(rest);
    if (req.method === 'DELETE') {
      const r = await m.deleteGroup(gid, force);
      return answer(res, r, (v) => sendJson(res, 200, v, deploymentHeaders(v.deploymentId)));
    }
    if (req.method === 'PATCH') {
      const b = await jsonBody(req, res);
      if (!b.ok) return;
      const r = await m.patchGroup(gid, b.body);
      return answer(res, r, () => {
        res.writeHead(200, { 'Content-Length': 0 });
        res.end();
      });
    }
    if (req.method === 'PUT' && (mm = /^(.*)\/versions\/([^/]+)$/.exec(rest))) {
      // Marathon 0.x's rollback, still sent by python3-marathon's rollback_group: PUT with no body.
      const target = resolvePath(mm[1] as string);
      const r = await m.updateGroup(target, { version: mm[2] }, { force, create: false });
      return answer(res, r, (v) => sendJson(res, 200, v, 'deploymentId' in v ? deploymentHeaders(v.deploymentId) : {}));
    }
    if (req.method === 'POST' || req.method === 'PUT') {
      const b = await jsonBody(req, res);
      if (!b.ok) return;
      const body = (b.body ?? {}) as Json;
      if (typeof body !== 'object' || Array.isArray(body))
        return sendJson(res, 422, { message: 'Object is not valid', details: [{ path: '/', errors: ['error.expected.jsobject'] }] });
      if (body.id !== undefined && typeof body.id !== 'string')
        return sendJson(res, 422, { message: 'Object is not valid', details: [{ path: '/id', errors: ['error.expected.jsstring'] }] });
      const target = body.id !== undefined ? resolvePath(body.id, gid) : gid;
      if (target === '/' && req.method === 'POST')
        return sendJson(res, 422, { message: 'Object is not valid', details: [{ path: '/id', errors: ['error.path.missing'] }] });
      const dryRun = req.method !== 'POST' && queryBool(q, 'dryRun', false);
      const r = await m.updateGroup(target, body, { force, create: req.method === 'POST', dryRun });
      return answer(res, r, (v) => {
        if (!('deploymentId' in v)) return sendJson(res, 200, v);
        sendJson(res, req.method === 'POST' ? 201 : 200, v, { ...deploymentHeaders(v.deploymentId), ...(req.method === 'POST' ? { Location: target } : {}) });
      });
    }
    return false;
  };
  router.on('*', '/v2/groups', groupRoute);
  router.on('*', '/v2/groups/*', groupRoute);

  router.on('GET', '/v2/deployments', (_req, res) => {
    count();
    sendJson(
      res,
      200,
      [...m.deployments.values()].map((d) => m.deploymentJson(d)),
    );
  });
  router.on('DELETE', '/v2/deployments/:id', async (_req, res, ctx) => {
    count();
    const force = queryBool(ctx.query, 'force', false);
    const r = await m.cancelDeployment(ctx.params.id ?? '', force);
    answer(res, r, (v) => {
      if (!v) {
        res.writeHead(202, { 'Content-Length': 0 });
        return res.end();
      }
      sendJson(res, 200, v, deploymentHeaders(v.deploymentId));
    });
  });

  router.on('GET', '/v2/tasks', (req, res, ctx) => {
    count();
    const statuses = [...ctx.query.getAll('status'), ...ctx.query.getAll('status[]')].map((s) => s.toLowerCase());
    const tasks = [...m.instances.values()].filter((t) => {
      if (statuses.length === 0) return true;
      const s = t.state === 'TASK_RUNNING' ? 'running' : t.state === 'TASK_STAGING' || t.state === 'TASK_STARTING' ? 'staging' : t.state.toLowerCase();
      return statuses.includes(s);
    });
    if ((req.headers.accept ?? '').includes('text/plain') && !(req.headers.accept ?? '').includes('json')) return sendText(res, 200, tasksText(m, tasks));
    sendJson(res, 200, { tasks: tasks.map((t) => m.taskJson(t)) });
  });
  router.on('POST', '/v2/tasks/delete', async (req, res, ctx) => {
    count();
    const b = await jsonBody(req, res);
    if (!b.ok) return;
    const ids = (b.body as Json)?.ids;
    if (!Array.isArray(ids)) return sendJson(res, 422, { message: 'Object is not valid', details: [{ path: '/ids', errors: ['error.path.missing'] }] });
    const known = ids.map(String).filter((t) => m.instances.has(t));
    const tasks = known.map((t) => m.taskJson(m.instances.get(t) as Instance));
    const r = await m.killTasks(known, {
      scale: queryBool(ctx.query, 'scale', false),
      wipe: queryBool(ctx.query, 'wipe', false),
      force: queryBool(ctx.query, 'force', false),
    });
    answer(res, r, (v) => ('deploymentId' in v ? sendJson(res, 200, v, deploymentHeaders(v.deploymentId)) : sendJson(res, 200, { tasks })));
  });

  router.on('GET', '/v2/queue', (_req, res, ctx) => {
    count();
    sendJson(res, 200, { queue: m.queue(ctx.query.getAll('embed').some((e) => e.split(',').includes('lastUnusedOffers'))) });
  });
  router.on('DELETE', '/v2/queue/*', (_req, res, ctx) => {
    count();
    const mm = /^(.*)\/delay$/.exec(`/${ctx.params.rest ?? ''}`);
    if (!mm) return false;
    const id = resolvePath(mm[1] as string);
    if (!m.apps.has(id)) return sendJson(res, 404, { message: `App '${id}' does not exist` });
    m.resetDelay(id);
    res.writeHead(204);
    res.end();
  });

  router.on('GET', '/v2/info', (_req, res) => {
    count();
    sendJson(res, 200, {
      name: 'marathon',
      version: opts.version,
      buildref: 'dcos-ts',
      elected: true,
      leader: m.config.leader,
      frameworkId: m.frameworkId ?? null,
      marathon_config: {
        master: m.config.masterUrl,
        failover_timeout: m.config.failoverTimeoutSeconds,
        framework_name: m.config.frameworkName,
        mesos_role: m.config.role,
        local_port_min: 10000,
        local_port_max: 20000,
        decline_offer_duration: m.config.declineRefuseSeconds * 1000,
        checkpoint: true,
        hostname: m.config.leader.split(':')[0],
      },
      zookeeper_config: { zk: null },
      http_config: { http_port: Number(m.config.leader.split(':')[1] ?? 8080), https_port: 8443 },
    });
  });
  router.on('GET', '/v2/leader', (_req, res) => sendJson(res, 200, { leader: m.config.leader }));
  router.on('DELETE', '/v2/leader', (_req, res) => sendJson(res, 200, { message: 'Leadership abdicated' }));

  router.on('GET', '/metrics', (_req, res) => {
    const gauges: Record<string, { value: number }> = {
      'marathon.apps.active.gauge': { value: m.apps.size },
      'marathon.deployments.active.gauge': { value: m.deployments.size },
      'marathon.tasks.running.gauge': { value: [...m.instances.values()].filter((i) => i.state === 'TASK_RUNNING').length },
      'marathon.tasks.staged.gauge': { value: [...m.instances.values()].filter((i) => i.state === 'TASK_STAGING').length },
    };
    const counters: Record<string, { count: number }> = {};
    for (const [k, v] of Object.entries(m.counters)) counters[`${k}.counter`] = { count: v };
    sendJson(res, 200, { version: '4.0.0', counters, gauges, histograms: {}, meters: {}, timers: {} });
  });

  router.on('GET', '/v2/events', (req, res, ctx) => {
    const accept = req.headers.accept ?? '';
    if (!accept.includes('text/event-stream')) {
      return sendJson(res, 405, { message: 'Event stream requests need Accept: text/event-stream' });
    }
    const types = new Set(ctx.query.getAll('event_type').flatMap((t) => t.split(',')));
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    res.socket?.setTimeout(0);
    const write = (e: MarathonEvent, always = false) => {
      if (!always && types.size > 0 && !types.has(e.eventType)) return;
      if (res.writableLength > maxBuf) {
        res.destroy();
        return;
      }
      res.write(`event: ${e.eventType}\ndata: ${JSON.stringify(e)}\n\n`);
    };
    let off: () => void;
    try {
      off = m.onEventBus((e) => write(e));
    } catch {
      res.end();
      return;
    }
    // Sent whatever the filter: clients wait for it to know the stream is live.
    write({ eventType: 'event_stream_attached', timestamp: m.now(), remoteAddress: req.socket.remoteAddress ?? '' }, true);
    // Keep-alive for proxies: SSE comments are ignored by clients.
    const ka = setInterval(() => res.write(':\n\n'), keepAliveMs);
    res.on('close', () => {
      clearInterval(ka);
      off();
    });
  });
}

function tasksText(m: Marathon, tasks: Instance[]): string {
  const byApp = new Map<string, Instance[]>();
  for (const t of tasks) byApp.set(t.appId, [...(byApp.get(t.appId) ?? []), t]);
  const lines: string[] = [];
  for (const [appId, ts] of byApp) {
    const app = m.apps.get(appId);
    const sp = app?.portDefinitions?.[0]?.port ?? 0;
    lines.push([appId.slice(1).replace(/\//g, '_'), sp, ...ts.map((t) => `${t.host}:${t.ports[0] ?? ''}`)].join('\t'));
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}
