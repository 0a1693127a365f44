import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AgentCall, AgentCommand } from '../model/agent-protocol.js';
import { stripNulls } from '../model/mesos.js';
import { SCHEDULER_CALL_TYPES, type Master, type SchedulerCall } from '../services/master/master.js';
import * as V from '../services/master/views.js';
import { systemMetrics } from './system-metrics.js';
import { BodyError, RecordIOSink, type Router, readBody, sendJson, sendLegacyJson, sendText } from './http.js';

const MAX_BODY_BYTES = 16 * 1024 * 1024;

type Parsed = { ok: true; call: Record<string, unknown> & { type: string } } | { ok: false; status: number; message: string };

/** Content-Type, body size and JSON checks shared by the v1 endpoints, with Mesos' error texts. */
async function parseCall(req: IncomingMessage, kind: 'scheduler' | 'master'): Promise<Parsed> {
  const ct = req.headers['content-type'];
  if (!ct) return { ok: false, status: 400, message: "Expecting 'Content-Type' to be present" };
  const mime = ct.split(';')[0]?.trim().toLowerCase();
  if (mime === 'application/x-protobuf') return { ok: false, status: 415, message: 'Protobuf requests are not supported; use application/json' };
  if (mime !== 'application/json') return { ok: false, status: 415, message: `Expecting 'Content-Type' of application/json or application/x-protobuf` };
  let text: string;
  try {
    text = await readBody(req, MAX_BODY_BYTES);
  } catch (e) {
    if (e instanceof BodyError) return { ok: false, status: e.status, message: e.message };
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, status: 400, message: `Failed to parse body into JSON: ${(e as Error).message}` };
  }
  const what = kind === 'scheduler' ? 'Call' : 'master::Call';
  if (!json || typeof json !== 'object' || Array.isArray(json)) {
    return { ok: false, status: 400, message: `Failed to convert JSON into ${what} protobuf: Expecting a JSON object` };
  }
  const call = stripNulls(json) as Record<string, unknown>;
  if (typeof call.type !== 'string') {
    return { ok: false, status: 400, message: `Failed to convert JSON into ${what} protobuf: Missing required fields: type` };
  }
  return { ok: true, call: call as Record<string, unknown> & { type: string } };
}

/** Accept negotiation for streams: JSON unless the client insists on something else. */
function acceptsJson(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  if (!accept) return true;
  return accept.split(',').some((a) => {
    const m = a.split(';')[0]?.trim().toLowerCase();
    return m === '*/*' || m === 'application/json' || m === 'application/recordio' || m === 'application/*';
  });
}

function reply(res: ServerResponse, result: { status: number; body?: string | object }): void {
  if (result.body === undefined) {
    res.writeHead(result.status, { 'Content-Length': 0 });
    res.end();
  } else if (typeof result.body === 'string') sendText(res, result.status, result.body);
  else sendJson(res, result.status, result.body);
}

function remoteIp(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
}

export interface MasterApiOptions {
  maxSubscriberBufferBytes: number;
  heartbeatIntervalMs: number;
}

export function masterRoutes(router: Router, master: Master, opts: MasterApiOptions): void {
  // --- Scheduler API -------------------------------------------------------------------------
  router.on('POST', '/api/v1/scheduler', async (req, res) => {
    const parsed = await parseCall(req, 'scheduler');
    if (!parsed.ok) return sendText(res, parsed.status, parsed.message);
    const call = parsed.call as unknown as SchedulerCall;
    if (!SCHEDULER_CALL_TYPES.has(call.type)) {
      return sendText(res, 400, `Failed to convert JSON into Call protobuf: Failed to find enum for '${call.type}'`);
    }
    if (call.type === 'SUBSCRIBE') {
      if (req.headers['mesos-stream-id'] !== undefined) {
        return sendText(res, 400, "Subscribe calls should not include the 'Mesos-Stream-Id' header");
      }
      if (!acceptsJson(req)) return sendText(res, 406, "Expecting 'Accept' to allow application/json");
      const streamId = randomUUID();
      const sink = new RecordIOSink(res, opts.maxSubscriberBufferBytes, {
        'Content-Type': 'application/json',
        'Mesos-Stream-Id': streamId,
      });
      const result = await master.subscribe(call, sink, streamId, remoteIp(req));
      if (result && !sink.started) reply(res, result);
      return;
    }
    const streamId = req.headers['mesos-stream-id'];
    const result = await master.schedulerCall(call, typeof streamId === 'string' ? streamId : undefined);
    reply(res, result);
  });
  router.on('*', '/api/v1/scheduler', (_req, res) => {
    res.writeHead(405, { Allow: 'POST' });
    res.end("Expecting one of { 'POST' }");
  });

  // --- Operator API --------------------------------------------------------------------------
  router.on('POST', '/api/v1', async (req, res) => {
    const parsed = await parseCall(req, 'master');
    if (!parsed.ok) return sendText(res, parsed.status, parsed.message);
    const call = parsed.call;
    const ok = (type: string, payload: object) => sendJson(res, 200, { type, [type.toLowerCase()]: payload });
    switch (call.type) {
      case 'GET_HEALTH':
        return ok('GET_HEALTH', { healthy: true });
      case 'GET_FLAGS':
        return ok('GET_FLAGS', V.getFlags(master));
      case 'GET_VERSION':
        return ok('GET_VERSION', V.getVersion(master));
      case 'GET_METRICS':
        return ok('GET_METRICS', {
          metrics: Object.entries(V.metricsSnapshot(master, Date.now(), systemMetrics())).map(([name, value]) => ({ name, value })),
        });
      case 'GET_STATE':
        return ok('GET_STATE', V.getState(master, true));
      case 'GET_AGENTS':
        return ok('GET_AGENTS', V.getAgents(master));
      case 'GET_FRAMEWORKS':
        return ok('GET_FRAMEWORKS', V.getFrameworks(master));
      case 'GET_EXECUTORS':
        return ok('GET_EXECUTORS', {});
      case 'GET_TASKS':
        return ok('GET_TASKS', V.getTasks(master, true));
      case 'GET_OPERATIONS':
        return ok('GET_OPERATIONS', {});
      case 'GET_ROLES':
        return ok('GET_ROLES', V.getRoles(master));
      case 'GET_WEIGHTS':
        return ok('GET_WEIGHTS', {
          weight_infos: Object.entries(master.allocator.getWeights()).map(([role, weight]) => ({ role, weight })),
        });
      case 'GET_MASTER':
        return ok('GET_MASTER', V.getMaster(master));
      case 'GET_QUOTA':
        return ok('GET_QUOTA', V.getQuota(master));
      case 'GET_LOGGING_LEVEL':
        return ok('GET_LOGGING_LEVEL', { level: 0 });
      case 'GET_MAINTENANCE_STATUS':
        return ok('GET_MAINTENANCE_STATUS', { status: {} });
      case 'GET_MAINTENANCE_SCHEDULE':
        return ok('GET_MAINTENANCE_SCHEDULE', { schedule: {} });
      case 'UPDATE_WEIGHTS': {
        const infos = (call.update_weights as { weight_infos?: unknown })?.weight_infos;
        if (!Array.isArray(infos)) return sendText(res, 400, "Failed to validate master::Call: Expecting 'update_weights.weight_infos'");
        return reply(res, await master.updateWeights(infos as { role: string; weight: number }[]));
      }
      case 'UPDATE_QUOTA': {
        const configs = (call.update_quota as { quota_configs?: unknown })?.quota_configs;
        if (!Array.isArray(configs)) return sendText(res, 400, "Failed to validate master::Call: Expecting 'update_quota.quota_configs'");
        return reply(res, await master.updateQuota(configs as never));
      }
      case 'TEARDOWN': {
        const id = (call.teardown as { framework_id?: { value?: string } })?.framework_id?.value;
        if (!id) return sendText(res, 400, "Failed to validate master::Call: Expecting 'teardown.framework_id'");
        return reply(res, master.teardown(id));
      }
      case 'MARK_AGENT_GONE': {
        const id = (call.mark_agent_gone as { agent_id?: { value?: string } })?.agent_id?.value;
        if (!id) return sendText(res, 400, "Failed to validate master::Call: Expecting 'mark_agent_gone.agent_id'");
        return reply(res, master.markAgentGone(id));
      }
      case 'SUBSCRIBE': {
        if (!acceptsJson(req)) return sendText(res, 406, "Expecting 'Accept' to allow application/json");
        const sink = new RecordIOSink(res, opts.maxSubscriberBufferBytes);
        sink.send({
          type: 'SUBSCRIBED',
          subscribed: { get_state: V.getState(master), heartbeat_interval_seconds: opts.heartbeatIntervalMs / 1000 },
        });
        master.operatorSubscribe(sink);
        const hb = setInterval(() => sink.send({ type: 'HEARTBEAT' }), opts.heartbeatIntervalMs);
        sink.onClose(() => clearInterval(hb));
        return;
      }
      default:
        return sendText(res, 400, `Failed to validate master::Call: Unsupported call type '${call.type}'`);
    }
  });

  // --- Agent protocol (internal) -------------------------------------------------------------
  router.on('POST', '/master/internal/agent', async (req, res) => {
    let call: AgentCall;
    try {
      call = JSON.parse(await readBody(req, MAX_BODY_BYTES)) as AgentCall;
    } catch (e) {
      return sendText(res, e instanceof BodyError ? e.status : 400, `Invalid agent call: ${(e as Error).message}`);
    }
    if (!call || typeof call !== 'object' || typeof call.type !== 'string') return sendText(res, 400, 'Invalid agent call: missing type');
    reply(res, await master.agentCall(call));
  });
  router.on('POST', '/master/internal/agent/stream', async (req, res) => {
    let call: { agent_id?: { value?: string } };
    try {
      call = JSON.parse(await readBody(req, 64 * 1024));
    } catch (e) {
      return sendText(res, 400, `Invalid subscribe call: ${(e as Error).message}`);
    }
    const id = call?.agent_id?.value;
    if (typeof id !== 'string') return sendText(res, 400, 'Invalid subscribe call: missing agent_id');
    const sink = new RecordIOSink<AgentCommand>(res, opts.maxSubscriberBufferBytes);
    const err = master.agentSubscribe(id, sink);
    if (err) return reply(res, err);
    sink.open();
    const ping = setInterval(() => sink.send({ type: 'PING' }), opts.heartbeatIntervalMs);
    sink.onClose(() => clearInterval(ping));
  });

  // --- Legacy endpoints ----------------------------------------------------------------------
  const state: Parameters<Router['on']>[2] = (_req, res, ctx) => sendLegacyJson(res, ctx.query, V.legacyState(master, true));
  for (const p of ['/master/state', '/master/state.json', '/state', '/state.json']) router.on('GET', p, state);
  router.on('GET', '/master/state-summary', (_req, res, ctx) => sendLegacyJson(res, ctx.query, V.legacyStateSummary(master)));
  router.on('GET', '/master/slaves', (_req, res, ctx) => {
    const only = ctx.query.get('slave_id');
    const slaves = [...master.agents.values()].filter((a) => a.state === 'REGISTERED' && (!only || a.id === only));
    const recovered = [...master.agents.values()].filter((a) => a.state === 'RECOVERED' && (!only || a.id === only));
    sendLegacyJson(res, ctx.query, {
      slaves: slaves.map((a) => V.legacyAgent(master, a, true)),
      recovered_slaves: recovered.map((a) => a.info),
    });
  });
  router.on('GET', '/master/frameworks', (_req, res, ctx) => {
    const only = ctx.query.get('framework_id');
    const pick = <T extends { id: string }>(xs: T[]) => xs.filter((f) => !only || f.id === only);
    sendLegacyJson(res, ctx.query, {
      frameworks: pick([...master.frameworks.values()]).map((f) => V.legacyFramework(master, f, false, true)),
      completed_frameworks: pick(master.completedFrameworks.toArray()).map((f) => V.legacyFramework(master, f, false, true)),
      unregistered_frameworks: [],
    });
  });
  for (const p of ['/master/tasks', '/master/tasks.json'])
    router.on('GET', p, (_req, res, ctx) => sendLegacyJson(res, ctx.query, V.legacyTasks(master, ctx.query)));
  router.on('GET', '/master/roles', (_req, res, ctx) => sendLegacyJson(res, ctx.query, V.legacyRoles(master)));
  router.on('GET', '/master/flags', (_req, res, ctx) => sendLegacyJson(res, ctx.query, { flags: Object.fromEntries(V.getFlags(master).flags as never) }));
  router.on('GET', '/master/health', (_req, res) => {
    res.writeHead(200, { 'Content-Length': 0 });
    res.end();
  });
  router.on('GET', '/health', (_req, res) => {
    res.writeHead(200, { 'Content-Length': 0 });
    res.end();
  });
  const redirect: Parameters<Router['on']>[2] = (_req, res) => {
    res.writeHead(307, { Location: `//${master.config.hostname}:${master.config.port}`, 'Content-Length': 0 });
    res.end();
  };
  router.on('GET', '/master/redirect', redirect);
  router.on('GET', '/redirect', redirect);
  router.on('GET', '/master/redirect/*', (_req, res) => sendText(res, 404, ''));
  router.on('GET', '/version', (_req, res, ctx) => sendLegacyJson(res, ctx.query, V.getVersion(master).version_info));
  router.on('GET', '/metrics/snapshot', (_req, res, ctx) => sendLegacyJson(res, ctx.query, V.metricsSnapshot(master, Date.now(), systemMetrics())));
  router.on('POST', '/master/teardown', async (req, res) => {
    const body = new URLSearchParams(await readBody(req, 64 * 1024));
    const id = body.get('frameworkId');
    if (!id) return sendText(res, 400, "Missing 'frameworkId' query parameter in the request body");
    reply(res, master.teardown(id));
  });
}
