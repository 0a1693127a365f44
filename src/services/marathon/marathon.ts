/**
 * The Marathon service: a framework named "marathon" that keeps every app's instances running.
 * Decisions come from core/marathon (validation, placement, rolling steps, plans); this class
 * holds the state, persists it in the Store before anyone is told, and talks to the master
 * through a SchedulerTransport. Time comes from the injected Clock, ids from the seeded Random.
 */
import type { Clock, TimerHandle } from '../../base/clock.js';
import type { Random } from '../../base/random.js';
import {
  type AgentCeiling,
  type AgentFacts,
  type App,
  type DeploymentStep,
  type FieldError,
  REJECT_REASONS,
  type RejectReason,
  SCHEDULER_HEALTH_PROTOCOLS,
  appAction,
  checkPort,
  discoveryPortsOfMappings,
  isAgentHealthCheck,
  mesosHealthCheck,
  networkMode,
  portMappingEnv,
  portMappingsOf,
  requestedHostPorts,
  taskNetworkInfos,
  readinessOutcome,
  readinessPort,
  backoffDelayMs,
  isoTime,
  matchOffer,
  parseIsoTime as parseIso,
  mergeApp,
  neverPlaceable,
  planDeployment,
  resolvePath,
  rollingStep,
  safePath,
  taskName,
  validateApp,
} from '../../core/marathon/index.js';
import { GroupHistory, type GroupMeta, type GroupSnapshot, ancestorsOf, groupVersions, isBelow, isWithin, snapshotOf } from '../../core/marathon/group.js';
import { pathError } from '../../core/marathon/path.js';
import { scalarOf, subtract } from '../../core/resources/index.js';
import { type Offer, type TaskInfo, type TaskState, type TaskStatus, isTerminal } from '../../model/mesos.js';
import type { Store, StoreOp } from '../../ports/store.js';
import { type HealthProber, type HealthState, MAX_READINESS_BODY_CHARS, type ReadinessState } from './health.js';
import { CallbackSink, type SchedulerTransport } from './transport.js';

type Json = Record<string, any>;

export interface MarathonConfig {
  frameworkName: string;
  role: string;
  /** host:port this Marathon answers on, for /v2/info and /v2/leader. */
  leader: string;
  masterUrl: string;
  failoverTimeoutSeconds: number;
  /** How long a declined offer's resources stay away (DECLINE filter). */
  declineRefuseSeconds: number;
  tickMs: number;
  /** Kill requests are repeated this often until the task is terminal. */
  killRetryMs: number;
  maxVersionsPerApp: number;
  /** Snapshots of the group tree kept (one per change), as Marathon keeps a bounded root history. */
  maxGroupVersions: number;
  maxEventListeners: number;
  /** Every task is reconciled with the master this often (and on every (re)subscription). */
  reconcileIntervalMs: number;
  /**
   * REVIVE at most this often (Marathon's --min_revive_offers_interval, 5 s there): demand that
   * arrives sooner is revived for at the end of the interval. Every REVIVE makes the master offer
   * every agent again, so bursts of new apps share one.
   */
  minReviveIntervalMs: number;
  /**
   * An unreachable task is expunged no sooner than this after it became unreachable, whatever
   * its expungeAfterSeconds (Marathon's expunge job runs every --task_lost_expunge_interval,
   * 30 s, so with expungeAfterSeconds 0 it forgets the task 0-30 s later; here at the end of
   * that window, deterministically).
   */
  minExpungeMs: number;
  /** Roles an app without acceptedResourceRoles accepts (Marathon's --default_accepted_resource_roles; default '*' and its role). */
  defaultAcceptedResourceRoles?: string[];
}

export const DEFAULT_MARATHON_CONFIG: MarathonConfig = {
  frameworkName: 'marathon',
  role: '*',
  leader: '127.0.0.1:8080',
  masterUrl: '',
  failoverTimeoutSeconds: 7 * 24 * 3600,
  declineRefuseSeconds: 5,
  tickMs: 1000,
  killRetryMs: 10_000,
  maxVersionsPerApp: 50,
  maxGroupVersions: 50,
  maxEventListeners: 1000,
  reconcileIntervalMs: 5 * 60_000,
  minExpungeMs: 30_000,
  minReviveIntervalMs: 1000,
};

/** One launched task (Marathon instance with one task), as stored. */
export interface Instance {
  taskId: string;
  appId: string;
  agentId: string;
  host: string;
  facts: AgentFacts;
  ports: number[];
  servicePorts: number[];
  state: TaskState;
  /** The app version the task was launched with, and its config version (replaced when it differs). */
  version: string;
  configVersion: string;
  stagedAt: string;
  startedAt?: string;
  /** Health as the agent last reported it (TaskStatus.healthy), for Mesos-level checks. */
  healthy?: boolean;
  killing?: boolean;
  killRequestedMs?: number;
  /** Unreachable tasks are inactive after unreachableStrategy.inactiveAfterSeconds: a replacement is launched. */
  inactive?: boolean;
  unreachableSinceMs?: number;
  /** The task's own addresses on container networks (from its status), when it has any. */
  containerIps?: string[];
}

export interface Deployment {
  id: string;
  version: string;
  affectedApps: string[];
  steps: DeploymentStep[];
  /** Definitions before the change (null: the app did not exist), for rollback. */
  original: Record<string, App | null>;
  target: Record<string, App | null>;
}

export interface DeploymentResult {
  deploymentId: string;
  version: string;
}

export type MarathonError =
  | { status: 404; message: string }
  | { status: 409; message: string; deployments?: { id: string }[] }
  | { status: 422; message: string; details: FieldError[] }
  | { status: 400; message: string };

export type Outcome<T> = { ok: true; value: T; created?: boolean } | { ok: false; error: MarathonError };

interface OfferStats {
  processed: number;
  unused: number;
  lastUnusedAtMs?: number;
  lastUsedAtMs?: number;
  /** Outcomes of the last offers seen while the app waited: a reason or 'used'. */
  last: (RejectReason | 'used')[];
  launchAttempt: Partial<Record<RejectReason, number>>;
  lastDetail?: string;
  /** The last offers not used, with why (Marathon's lastUnusedOffers, for `debug details`). */
  lastUnused: Json[];
}

const LAST_UNUSED_OFFERS_KEPT = 10;

const LAST_OFFERS_KEPT = 100;

const SUBSCRIBE_RETRY_MAX_MS = 16_000;

/** Demand with no offer for this long: REVIVE again (the last one may have been lost or overtaken). */
const REVIVE_REPEAT_MS = 30_000;
/** A reconciliation the master did not take (an error, a timeout) is tried again this soon. */
const RECONCILE_RETRY_MS = 10_000;

export interface MarathonEvent {
  eventType: string;
  timestamp: string;
  [k: string]: unknown;
}

export interface MarathonDeps {
  clock: Clock;
  random: Random;
  store: Store;
  transport: SchedulerTransport;
  config?: Partial<MarathonConfig>;
  log?: (level: string, msg: string) => void;
  /** Runs HTTP/TCP health checks; without one, tasks with such checks count as healthy when running. */
  prober?: HealthProber;
  /** Runs fn soon, outside the current call stack (setImmediate in production). */
  defer: (fn: () => void) => void;
}

const K = {
  app: (id: string) => `marathon/apps${id}`,
  apps: 'marathon/apps/',
  version: (id: string, v: string) => `marathon/versions${id}/${v}`,
  versions: (id: string) => `marathon/versions${id}/`,
  task: (id: string) => `marathon/tasks/${id}`,
  tasks: 'marathon/tasks/',
  deployment: (id: string) => `marathon/deployments/${id}`,
  deployments: 'marathon/deployments/',
  framework: 'marathon/framework',
  group: (id: string) => `marathon/groups${id}`,
  failure: (id: string) => `marathon/failures${id}`,
  failures: 'marathon/failures/',
  groups: 'marathon/groups/',
  groupVersion: (v: string) => `marathon/groupversions/${v}`,
  groupVersions: 'marathon/groupversions/',
};

export type { GroupMeta, GroupSnapshot };

/** What a GroupInfo holds beside its settings (Marathon's group.apps, group.groups, group.pods). */
export interface GroupEmbed {
  apps: boolean;
  groups: boolean;
  pods: boolean;
}

export class Marathon {
  readonly config: MarathonConfig;
  readonly apps = new Map<string, App>();
  readonly instances = new Map<string, Instance>();
  /** The same instances by app id (placement looks at one app's tasks per offer). */
  private readonly byApp = new Map<string, Map<string, Instance>>();
  private convergeScheduled = false;
  /** Apps touched since the last converge pass (a partial pass looks only at these). */
  private readonly dirty = new Set<string>();
  readonly deployments = new Map<string, Deployment>();
  /** Every group, `/` included; an app's enclosing groups always exist. */
  readonly groups = new Map<string, GroupMeta>();
  /** Snapshots of the group tree, oldest first (at most config.maxGroupVersions). */
  private readonly history: GroupHistory;
  frameworkId: string | undefined;
  private streamId: string | undefined;
  private sink: CallbackSink | undefined;
  private connected = false;
  private suppressed = false;
  private stopped = false;
  private ticker: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private subscribeRetries = 0;
  private reviveTimer: TimerHandle | undefined;
  private lastReviveMs = Number.NEGATIVE_INFINITY;
  private lastOfferMs = Number.NEGATIVE_INFINITY;
  /** Launches each app still needs now (recomputed by converge). */
  private readonly wanted = new Map<string, number>();
  private readonly backoff = new Map<string, { failures: number; delayUntilMs: number; sinceMs: number }>();
  private readonly stats = new Map<string, OfferStats>();
  private readonly waitingSince = new Map<string, number>();
  private readonly lastFailure = new Map<string, Json>();
  private readonly agents = new Map<string, AgentCeiling>();
  private readonly listeners = new Set<(e: MarathonEvent) => void>();
  /** Per task, per health check index: results of the checks Marathon runs itself. */
  private readonly health = new Map<string, HealthState[]>();
  /** Per task: readiness check results while it is not yet ready (probed during deployments). */
  private readonly readiness = new Map<string, ReadinessState>();
  private eventChain: Promise<void> = Promise.resolve();
  private lastReconcileMs = 0;
  private readonly log: (level: string, msg: string) => void;
  readonly counters: Record<string, number> = {
    'marathon.tasks.launched': 0,
    'marathon.tasks.killed': 0,
    'marathon.tasks.failed': 0,
    'marathon.offers.processed': 0,
    'marathon.offers.declined': 0,
    'marathon.deployments.started': 0,
    'marathon.deployments.succeeded': 0,
    'marathon.deployments.rolled_back': 0,
    'marathon.http.requests': 0,
  };

  constructor(private readonly deps: MarathonDeps) {
    this.config = { ...DEFAULT_MARATHON_CONFIG, ...(deps.config ?? {}) };
    this.history = new GroupHistory(this.config.maxGroupVersions);
    this.log = deps.log ?? (() => {});
  }

  now(): string {
    return isoTime(this.deps.clock.nowMs());
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  /** Loads the stored state and subscribes to the master. */
  async start(): Promise<void> {
    const { store } = this.deps;
    for (const e of await store.list(K.apps)) {
      const app = JSON.parse(e.value) as App;
      this.apps.set(app.id, app);
    }
    for (const e of await store.list(K.tasks)) {
      const inst = JSON.parse(e.value) as Instance;
      this.addInstance(inst);
    }
    for (const e of await store.list(K.deployments)) {
      const d = JSON.parse(e.value) as Deployment;
      this.deployments.set(d.id, d);
    }
    for (const e of await store.list(K.failures)) {
      const f = JSON.parse(e.value) as Json;
      if (this.apps.has(f.appId)) this.lastFailure.set(f.appId, f);
    }
    for (const e of await store.list(K.groups)) {
      const g = JSON.parse(e.value) as GroupMeta;
      this.groups.set(g.id, g);
    }
    const snaps = (await store.list(K.groupVersions)).map((e) => JSON.parse(e.value) as GroupSnapshot);
    for (const s of snaps.sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0))) this.history.push(s);
    await this.recoverGroups();
    const fw = await store.get(K.framework);
    if (fw) this.frameworkId = (JSON.parse(fw.value) as { id: string }).id;
    this.log('info', `marathon recovered ${this.apps.size} apps, ${this.instances.size} tasks, ${this.deployments.size} deployments`);
    this.ticker = this.deps.clock.setInterval(this.config.tickMs, () => this.tick());
    await this.subscribe();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ticker?.cancel();
    this.retryTimer?.cancel();
    this.reviveTimer?.cancel();
    this.sink?.close();
  }

  get isConnected(): boolean {
    return this.connected;
  }

  private async subscribe(): Promise<void> {
    if (this.stopped) return;
    this.connected = false;
    const streamId = this.deps.random.uuid();
    const sink = new CallbackSink((ev) => this.enqueue(ev as Json));
    this.sink = sink;
    this.streamId = streamId;
    sink.onClose(() => {
      if (this.sink !== sink || this.stopped) return;
      this.connected = false;
      this.emit({ eventType: 'scheduler_disconnected_event' });
      this.retrySubscribe();
    });
    const info: Json = {
      user: 'root',
      name: this.config.frameworkName,
      failover_timeout: this.config.failoverTimeoutSeconds,
      checkpoint: true,
      role: this.config.role,
      hostname: this.config.leader.split(':')[0],
      webui_url: `http://${this.config.leader}`,
      capabilities: [{ type: 'PARTITION_AWARE' }, { type: 'TASK_KILLING_STATE' }],
    };
    if (this.frameworkId) info.id = { value: this.frameworkId };
    const call: Json = { type: 'SUBSCRIBE', subscribe: { framework_info: info } };
    if (this.frameworkId) call.framework_id = { value: this.frameworkId };
    let result: { status: number; body?: unknown } | undefined;
    try {
      result = await this.deps.transport.subscribe(call, sink, streamId);
    } catch (e) {
      result = { status: 500, body: (e as Error).message };
    }
    if (result) {
      this.log('warn', `marathon SUBSCRIBE failed: ${result.status} ${String(result.body ?? '')}; retrying`);
      this.sink = undefined;
      this.retrySubscribe();
    }
  }

  /** Subscribes again after 1 s, doubling per failed attempt up to 16 s (reset by SUBSCRIBED). */
  private retrySubscribe(): void {
    if (this.stopped) return;
    this.retryTimer?.cancel();
    const delay = Math.min(SUBSCRIBE_RETRY_MAX_MS, 1000 * 2 ** Math.min(this.subscribeRetries, 10));
    this.subscribeRetries++;
    this.retryTimer = this.deps.clock.setTimer(delay, () => void this.subscribe());
  }

  /** Events are handled one at a time, in order, outside the master's call stack. */
  private enqueue(ev: Json): void {
    this.deps.defer(() => {
      this.eventChain = this.eventChain.then(
        () => this.onEvent(ev),
        () => this.onEvent(ev),
      );
      this.eventChain.catch((e: Error) => this.log('error', `marathon event ${ev.type}: ${e.stack ?? e.message}`));
    });
  }

  private async call(call: Json): Promise<{ status: number; body?: unknown }> {
    if (!this.streamId || !this.frameworkId || !this.connected) return { status: 503, body: 'not subscribed' };
    const r = await this.deps.transport.call({ framework_id: { value: this.frameworkId }, ...call }, this.streamId);
    if (r.status >= 300) this.log('warn', `marathon ${call.type} → ${r.status} ${String(r.body ?? '')}`);
    return r;
  }

  private async onEvent(ev: Json): Promise<void> {
    switch (ev.type) {
      case 'SUBSCRIBED': {
        const id = ev.subscribed.framework_id.value as string;
        const isNew = id !== this.frameworkId;
        this.frameworkId = id;
        this.connected = true;
        this.subscribeRetries = 0;
        this.suppressed = false;
        if (isNew) await this.deps.store.put(K.framework, JSON.stringify({ id }));
        const m = ev.subscribed.master_info;
        this.emit({
          eventType: isNew ? 'scheduler_registered_event' : 'scheduler_reregistered_event',
          frameworkId: id,
          master: m?.hostname ? `${m.hostname}:${m.port}` : '',
        });
        this.log('info', `marathon ${isNew ? 'registered' : 'reregistered'} as framework ${id}`);
        await this.reconcileWithMaster();
        this.converge();
        break;
      }
      case 'OFFERS':
        await this.handleOffers((ev.offers?.offers ?? []) as Offer[]);
        break;
      case 'UPDATE':
        await this.handleUpdate(ev.update.status as TaskStatus);
        break;
      case 'ERROR':
        this.log('warn', `marathon got ERROR from the master: ${ev.error?.message}`);
        if (/removed/i.test(ev.error?.message ?? '')) {
          // The master forgot us (failover timeout): start over as a new framework.
          this.frameworkId = undefined;
          await this.deps.store.delete(K.framework);
        }
        break;
      default:
        break;
    }
  }

  /** Explicit reconciliation of every task we know, then implicit to find tasks we forgot. */
  private async reconcileWithMaster(): Promise<void> {
    const started = this.deps.clock.nowMs();
    this.lastReconcileMs = started;
    const tasks = [...this.instances.values()].map((i) => ({ task_id: { value: i.taskId }, agent_id: { value: i.agentId } }));
    let ok = true;
    if (tasks.length > 0) ok = (await this.call({ type: 'RECONCILE', reconcile: { tasks } })).status < 300;
    if ((await this.call({ type: 'RECONCILE', reconcile: { tasks: [] } })).status >= 300) ok = false;
    // A reconciliation lost on the way must be tried again soon, not at the next interval: a
    // task whose launch never reached a master (the ACCEPT dropped, or a master crash before it
    // was stored) is reported only to an explicit one, and stays STAGING here until then (sim
    // seed 9 at 30 x 2 x 12: the deployment waited past the end of the run).
    if (!ok && this.lastReconcileMs === started) this.lastReconcileMs = started - this.config.reconcileIntervalMs + RECONCILE_RETRY_MS;
  }

  // ---------------------------------------------------------------------------------------------
  // Offers and launches

  private facts(offer: Offer): AgentFacts {
    const attributes: Record<string, string> = {};
    for (const a of offer.attributes ?? []) {
      if (a.type === 'TEXT' && a.text) attributes[a.name] = a.text.value;
      else if (a.type === 'SCALAR' && a.scalar) attributes[a.name] = String(a.scalar.value);
      else if (a.type === 'SET' && a.set) attributes[a.name] = a.set.item.join(',');
    }
    const fd = offer.domain?.fault_domain;
    return { hostname: offer.hostname, attributes, ...(fd ? { region: fd.region.name, zone: fd.zone.name } : {}) };
  }

  /** What our live tasks use per agent (computed only when an agent is seen for the first time). */
  private usedPerAgent(): Map<string, { cpus: number; mem: number; disk: number }> {
    const used = new Map<string, { cpus: number; mem: number; disk: number }>();
    for (const i of this.instances.values()) {
      const app = this.apps.get(i.appId);
      if (!app || isTerminal(i.state)) continue;
      const u = used.get(i.agentId) ?? { cpus: 0, mem: 0, disk: 0 };
      u.cpus += app.cpus;
      u.mem += app.mem;
      u.disk += app.disk;
      used.set(i.agentId, u);
    }
    return used;
  }

  private noteAgent(offer: Offer, facts: AgentFacts, used: () => Map<string, { cpus: number; mem: number; disk: number }>): void {
    const prev = this.agents.get(offer.agent_id.value);
    const rs = offer.resources;
    const c: AgentCeiling = {
      facts,
      cpus: Math.max(prev?.cpus ?? 0, scalarOf(rs, 'cpus')),
      mem: Math.max(prev?.mem ?? 0, scalarOf(rs, 'mem')),
      disk: Math.max(prev?.disk ?? 0, scalarOf(rs, 'disk')),
      gpus: Math.max(prev?.gpus ?? 0, scalarOf(rs, 'gpus')),
    };
    // Tasks already running there count towards what the agent can hold.
    if (!prev) {
      const u = used().get(offer.agent_id.value);
      if (u) {
        c.cpus += u.cpus;
        c.mem += u.mem;
        c.disk += u.disk;
      }
    }
    this.agents.set(offer.agent_id.value, c);
  }

  private addInstance(i: Instance): void {
    this.dirty.add(i.appId);
    this.instances.set(i.taskId, i);
    let m = this.byApp.get(i.appId);
    if (!m) {
      m = new Map();
      this.byApp.set(i.appId, m);
    }
    m.set(i.taskId, i);
  }

  private removeInstance(i: Instance): void {
    this.dirty.add(i.appId);
    this.instances.delete(i.taskId);
    const m = this.byApp.get(i.appId);
    m?.delete(i.taskId);
    if (m && m.size === 0) this.byApp.delete(i.appId);
  }

  /** Converges once soon: bursts of status updates and offers cost one pass, not one each. */
  private scheduleConverge(appId?: string): void {
    if (appId !== undefined) this.dirty.add(appId);
    if (this.convergeScheduled) return;
    this.convergeScheduled = true;
    this.deps.defer(() => {
      this.convergeScheduled = false;
      this.converge(false);
    });
  }

  private statsOf(appId: string): OfferStats {
    let s = this.stats.get(appId);
    if (!s) {
      s = { processed: 0, unused: 0, last: [], launchAttempt: {}, lastUnused: [] };
      this.stats.set(appId, s);
    }
    return s;
  }

  private recordOutcome(appId: string, outcome: RejectReason | 'used', detail?: string, offer?: Offer): void {
    const s = this.statsOf(appId);
    const now = this.deps.clock.nowMs();
    s.processed++;
    if (outcome === 'used') s.lastUsedAtMs = now;
    else {
      s.unused++;
      s.lastUnusedAtMs = now;
      s.launchAttempt[outcome] = (s.launchAttempt[outcome] ?? 0) + 1;
      s.lastDetail = detail;
      if (offer) {
        s.lastUnused.push({
          offer: {
            id: offer.id.value,
            agentId: offer.agent_id.value,
            hostname: offer.hostname,
            resources: offer.resources,
            attributes: offer.attributes ?? [],
          },
          timestamp: isoTime(now),
          reason: [outcome],
        });
        if (s.lastUnused.length > LAST_UNUSED_OFFERS_KEPT) s.lastUnused.shift();
      }
    }
    s.last.push(outcome);
    if (s.last.length > LAST_OFFERS_KEPT) s.last.shift();
  }

  private placedFacts(appId: string): AgentFacts[] {
    const out: AgentFacts[] = [];
    for (const i of this.byApp.get(appId)?.values() ?? []) if (!isTerminal(i.state) && !i.killing) out.push(i.facts);
    return out;
  }

  private async handleOffers(offers: Offer[]): Promise<void> {
    const nowMs = this.deps.clock.nowMs();
    this.lastOfferMs = nowMs;
    let usedCache: Map<string, { cpus: number; mem: number; disk: number }> | undefined;
    const wanting = [...this.apps.values()].filter((a) => (this.wanted.get(a.id) ?? 0) > 0).sort((a, b) => (a.id < b.id ? -1 : 1));
    for (const offer of offers) {
      this.counters['marathon.offers.processed']!++;
      const facts = this.facts(offer);
      this.noteAgent(offer, facts, () => {
        usedCache ??= this.usedPerAgent();
        return usedCache;
      });
      let remaining = offer.resources;
      const launches: TaskInfo[] = [];
      const created: Instance[] = [];
      for (const app of wanting) {
        let want = this.wanted.get(app.id) ?? 0;
        if (want <= 0) continue;
        const b = this.backoff.get(app.id);
        if (b && b.delayUntilMs > nowMs) continue;
        let usedAny = false;
        while (want > 0) {
          const m = matchOffer(app, remaining, facts, this.placedFacts(app.id), this.config.role, this.config.defaultAcceptedResourceRoles);
          if (!m.ok) {
            if (!usedAny) this.recordOutcome(app.id, m.reason, m.detail, offer);
            break;
          }
          usedAny = true;
          remaining = subtract(remaining, m.resources);
          const inst = this.newInstance(app, offer, facts, m.hostPorts);
          this.addInstance(inst);
          created.push(inst);
          launches.push(this.taskInfo(app, inst, offer, m.resources, m.mappingHostPorts));
          want--;
        }
        if (usedAny) this.recordOutcome(app.id, 'used');
        this.wanted.set(app.id, want);
      }
      if (launches.length === 0) {
        this.counters['marathon.offers.declined']!++;
        await this.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: this.config.declineRefuseSeconds } } });
        continue;
      }
      // Stored before the master hears of them: a restart finds every task it may have launched.
      await this.deps.store.batch(created.map((i) => ({ type: 'put', key: K.task(i.taskId), value: JSON.stringify(i) })));
      this.counters['marathon.tasks.launched']! += launches.length;
      const r = await this.call({
        type: 'ACCEPT',
        accept: { offer_ids: [offer.id], operations: [{ type: 'LAUNCH', launch: { task_infos: launches } }], filters: { refuse_seconds: 1 } },
      });
      if (r.status >= 300) {
        // The launch never reached the master: forget these tasks and try again on a later offer.
        for (const i of created) this.removeInstance(i);
        await this.deps.store.batch(created.map((i) => ({ type: 'delete', key: K.task(i.taskId) })));
      }
    }
    this.scheduleConverge();
  }

  private newInstance(app: App, offer: Offer, facts: AgentFacts, hostPorts: number[]): Instance {
    const uuid = this.deps.random.uuid();
    return {
      taskId: `${safePath(app.id)}.instance-${uuid}._app.1`,
      appId: app.id,
      agentId: offer.agent_id.value,
      host: offer.hostname,
      facts,
      ports: hostPorts,
      servicePorts: networkMode(app) === 'host' ? (app.portDefinitions ?? []).map((p) => p.port) : portMappingsOf(app).map((pm) => pm.servicePort ?? 0),
      state: 'TASK_STAGING',
      version: app.version,
      configVersion: app.versionInfo.lastConfigChangeAt,
      stagedAt: this.now(),
    };
  }

  private taskInfo(app: App, inst: Instance, offer: Offer, resources: TaskInfo['resources'], mappingHostPorts: (number | null)[] = []): TaskInfo {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(app.env)) if (typeof v === 'string') env[k] = v;
    const pds = app.portDefinitions ?? [];
    // Not on the host network: ports come from container.portMappings (networks.ts).
    const hostNetwork = networkMode(app) === 'host';
    if (!hostNetwork) Object.assign(env, portMappingEnv(portMappingsOf(app), mappingHostPorts));
    else
      inst.ports.forEach((p, i) => {
        env[`PORT${i}`] = String(p);
        const name = pds[i]?.name;
        if (name) env[`PORT_${name.toUpperCase().replace(/-/g, '_')}`] = String(p);
        const declared = pds[i]?.port;
        if (declared) env[`PORT_${declared}`] = String(p);
      });
    if (hostNetwork && inst.ports.length > 0) {
      env.PORT = String(inst.ports[0]);
      env.PORTS = inst.ports.join(',');
    }
    Object.assign(env, {
      HOST: offer.hostname,
      MARATHON_APP_ID: app.id,
      MARATHON_APP_VERSION: app.version,
      MARATHON_APP_RESOURCE_CPUS: String(app.cpus),
      MARATHON_APP_RESOURCE_MEM: String(app.mem),
      MARATHON_APP_RESOURCE_DISK: String(app.disk),
      MARATHON_APP_RESOURCE_GPUS: String(app.gpus),
      MARATHON_APP_LABELS: Object.keys(app.labels).join(' '),
      MESOS_TASK_ID: inst.taskId,
    });
    for (const [k, v] of Object.entries(app.labels)) env[`MARATHON_APP_LABEL_${k.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`] = v;
    const command: Json = {
      environment: { variables: Object.entries(env).map(([name, value]) => ({ name, value })) },
      uris: app.fetch.map((f) => ({
        value: f.uri,
        extract: f.extract,
        executable: f.executable,
        cache: f.cache,
        ...(f.destPath ? { output_file: f.destPath } : {}),
      })),
    };
    if (app.user) command.user = app.user;
    if (app.cmd !== undefined) {
      command.shell = true;
      command.value = app.cmd;
    } else if (app.args) {
      command.shell = false;
      if (app.args[0] !== undefined) command.value = app.args[0];
      command.arguments = app.args;
    } else command.shell = false;
    const ti: TaskInfo = {
      name: taskName(app.id),
      task_id: { value: inst.taskId },
      agent_id: offer.agent_id,
      ...(resources ? { resources } : {}),
      command: command as TaskInfo['command'],
      labels: { labels: Object.entries(app.labels).map(([key, value]) => ({ key, value })) },
      discovery: {
        visibility: 'FRAMEWORK',
        name: taskName(app.id),
        ports: {
          ports: hostNetwork
            ? inst.ports.map((p, i) => ({
                number: p,
                protocol: (pds[i]?.protocol ?? 'tcp').split(',')[0],
                ...(pds[i]?.name ? { name: pds[i]?.name } : {}),
                ...portLabels(pds[i]?.labels ?? app.container?.portMappings?.[i]?.labels),
              }))
            : discoveryPortsOfMappings(app, mappingHostPorts),
        },
      },
    };
    const image = app.container?.docker?.image;
    if (image) ti.container = { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: image } } } };
    // The agent attaches the task to these networks (CNI) and maps its host ports into it.
    const networkInfos = taskNetworkInfos(app, mappingHostPorts);
    if (networkInfos) ti.container = { ...(ti.container ?? { type: 'MESOS' }), network_infos: networkInfos };
    if (app.taskKillGracePeriodSeconds !== undefined) ti.kill_policy = { grace_period: { nanoseconds: Math.round(app.taskKillGracePeriodSeconds * 1e9) } };
    // Mesos-level checks run on the agent, which reports TaskStatus.healthy (at most one per app).
    const hc = app.healthChecks.find(isAgentHealthCheck);
    const mhc = hc ? mesosHealthCheck(hc, inst.ports) : undefined;
    if (mhc) ti.health_check = mhc;
    return ti;
  }

  // ---------------------------------------------------------------------------------------------
  // Status updates

  private async handleUpdate(status: TaskStatus): Promise<void> {
    const taskId = status.task_id.value;
    const inst = this.instances.get(taskId);
    const ack = async () => {
      if (status.uuid && status.agent_id) {
        await this.call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: status.agent_id, task_id: status.task_id, uuid: status.uuid } });
      }
    };
    if (!inst) {
      // A task we do not know (launched before a lost write, or by an older incarnation): kill it.
      if (!isTerminal(status.state)) {
        this.log('warn', `marathon: unknown task ${taskId} is ${status.state}; killing it`);
        await this.call({ type: 'KILL', kill: { task_id: status.task_id, ...(status.agent_id ? { agent_id: status.agent_id } : {}) } });
      }
      await ack();
      return;
    }
    const prev = inst.state;
    const app0 = this.apps.get(inst.appId);
    const healthBefore = app0 ? this.healthOf(app0, inst) : undefined;
    inst.state = status.state;
    if (status.healthy !== undefined) inst.healthy = status.healthy;
    // Named network_infos are container networks: the task's own IP (the agent's IP otherwise).
    const containerIps = (status.container_status?.network_infos ?? [])
      .filter((n) => n.name)
      .flatMap((n) => (n.ip_addresses ?? []).map((a) => a.ip_address ?? ''));
    if (containerIps.some(Boolean)) inst.containerIps = containerIps.filter(Boolean);
    if (status.state === 'TASK_RUNNING' && !inst.startedAt) inst.startedAt = this.now();
    if (status.state === 'TASK_UNREACHABLE') inst.unreachableSinceMs ??= this.deps.clock.nowMs();
    else {
      delete inst.unreachableSinceMs;
      inst.inactive = false;
    }
    const ops: StoreOp[] = [];
    // TASK_UNKNOWN: the master has never heard of it (lost before it was stored): as good as gone.
    if (isTerminal(status.state) || status.state === 'TASK_UNKNOWN') {
      this.removeInstance(inst);
      ops.push({ type: 'delete', key: K.task(taskId) });
      const app = this.apps.get(inst.appId);
      // A kill we did not ask for counts as a failure when the agent's health check caused it.
      if (!inst.killing && app && (status.state !== 'TASK_KILLED' || status.healthy === false)) {
        this.counters['marathon.tasks.failed']!++;
        const b = this.backoff.get(app.id) ?? { failures: 0, delayUntilMs: 0, sinceMs: this.deps.clock.nowMs() };
        b.failures++;
        b.delayUntilMs = this.deps.clock.nowMs() + backoffDelayMs(app, b.failures);
        this.backoff.set(app.id, b);
        this.lastFailure.set(app.id, {
          appId: app.id,
          host: inst.host,
          message: status.message ?? '',
          state: status.state,
          taskId,
          timestamp: this.now(),
          version: inst.version,
          slaveId: inst.agentId,
        });
        if (this.lastFailure.size > 10_000) this.lastFailure.delete(this.lastFailure.keys().next().value as string);
        // Kept across restarts, as Marathon's TaskFailureRepository does.
        ops.push({ type: 'put', key: K.failure(app.id), value: JSON.stringify(this.lastFailure.get(app.id)) });
      }
      if (inst.killing) this.counters['marathon.tasks.killed']!++;
    } else if (prev !== status.state || status.healthy !== undefined) {
      ops.push({ type: 'put', key: K.task(taskId), value: JSON.stringify(inst) });
    }
    if (ops.length > 0) await this.deps.store.batch(ops);
    await ack();
    if (app0 && status.healthy !== undefined && !isTerminal(status.state)) this.noteHealthChange(app0, inst, healthBefore);
    if (prev !== status.state) {
      this.emit({
        eventType: 'status_update_event',
        slaveId: inst.agentId,
        taskId,
        taskStatus: status.state,
        message: status.message ?? '',
        appId: inst.appId,
        host: inst.host,
        ipAddresses: (inst.containerIps ?? [inst.host]).map((ipAddress) => ({ ipAddress, protocol: 'IPv4' })),
        ports: inst.ports,
        version: inst.version,
      });
      const condition = conditionOf(status.state);
      this.emit({
        eventType: 'instance_changed_event',
        instanceId: taskId.replace(/\._app\.\d+$/, ''),
        condition,
        runSpecId: inst.appId,
        agentId: inst.agentId,
        host: inst.host,
        runSpecVersion: inst.version,
      });
    }
    this.scheduleConverge(inst.appId);
  }

  // ---------------------------------------------------------------------------------------------
  // The control loop

  private tick(): void {
    if (this.stopped) return;
    const nowMs = this.deps.clock.nowMs();
    if (this.connected && nowMs - this.lastReconcileMs >= this.config.reconcileIntervalMs) void this.reconcileWithMaster();
    for (const i of this.instances.values()) {
      if (i.killing && nowMs - (i.killRequestedMs ?? 0) >= this.config.killRetryMs) void this.kill(i);
    }
    this.runHealthChecks(nowMs);
    this.runReadinessChecks(nowMs);
    this.converge();
  }

  /**
   * unreachableStrategy: an unreachable task becomes inactive (replaced) after
   * inactiveAfterSeconds and is forgotten (expunged, killed if it comes back) after
   * expungeAfterSeconds (at least config.minExpungeMs), checked on every full pass. The
   * default {0, 0} replaces at the next pass and expunges after minExpungeMs: Marathon's
   * expunge job compares `unreachable since + expungeAfter` with now on each run, so 0 is not
   * "never". 'disabled' waits.
   */
  private expireUnreachable(nowMs: number): void {
    const expunge: Instance[] = [];
    for (const i of this.instances.values()) {
      if (i.state !== 'TASK_UNREACHABLE' || i.unreachableSinceMs === undefined) continue;
      const s = this.apps.get(i.appId)?.unreachableStrategy ?? { inactiveAfterSeconds: 0, expungeAfterSeconds: 0 };
      if (s === 'disabled') continue;
      const away = nowMs - i.unreachableSinceMs;
      if (away >= s.inactiveAfterSeconds * 1000) i.inactive = true;
      if (away >= Math.max(s.expungeAfterSeconds * 1000, this.config.minExpungeMs)) expunge.push(i);
    }
    for (const i of expunge) {
      this.removeInstance(i);
      void this.deps.store.delete(K.task(i.taskId));
      this.emit({
        eventType: 'instance_changed_event',
        instanceId: i.taskId.replace(/\._app\.\d+$/, ''),
        condition: 'Gone',
        runSpecId: i.appId,
        agentId: i.agentId,
        host: i.host,
        runSpecVersion: i.version,
      });
    }
  }

  private checksOf(app: App): { hc: Record<string, any>; index: number }[] {
    if (!this.deps.prober) return [];
    return app.healthChecks.map((hc, index) => ({ hc, index })).filter(({ hc }) => SCHEDULER_HEALTH_PROTOCOLS.has(String(hc.protocol)));
  }

  /** Whether a task's health gates deployments: some check runs (on the agent or here). */
  private gated(app: App): boolean {
    return app.healthChecks.some(isAgentHealthCheck) || this.checksOf(app).length > 0;
  }

  /**
   * A task's health over every check that runs: false when one failed, true when all passed,
   * undefined while some has no result yet or the app has no check that runs.
   */
  healthOf(app: App, inst: Instance): boolean | undefined {
    const parts: (boolean | undefined)[] = [];
    if (app.healthChecks.some(isAgentHealthCheck)) parts.push(inst.healthy);
    if (this.checksOf(app).length > 0) {
      const states = this.health.get(inst.taskId) ?? [];
      parts.push(states.length > 0 && states.every((x) => x.alive === true) ? true : states.some((x) => x.alive === false) ? false : undefined);
    }
    if (parts.length === 0) return undefined;
    return parts.some((x) => x === false) ? false : parts.every((x) => x === true) ? true : undefined;
  }

  /** Whether a task passed its readiness checks (always, when none run). */
  private isReady(app: App, inst: Instance): boolean {
    if (app.readinessChecks.length === 0 || !this.deps.prober?.get) return true;
    return this.readiness.get(inst.taskId)?.ready === true;
  }

  private noteHealthChange(app: App, inst: Instance, before: boolean | undefined): void {
    const after = this.healthOf(app, inst);
    if (after === before) return;
    const instanceId = inst.taskId.replace(/\._app\.\d+$/, '');
    this.emit({ eventType: 'health_status_changed_event', appId: app.id, instanceId, version: inst.version, alive: after === true });
    this.emit({ eventType: 'instance_health_changed_event', instanceId, runSpecId: app.id, runSpecVersion: inst.version, healthy: after === true });
  }

  /** Starts the probes that are due; results arrive asynchronously and update `health`. */
  private runHealthChecks(nowMs: number): void {
    const prober = this.deps.prober;
    if (!prober) return;
    for (const [taskId] of this.health) if (!this.instances.has(taskId)) this.health.delete(taskId);
    for (const inst of this.instances.values()) {
      if (inst.state !== 'TASK_RUNNING' || inst.killing) continue;
      const app = this.apps.get(inst.appId);
      if (!app) continue;
      const checks = this.checksOf(app);
      if (checks.length === 0) continue;
      let states = this.health.get(inst.taskId);
      if (!states) {
        states = checks.map(() => ({ alive: undefined, consecutiveFailures: 0, nextProbeMs: nowMs, inFlight: false }));
        this.health.set(inst.taskId, states);
      }
      checks.forEach(({ hc }, k) => {
        const st = states[k] as HealthState;
        if (st.inFlight || nowMs < st.nextProbeMs) return;
        st.inFlight = true;
        st.nextProbeMs = nowMs + hc.intervalSeconds * 1000;
        const port = checkPort(hc, inst.ports);
        const timeoutMs = hc.timeoutSeconds * 1000;
        const proto = String(hc.protocol);
        const probe =
          port === undefined
            ? Promise.resolve({ ok: false, cause: 'no port for the health check' })
            : proto.endsWith('TCP')
              ? prober.tcp(inst.host, port, timeoutMs)
              : prober.http(inst.host, port, hc.path ?? '/', proto.endsWith('HTTPS'), timeoutMs, hc.ignoreHttp1xx === true);
        probe
          .catch((e: Error) => ({ ok: false, cause: e.message }))
          .then((r) => {
            st.inFlight = false;
            this.healthResult(inst.taskId, app.id, hc, st, r.ok, r.cause);
          });
      });
    }
  }

  /**
   * Readiness checks, as Marathon runs them: only while a deployment holds the app, on tasks of
   * the current config that run (and are healthy when health checks run), every intervalSeconds
   * until each check got one of httpStatusCodesForReady. A ready task is not probed again.
   */
  private runReadinessChecks(nowMs: number): void {
    const get = this.deps.prober?.get?.bind(this.deps.prober);
    for (const [taskId] of this.readiness) if (!this.instances.has(taskId)) this.readiness.delete(taskId);
    if (!get) return;
    const deploying = new Set<string>();
    for (const d of this.deployments.values()) for (const id of d.affectedApps) deploying.add(id);
    for (const appId of deploying) {
      const app = this.apps.get(appId);
      if (!app || app.readinessChecks.length === 0) continue;
      // Names line up with the task's host ports: portDefinitions, or the mappings that have one.
      const hostPorts = requestedHostPorts(app);
      const portNames =
        networkMode(app) === 'host'
          ? (app.portDefinitions ?? []).map((p) => p.name)
          : portMappingsOf(app)
              .filter((_, i) => hostPorts[i] !== null)
              .map((pm) => pm.name);
      for (const inst of this.byApp.get(appId)?.values() ?? []) {
        if (inst.state !== 'TASK_RUNNING' || inst.killing || inst.configVersion !== app.versionInfo.lastConfigChangeAt) continue;
        if (this.gated(app) && this.healthOf(app, inst) !== true) continue;
        let st = this.readiness.get(inst.taskId);
        if (!st) {
          const n = app.readinessChecks.length;
          st = { results: new Array(n).fill(undefined), nextProbeMs: new Array(n).fill(nowMs), inFlight: new Array(n).fill(false), ready: false };
          this.readiness.set(inst.taskId, st);
        }
        if (st.ready) continue;
        const state = st;
        app.readinessChecks.forEach((rc, k) => {
          if (state.inFlight[k] || nowMs < (state.nextProbeMs[k] ?? 0) || state.results[k]?.ready) return;
          state.inFlight[k] = true;
          state.nextProbeMs[k] = nowMs + rc.intervalSeconds * 1000;
          const port = readinessPort(rc, portNames, inst.ports);
          const answer =
            port === undefined
              ? Promise.resolve({ error: `no port named ${rc.portName}` })
              : get(inst.host, port, rc.path, rc.protocol === 'HTTPS', rc.timeoutSeconds * 1000);
          answer
            .catch((e: Error) => ({ error: e.message }))
            .then((a) => {
              state.inFlight[k] = false;
              if (!this.instances.has(inst.taskId)) return;
              const cut = 'body' in a ? { ...a, body: a.body.slice(0, MAX_READINESS_BODY_CHARS) } : a;
              state.results[k] = readinessOutcome(rc, inst.taskId, cut);
              const wasReady = state.ready;
              state.ready = state.results.every((r) => r?.ready === true);
              if (state.ready && !wasReady) this.scheduleConverge(inst.appId);
            });
        });
      }
    }
  }

  /** Readiness results of an app's tasks still being checked or checked during a deployment. */
  readinessResults(appId: string): Json[] {
    const out: Json[] = [];
    if (this.locking([appId]).length === 0) return out;
    for (const inst of this.byApp.get(appId)?.values() ?? []) {
      for (const r of this.readiness.get(inst.taskId)?.results ?? []) if (r) out.push({ ...r });
    }
    return out;
  }

  private healthResult(taskId: string, appId: string, hc: Record<string, any>, st: HealthState, ok: boolean, cause: string | undefined): void {
    const inst = this.instances.get(taskId);
    if (!inst || inst.killing) return;
    const now = this.now();
    const nowMs = this.deps.clock.nowMs();
    const app = this.apps.get(appId);
    if (!app) return;
    const before = this.healthOf(app, inst);
    if (ok) {
      st.alive = true;
      st.consecutiveFailures = 0;
      st.lastSuccess = now;
      st.firstSuccess ??= now;
    } else {
      const started = inst.startedAt ? (parseIso(inst.startedAt) ?? nowMs) : nowMs;
      // Failures in the grace period before the first success do not count.
      if (!st.firstSuccess && nowMs - started < hc.gracePeriodSeconds * 1000) return;
      st.alive = false;
      st.consecutiveFailures++;
      st.lastFailure = now;
      st.lastFailureCause = cause ?? 'failed';
      this.emit({ eventType: 'failed_health_check_event', appId, taskId, instanceId: taskId.replace(/\._app\.\d+$/, ''), healthCheck: hc });
    }
    this.noteHealthChange(app, inst, before);
    this.dirty.add(appId);
    if (!ok && hc.maxConsecutiveFailures > 0 && st.consecutiveFailures >= hc.maxConsecutiveFailures) {
      this.log('info', `marathon: killing unhealthy task ${taskId} (${st.consecutiveFailures} failures: ${st.lastFailureCause})`);
      this.emit({
        eventType: 'unhealthy_instance_kill_event',
        appId,
        taskId,
        instanceId: taskId.replace(/\._app\.\d+$/, ''),
        version: inst.version,
        reason: st.lastFailureCause,
        host: inst.host,
        slaveId: inst.agentId,
      });
      void this.kill(inst);
    }
    this.scheduleConverge();
  }

  /** Live tasks of an app: launched, not terminal, not being killed, not inactive (unreachable). */
  tasksOf(appId: string): Instance[] {
    return [...(this.byApp.get(appId)?.values() ?? [])];
  }

  /**
   * Compares apps with their tasks and decides: launches wanted (served from offers), kills,
   * deployment progress, suppress/revive. Idempotent. `full` looks at every app (each tick);
   * otherwise only the apps touched since the last pass (a status update, a launch, an API call),
   * so that a burst of updates at 100,000 tasks does not cost a pass over all of them each.
   */
  converge(full = true): void {
    if (this.stopped) return;
    const nowMs = this.deps.clock.nowMs();
    if (full) this.expireUnreachable(nowMs);
    // A touched app's deployments are looked at whole: a dependency done may unblock the others.
    const deployments = full ? [...this.deployments.values()] : [...this.deployments.values()].filter((d) => d.affectedApps.some((a) => this.dirty.has(a)));
    if (!full) for (const d of deployments) for (const a of d.affectedApps) this.dirty.add(a);
    const appIds = full ? [...this.apps.keys()] : [...this.dirty].filter((id) => this.apps.has(id));
    const orphans = full ? [...this.byApp.keys()].filter((id) => !this.apps.has(id)) : [...this.dirty].filter((id) => !this.apps.has(id));
    this.dirty.clear();
    const blocked = this.blockedByEarlierSteps(deployments);
    for (const appId of appIds) {
      const app = this.apps.get(appId) as App;
      if (blocked.has(app.id)) {
        this.wanted.set(app.id, 0);
        continue;
      }
      const live = this.tasksOf(app.id).filter((i) => !i.killing && !i.inactive);
      const fresh = live.filter((i) => i.configVersion === app.versionInfo.lastConfigChangeAt);
      const old = live.filter((i) => i.configVersion !== app.versionInfo.lastConfigChangeAt);
      const gated = this.gated(app);
      const healthy = (i: Instance) => {
        if (i.state !== 'TASK_RUNNING') return false;
        const h = this.healthOf(app, i);
        return h !== false && (!gated || h === true);
      };
      // A new task counts once it is healthy and ready; old ones were ready when they started.
      const counts = (i: Instance) => healthy(i) && this.isReady(app, i);
      const step = rollingStep({
        instances: app.instances,
        old: old.length,
        fresh: fresh.length,
        freshHealthy: fresh.filter(counts).length,
        oldHealthy: old.filter(healthy).length,
        minimumHealthCapacity: app.upgradeStrategy.minimumHealthCapacity,
        maximumOverCapacity: app.upgradeStrategy.maximumOverCapacity,
      });
      // Old tasks: the ones not running go first, then the oldest.
      const oldOrder = [...old].sort((a, b) => Number(healthy(a)) - Number(healthy(b)) || (a.stagedAt < b.stagedAt ? -1 : 1));
      for (const i of oldOrder.slice(0, step.killOld)) void this.kill(i);
      const freshOrder = [...fresh].sort((a, b) => (a.stagedAt < b.stagedAt ? -1 : 1));
      if (app.killSelection === 'YOUNGEST_FIRST') freshOrder.reverse();
      for (const i of freshOrder.slice(0, step.killFresh)) void this.kill(i);
      this.wanted.set(app.id, step.start);
      if (step.start > 0) {
        if (!this.waitingSince.has(app.id)) this.waitingSince.set(app.id, nowMs);
      } else {
        this.waitingSince.delete(app.id);
        this.stats.delete(app.id);
      }
    }
    for (const appId of orphans) {
      this.wanted.delete(appId);
      for (const i of this.tasksOf(appId)) if (!i.killing) void this.kill(i);
    }
    this.progressDeployments(deployments);
    let anyWanted = false;
    for (const [appId, n] of this.wanted) {
      if (n <= 0) continue;
      const b = this.backoff.get(appId);
      if (!b || b.delayUntilMs <= nowMs) {
        anyWanted = true;
        break;
      }
    }
    if (this.connected) {
      if (anyWanted && this.suppressed) {
        const waitMs = this.lastReviveMs + this.config.minReviveIntervalMs - nowMs;
        if (waitMs <= 0) {
          this.suppressed = false;
          this.lastReviveMs = nowMs;
          void this.call({ type: 'REVIVE' });
        } else
          this.reviveTimer ??= this.deps.clock.setTimer(waitMs, () => {
            this.reviveTimer = undefined;
            this.converge(false);
          });
      } else if (!anyWanted && !this.suppressed) {
        this.suppressed = true;
        void this.call({ type: 'SUPPRESS' });
      } else if (anyWanted && nowMs - Math.max(this.lastReviveMs, this.lastOfferMs) >= REVIVE_REPEAT_MS) {
        // A REVIVE lost on the way (or overtaken by an older SUPPRESS) leaves the master
        // suppressing us for good: with demand and no offer for this long, revive again.
        this.lastReviveMs = nowMs;
        void this.call({ type: 'REVIVE' });
      }
    }
  }

  /**
   * Apps whose action sits in a later step of a deployment than its current one: they wait
   * (dependencies start first). The current step is the first with an app not yet done.
   */
  private blockedByEarlierSteps(deployments: Deployment[]): Set<string> {
    const blocked = new Set<string>();
    for (const d of deployments) {
      if (d.steps.length < 2) continue;
      let current = d.steps.length;
      for (let s = 0; s < d.steps.length; s++) {
        if (!(d.steps[s] as DeploymentStep).actions.every((a) => this.appDone(a.app, d.target[a.app] ?? null))) {
          current = s;
          break;
        }
      }
      const active = new Set((d.steps[current]?.actions ?? []).map((a) => a.app));
      for (const step of d.steps.slice(current + 1)) for (const a of step.actions) if (!active.has(a.app)) blocked.add(a.app);
    }
    return blocked;
  }

  private async kill(i: Instance): Promise<void> {
    this.dirty.add(i.appId);
    const first = !i.killing;
    i.killing = true;
    i.killRequestedMs = this.deps.clock.nowMs();
    if (first) await this.deps.store.put(K.task(i.taskId), JSON.stringify(i));
    await this.call({ type: 'KILL', kill: { task_id: { value: i.taskId }, agent_id: { value: i.agentId } } });
  }

  /** Whether an app has reached its target: only current-config tasks, all running and healthy. */
  private appDone(appId: string, target: App | null): boolean {
    const tasks = this.tasksOf(appId);
    if (!target) return tasks.length === 0;
    const app = this.apps.get(appId);
    if (!app) return false;
    const live = tasks.filter((i) => !i.inactive);
    if (live.some((i) => i.killing || i.configVersion !== app.versionInfo.lastConfigChangeAt)) return false;
    const gated = this.gated(app);
    return (
      live.length === app.instances &&
      live.every((i) => {
        const h = this.healthOf(app, i);
        return i.state === 'TASK_RUNNING' && (gated ? h === true : h !== false) && this.isReady(app, i);
      })
    );
  }

  private progressDeployments(deployments: Deployment[]): void {
    for (const d of deployments) {
      if (!this.deployments.has(d.id)) continue;
      const done = d.affectedApps.every((id) => this.appDone(id, d.target[id] ?? null));
      if (!done) continue;
      this.deployments.delete(d.id);
      void this.deps.store.delete(K.deployment(d.id));
      this.counters['marathon.deployments.succeeded']!++;
      for (const s of d.steps) this.emit({ eventType: 'deployment_step_success', plan: this.planJson(d), currentStep: s });
      this.emit({ eventType: 'deployment_success', id: d.id, plan: this.planJson(d) });
      for (const id of d.affectedApps) if (!d.target[id]) this.emit({ eventType: 'app_terminated_event', appId: id });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Operations (what the REST API calls)

  /** Deployments that lock any of these apps. */
  private locking(appIds: string[]): Deployment[] {
    return [...this.deployments.values()].filter((d) => d.affectedApps.some((a) => appIds.includes(a)));
  }

  /**
   * Applies a change of app definitions (null = remove) as one deployment. Returns 409 when
   * another deployment holds one of the apps, unless force (which cancels it, no rollback).
   */
  async deploy(
    changes: Map<string, App | null>,
    force: boolean,
    groupChanges: Map<string, GroupMeta | null> = new Map(),
    groupId = '/',
  ): Promise<Outcome<DeploymentResult>> {
    const ids = [...changes.keys()];
    const locks = this.locking(ids);
    if (locks.length > 0 && !force) {
      return {
        ok: false,
        error: {
          status: 409,
          message: `App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/${locks[0]?.id}'.`,
          deployments: locks.map((d) => ({ id: d.id })),
        },
      };
    }
    const version = this.now();
    const ops: StoreOp[] = [];
    for (const d of locks) {
      // A forced change takes over the cancelled deployment's other apps too.
      this.deployments.delete(d.id);
      ops.push({ type: 'delete', key: K.deployment(d.id) });
    }
    const current = new Map<string, App>();
    const target = new Map<string, App>();
    const original: Record<string, App | null> = {};
    const targets: Record<string, App | null> = {};
    // App versions a kept group snapshot refers to stay (a group rollback may need them).
    for (const [id, next] of changes) {
      const before = this.apps.get(id);
      if (before) current.set(id, before);
      original[id] = before ?? null;
      targets[id] = next;
      if (next) {
        target.set(id, next);
        this.apps.set(id, next);
        ops.push({ type: 'put', key: K.app(id), value: JSON.stringify(next) });
        ops.push({ type: 'put', key: K.version(id, next.version), value: JSON.stringify(next) });
        if (!before || before.versionInfo.lastConfigChangeAt !== next.versionInfo.lastConfigChangeAt) this.backoff.delete(id);
      } else if (before) {
        this.apps.delete(id);
        this.backoff.delete(id);
        this.lastFailure.delete(id);
        ops.push({ type: 'delete', key: K.app(id) });
        ops.push({ type: 'delete', key: K.failure(id) });
        for (const e of await this.deps.store.list(K.versions(id)))
          if (!this.history.refersTo(id, e.key.slice(K.versions(id).length))) ops.push({ type: 'delete', key: e.key });
      }
    }
    ops.push(...this.applyGroupChanges(changes, groupChanges, version));
    if (changes.size === 0) {
      // Only group settings changed: nothing to deploy.
      await this.deps.store.batch(ops);
      this.emit({ eventType: 'group_change_success', groupId, version });
      return { ok: true, value: { deploymentId: this.deps.random.uuid(), version } };
    }
    const steps = this.plan(current, target);
    const d: Deployment = { id: this.deps.random.uuid(), version, affectedApps: ids, steps, original, target: targets };
    this.deployments.set(d.id, d);
    ops.push({ type: 'put', key: K.deployment(d.id), value: JSON.stringify(d) });
    await this.deps.store.batch(ops);
    await this.pruneVersions(ids);
    this.counters['marathon.deployments.started']!++;
    this.emit({ eventType: 'group_change_success', groupId, version });
    this.emit({ eventType: 'deployment_info', plan: this.planJson(d), currentStep: steps[0] ?? { actions: [] } });
    for (const id of ids) this.dirty.add(id);
    for (const l of locks) for (const id of l.affectedApps) this.dirty.add(id);
    this.converge(false);
    return { ok: true, value: { deploymentId: d.id, version } };
  }

  /**
   * The deployment plan, with dependencies as Marathon reads them: an app depends on the apps it
   * names, on every app under a group it names, and on what its enclosing groups depend on.
   */
  private plan(current: Map<string, App>, target: Map<string, App>, groups: Map<string, GroupMeta> = this.groups): DeploymentStep[] {
    const all = new Map<string, App>([...this.apps, ...target]);
    const expand = (dep: string): string[] => {
      if (all.has(dep)) return [dep];
      const prefix = `${dep}/`;
      return [...all.keys()].filter((id) => id.startsWith(prefix));
    };
    const withDeps = (a: App): App => {
      const deps = new Set<string>();
      for (const d of a.dependencies) for (const x of expand(d)) deps.add(x);
      for (let g = parentOf(a.id); g !== '/'; g = parentOf(g)) for (const d of groups.get(g)?.dependencies ?? []) for (const x of expand(d)) deps.add(x);
      deps.delete(a.id);
      return deps.size === a.dependencies.length && a.dependencies.every((d) => deps.has(d)) ? a : { ...a, dependencies: [...deps].sort() };
    };
    const map = (m: Map<string, App>) => new Map([...m].map(([id, a]) => [id, withDeps(a)]));
    return planDeployment(map(current), map(target));
  }

  private async pruneVersions(ids: string[]): Promise<void> {
    for (const id of ids) {
      const vs = await this.deps.store.list(K.versions(id));
      const extra = vs.length - this.config.maxVersionsPerApp;
      const old = vs.slice(0, Math.max(0, extra)).filter((e) => !this.history.refersTo(id, e.key.slice(K.versions(id).length)));
      if (old.length > 0) await this.deps.store.batch(old.map((e) => ({ type: 'delete' as const, key: e.key })));
    }
  }

  /** Validates a definition and fills in server fields relative to the current version. */
  prepare(raw: unknown, before: App | undefined, groups: Map<string, GroupMeta> = this.groups): Outcome<App> {
    const now = this.now();
    const v = validateApp(raw, now);
    if (!v.ok) return { ok: false, error: { status: 422, message: 'Object is not valid', details: v.details } };
    const app = v.app;
    // The tree: an app's id is no group's, and no app encloses it.
    const clash = groups.has(app.id) ? app.id : ancestorsOf(app.id).find((g) => this.apps.has(g));
    if (clash !== undefined) {
      const details = [
        {
          path: '/id',
          errors: [clash === app.id ? `Groups and Applications may not have the same identifier: ${app.id}` : `${clash} is an app, it cannot hold ${app.id}`],
        },
      ];
      return { ok: false, error: { status: 422, message: 'Object is not valid', details } };
    }
    // Roles: the framework's role, or the top-level group's name (its only choice under enforceRole).
    const segments = app.id.split('/').filter(Boolean);
    const top = segments.length > 1 ? (segments[0] as string) : undefined;
    const enforced = top !== undefined && groups.get(`/${top}`)?.enforceRole === true;
    const roles = enforced ? [top as string] : [this.config.role, ...(top ? [top] : [])];
    if (app.role !== undefined && !roles.includes(app.role)) {
      const details = [{ path: '/role', errors: [`got ${JSON.stringify(app.role)}, expected one of: [${roles.join(', ')}]`] }];
      return { ok: false, error: { status: 422, message: 'Object is not valid', details } };
    }
    if (app.role === undefined && enforced) app.role = top;
    this.assignServicePorts(app, before);
    this.assignMappingServicePorts(app, before);
    if (before) {
      const action = appAction(before, { ...app, versionInfo: before.versionInfo });
      app.versionInfo = {
        lastConfigChangeAt: action === 'RestartApplication' ? now : before.versionInfo.lastConfigChangeAt,
        lastScalingAt: action === 'ScaleApplication' || action === 'RestartApplication' ? now : before.versionInfo.lastScalingAt,
      };
    }
    return { ok: true, value: app };
  }

  /** The same for portMappings' servicePort (missing or 0) of apps not on the host network. */
  private assignMappingServicePorts(app: App, before: App | undefined): void {
    const pms = app.container?.portMappings;
    if (networkMode(app) === 'host' || !Array.isArray(pms)) return;
    const used = new Set<number>();
    for (const a of this.apps.values()) {
      if (a.id === app.id) continue;
      for (const p of a.portDefinitions ?? []) used.add(p.port);
      for (const pm of (a.container?.portMappings ?? []) as Json[]) if (pm?.servicePort) used.add(pm.servicePort);
    }
    for (const pm of pms as Json[]) if (pm?.servicePort) used.add(pm.servicePort);
    let next = 10000;
    pms.forEach((pm: Json, i: number) => {
      if (!pm || typeof pm !== 'object' || (pm.servicePort ?? 0) !== 0) return;
      const keep = before?.container?.portMappings?.[i]?.servicePort;
      if (keep && !pms.some((q: Json) => q?.servicePort === keep)) {
        pm.servicePort = keep;
        return;
      }
      while (used.has(next) && next < 20000) next++;
      pm.servicePort = next;
      used.add(next);
    });
  }

  /** Port 0 gets a cluster-unique service port from [10000, 20000], kept across updates. */
  private assignServicePorts(app: App, before: App | undefined): void {
    if (!app.portDefinitions || app.requirePorts) return;
    const used = new Set<number>();
    for (const a of this.apps.values()) if (a.id !== app.id) for (const p of a.portDefinitions ?? []) used.add(p.port);
    for (const p of app.portDefinitions) used.add(p.port);
    let next = 10000;
    app.portDefinitions.forEach((p, i) => {
      if (p.port !== 0) return;
      const keep = before?.portDefinitions?.[i]?.port;
      if (keep && !app.portDefinitions?.some((q) => q.port === keep)) {
        p.port = keep;
        return;
      }
      while (used.has(next) && next < 20000) next++;
      p.port = next;
      used.add(next);
    });
  }

  async createApp(raw: unknown, force: boolean): Promise<Outcome<{ app: App; deploymentId: string }>> {
    const p = this.prepare(raw, undefined);
    if (!p.ok) return p;
    if (this.apps.has(p.value.id)) return { ok: false, error: { status: 409, message: `An app with id [${p.value.id}] already exists.` } };
    const r = await this.deploy(new Map([[p.value.id, p.value]]), force);
    if (!r.ok) return r;
    return { ok: true, value: { app: p.value, deploymentId: r.value.deploymentId } };
  }

  /** PUT (partial = merge onto the current definition) and PATCH. Creates when missing. */
  async updateApp(id: string, raw: unknown, opts: { force: boolean; partial: boolean }): Promise<Outcome<DeploymentResult & { app: App }>> {
    const appId = resolvePath(id);
    const before = this.apps.get(appId);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      return { ok: false, error: { status: 422, message: 'Object is not valid', details: [{ path: '/', errors: ['error.expected.jsobject'] }] } };
    }
    const body = { ...(raw as Json) };
    const merged = before && opts.partial ? mergeApp(before, body) : { ...body, id: appId };
    const p = this.prepare(merged, before);
    if (!p.ok) return p;
    const r = await this.deploy(new Map([[appId, p.value]]), opts.force);
    if (!r.ok) return r;
    return { ok: true, value: { ...r.value, app: p.value }, created: !before };
  }

  async deleteApp(id: string, force: boolean): Promise<Outcome<DeploymentResult>> {
    const appId = resolvePath(id);
    if (!this.apps.has(appId)) return notFound(appId);
    return this.deploy(new Map([[appId, null]]), force);
  }

  async restartApp(id: string, force: boolean): Promise<Outcome<DeploymentResult>> {
    const appId = resolvePath(id);
    const before = this.apps.get(appId);
    if (!before) return notFound(appId);
    const now = this.now();
    const next: App = { ...before, version: now, versionInfo: { lastConfigChangeAt: now, lastScalingAt: now } };
    return this.deploy(new Map([[appId, next]]), force);
  }

  /** Kills tasks; with scale the app's instances drop by the number killed (a deployment). */
  async killTasks(taskIds: string[], opts: { scale: boolean; wipe?: boolean; force?: boolean }): Promise<Outcome<{ tasks: Instance[] } | DeploymentResult>> {
    const found = taskIds.map((t) => this.instances.get(t)).filter((i): i is Instance => i !== undefined);
    if (opts.scale && opts.wipe) return { ok: false, error: { status: 400, message: 'You cannot use scale and wipe at the same time.' } };
    if (opts.wipe) {
      // wipe: kill and forget at once (Marathon expunges the instance); the app's scheduling
      // sees the gap now and launches a replacement; the TASK_KILLED that follows is for a task
      // Marathon no longer knows and is only acknowledged.
      for (const i of found) {
        this.removeInstance(i);
        this.health.delete(i.taskId);
        this.readiness.delete(i.taskId);
        await this.deps.store.delete(K.task(i.taskId));
        void this.call({ type: 'KILL', kill: { task_id: { value: i.taskId }, agent_id: { value: i.agentId } } });
        this.emit({
          eventType: 'instance_changed_event',
          instanceId: i.taskId.replace(/\._app\.\d+$/, ''),
          condition: 'Killed',
          runSpecId: i.appId,
          agentId: i.agentId,
          host: i.host,
          runSpecVersion: i.version,
        });
      }
      this.converge();
      return { ok: true, value: { tasks: found } };
    }
    if (opts.scale) {
      const perApp = new Map<string, number>();
      for (const i of found) perApp.set(i.appId, (perApp.get(i.appId) ?? 0) + 1);
      const changes = new Map<string, App | null>();
      const now = this.now();
      for (const [appId, n] of perApp) {
        const app = this.apps.get(appId);
        if (app)
          changes.set(appId, { ...app, instances: Math.max(0, app.instances - n), version: now, versionInfo: { ...app.versionInfo, lastScalingAt: now } });
      }
      // Mark first so that the scale-down kills exactly these, not others by killSelection.
      for (const i of found) void this.kill(i);
      const r = await this.deploy(changes, opts.force ?? true);
      return r;
    }
    for (const i of found) void this.kill(i);
    this.converge();
    return { ok: true, value: { tasks: found } };
  }

  /** DELETE /v2/deployments/{id}: roll back (a new deployment) or, with force, just stop it. */
  async cancelDeployment(id: string, force: boolean): Promise<Outcome<DeploymentResult | undefined>> {
    const d = this.deployments.get(id);
    if (!d) return { ok: false, error: { status: 404, message: `DeploymentPlan ${id} does not exist` } };
    this.deployments.delete(id);
    await this.deps.store.delete(K.deployment(id));
    this.emit({ eventType: 'deployment_failed', id, plan: this.planJson(d), reason: force ? 'cancelled' : 'rolled back' });
    if (force) return { ok: true, value: undefined };
    this.counters['marathon.deployments.rolled_back']!++;
    const changes = new Map<string, App | null>();
    const now = this.now();
    for (const appId of d.affectedApps) {
      const orig = d.original[appId] ?? null;
      changes.set(appId, orig ? { ...orig, version: now } : null);
    }
    return this.deploy(changes, true);
  }

  // ---------------------------------------------------------------------------------------------
  // Groups: stored objects (empty ones too) with their own version; every change of the tree
  // is kept as a snapshot (config.maxGroupVersions of them) for /versions and rollbacks.

  /** The group tree after a restart: `/` and every app's enclosing groups exist, with a version. */
  private async recoverGroups(): Promise<void> {
    const ops: StoreOp[] = [];
    const fix = (id: string, version: (id: string) => string) => {
      const g = this.groups.get(id);
      if (g?.version) return;
      const meta: GroupMeta = { id, dependencies: g?.dependencies ?? [], enforceRole: g?.enforceRole ?? false, version: version(id) };
      this.groups.set(id, meta);
      ops.push({ type: 'put', key: K.group(id), value: JSON.stringify(meta) });
    };
    const latest = (id: string) =>
      [...this.apps.values()]
        .filter((a) => isWithin(a.id, id))
        .map((a) => a.version)
        .sort()
        .pop() ?? this.now();
    for (const id of [...this.groups.keys()]) for (const g of [id, ...ancestorsOf(id)]) fix(g, latest);
    for (const a of this.apps.values()) for (const g of ancestorsOf(a.id)) fix(g, latest);
    fix('/', latest);
    if (this.history.snapshots.length === 0 && (this.apps.size > 0 || this.groups.size > 1)) {
      const snap = this.snapshotNow((this.groups.get('/') as GroupMeta).version);
      this.history.push(snap);
      ops.push({ type: 'put', key: K.groupVersion(snap.version), value: JSON.stringify(snap) });
    }
    if (ops.length > 0) await this.deps.store.batch(ops);
  }

  private snapshotNow(version: string): GroupSnapshot {
    return {
      version,
      groups: [...this.groups.values()].map((g) => ({ ...g, dependencies: [...g.dependencies] })),
      apps: [...this.apps.values()].map((a) => ({ id: a.id, version: a.version })),
    };
  }

  /**
   * Applies group changes (null: removed) made together with app changes: every changed group,
   * every group holding a changed app and their ancestors exist afterwards (unless removed) and
   * take `version`; then the tree is recorded as a snapshot and the oldest beyond
   * maxGroupVersions are dropped, with the versions of removed apps only they referred to.
   */
  private applyGroupChanges(apps: Map<string, App | null>, groups: Map<string, GroupMeta | null>, version: string): StoreOp[] {
    const ops: StoreOp[] = [];
    const touched = new Set<string>();
    for (const [id, meta] of groups) {
      if (meta) {
        this.groups.set(id, { ...meta });
        touched.add(id);
      } else if (id !== '/') {
        this.groups.delete(id);
        ops.push({ type: 'delete', key: K.group(id) });
        touched.add(ancestorsOf(id)[0] as string);
      }
    }
    for (const id of apps.keys()) touched.add(ancestorsOf(id)[0] as string);
    const bumped = new Set<string>();
    for (const t of touched) {
      for (const g of [t, ...ancestorsOf(t)]) {
        if (bumped.has(g) || (groups.get(g) === null && g !== '/')) continue;
        bumped.add(g);
        const meta = this.groups.get(g) ?? { id: g, dependencies: [], enforceRole: false, version };
        meta.version = version;
        this.groups.set(g, meta);
        ops.push({ type: 'put', key: K.group(g), value: JSON.stringify(meta) });
      }
    }
    const snap = this.snapshotNow(version);
    const { dropped, released } = this.history.push(snap);
    ops.push({ type: 'put', key: K.groupVersion(version), value: JSON.stringify(snap) });
    for (const s of dropped) if (s.version !== version) ops.push({ type: 'delete', key: K.groupVersion(s.version) });
    // App versions only dropped snapshots referred to go with them once the app is gone
    // (a live app's old versions are pruned by maxVersionsPerApp).
    for (const a of released) if (!this.apps.has(a.id)) ops.push({ type: 'delete', key: K.version(a.id, a.version) });
    return ops;
  }

  appsUnder(gid: string): App[] {
    return [...this.apps.values()].filter((a) => isBelow(a.id, gid));
  }

  /**
   * GroupInfo of `gid` (undefined when there is no such group): its apps through `embedApps`,
   * sub-groups recursively; `apps` and `groups` only when embedded, as Marathon answers.
   */
  groupJson(gid: string, embedApps: (a: App) => Json, embed: GroupEmbed = { apps: true, groups: true, pods: true }): Json | undefined {
    return groupInfo(gid, [...this.groups.values()], [...this.apps.values()], embedApps, embed);
  }

  /** GET /v2/groups/{id}/versions: newest first; undefined for an unknown group. */
  groupVersionList(gid: string): string[] | undefined {
    if (!this.groups.has(gid)) return undefined;
    return groupVersions(this.history.snapshots, gid);
  }

  /** GET /v2/groups/{id}/versions/{v}: the group as it was then, apps as their definitions. */
  async groupAtVersion(gid: string, version: string, embed: GroupEmbed): Promise<Json | undefined> {
    const snap = snapshotOf(this.history.snapshots, gid, version);
    if (!snap) return undefined;
    const apps = await this.snapshotApps(snap, gid);
    if (!apps.ok) return undefined;
    return groupInfo(gid, snap.groups, apps.value, (a) => a, embed);
  }

  /** The definitions of the apps under `gid` in a snapshot (from the stored app versions). */
  private async snapshotApps(snap: GroupSnapshot, gid: string): Promise<Outcome<App[]>> {
    const out: App[] = [];
    for (const ref of snap.apps) {
      if (!isBelow(ref.id, gid)) continue;
      const e = await this.deps.store.get(K.version(ref.id, ref.version));
      if (!e) return { ok: false, error: { status: 404, message: `App '${ref.id}' does not exist in version ${ref.version}` } };
      out.push(JSON.parse(e.value) as App);
    }
    return { ok: true, value: out };
  }

  /**
   * POST/PUT /v2/groups as Marathon's GroupUpdate: with `version`, a rollback of the group to
   * that snapshot; else with `scaleBy`, every app below scaled; else the group is created or
   * updated: `apps` (ids relative to the group) and nested `groups` given replace the group's
   * own (apps and sub-groups left out are removed), `dependencies` and `enforceRole` are set.
   * One deployment for all; a 422 lists every bad field by its path in the body.
   */
  async updateGroup(
    gid: string,
    body: Json,
    opts: { force: boolean; create: boolean; dryRun?: boolean },
  ): Promise<Outcome<DeploymentResult | { steps: DeploymentStep[] }>> {
    const invalid = (details: FieldError[]): { ok: false; error: MarathonError } => ({
      ok: false,
      error: { status: 422, message: 'Object is not valid', details },
    });
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return invalid([{ path: '/', errors: ['error.expected.jsobject'] }]);
    const idError = pathError(gid);
    if (gid !== '/' && idError) return invalid([{ path: '/id', errors: [idError] }]);
    if (opts.create && this.groups.has(gid))
      return { ok: false, error: { status: 409, message: `Group ${gid} is already created. Use PUT to change this group.` } };
    if (this.apps.has(gid)) return { ok: false, error: { status: 409, message: `An app with the path ${gid} already exists.` } };
    const now = this.now();
    const finish = (changes: Map<string, App | null>, groupChanges: Map<string, GroupMeta | null>, metas: Map<string, GroupMeta>) => {
      if (!opts.dryRun) return this.deploy(changes, opts.force, groupChanges, gid);
      const current = new Map<string, App>();
      const target = new Map<string, App>();
      for (const [id, next] of changes) {
        const before = this.apps.get(id);
        if (before) current.set(id, before);
        if (next) target.set(id, next);
      }
      return Promise.resolve({ ok: true as const, value: { steps: this.plan(current, target, metas) } });
    };
    if (body.version !== undefined) {
      if (typeof body.version !== 'string') return invalid([{ path: '/version', errors: ['error.expected.jsstring'] }]);
      return this.rollbackGroup(gid, body.version, now, finish);
    }
    if (body.scaleBy !== undefined) {
      if (typeof body.scaleBy !== 'number' || !Number.isFinite(body.scaleBy) || body.scaleBy < 0)
        return invalid([{ path: '/scaleBy', errors: ['error.expected.non-negative number'] }]);
      if (!this.groups.has(gid)) return unknownGroup(gid);
      const changes = new Map<string, App | null>();
      for (const a of this.appsUnder(gid)) {
        changes.set(a.id, { ...a, instances: Math.ceil(a.instances * body.scaleBy), version: now, versionInfo: { ...a.versionInfo, lastScalingAt: now } });
      }
      return finish(changes, new Map(), this.groups);
    }
    const details: FieldError[] = [];
    const changes = new Map<string, App | null>();
    const groupChanges = new Map<string, GroupMeta | null>();
    // Settings first: an app's role is checked against its top-level group's enforceRole.
    const metas = new Map(this.groups);
    const appsAt = new Map<string, { raw: Json; path: string }>();
    const groupPaths = new Map<string, string>();
    const walk = (g: Json, gPath: string, path: string) => {
      groupPaths.set(gPath, path === '' ? '/id' : `${path}/id`);
      const prev = metas.get(gPath);
      const meta: GroupMeta = prev ? { ...prev } : { id: gPath, dependencies: [], enforceRole: false, version: now };
      if (g.dependencies !== undefined) {
        if (!Array.isArray(g.dependencies) || g.dependencies.some((d: unknown) => typeof d !== 'string'))
          details.push({ path: `${path}/dependencies`, errors: ['error.expected.jsarray of strings'] });
        else meta.dependencies = g.dependencies.map((d: string) => resolvePath(d, ancestorsOf(gPath)[0] ?? '/'));
      }
      if (g.enforceRole !== undefined) {
        if (typeof g.enforceRole !== 'boolean') details.push({ path: `${path}/enforceRole`, errors: ['error.expected.jsboolean'] });
        else if (g.enforceRole && ancestorsOf(gPath)[0] !== '/')
          details.push({ path: `${path}/enforceRole`, errors: ['enforceRole can only be set for top-level groups'] });
        else meta.enforceRole = g.enforceRole;
      }
      metas.set(gPath, meta);
      groupChanges.set(gPath, meta);
      // Groups this update names or needs (enclosing a named app or group): they stay.
      const listed = new Set<string>();
      const seen = new Set<string>();
      const child = (raw: unknown, i: number, kind: 'apps' | 'groups'): string | undefined => {
        const at = `${path}/${kind}(${i})`;
        if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
          details.push({ path: at, errors: ['error.expected.jsobject'] });
          return undefined;
        }
        const rawId = (raw as Json).id;
        if (typeof rawId !== 'string' || rawId === '') {
          details.push({ path: `${at}/id`, errors: [typeof rawId === 'string' ? 'error.minLength' : 'error.path.missing'] });
          return undefined;
        }
        const id = resolvePath(rawId, gPath);
        if (!isBelow(id, gPath)) {
          details.push({ path: `${at}/id`, errors: [`identifier ${id} is not child of ${gPath}. Hint: use relative paths.`] });
          return undefined;
        }
        const pe = pathError(id);
        if (pe) {
          details.push({ path: `${at}/id`, errors: [pe] });
          return undefined;
        }
        if (kind === 'groups' && appsAt.has(id)) {
          details.push({ path: `${at}/id`, errors: [`Groups and Applications may not have the same identifier: ${id}`] });
          return undefined;
        }
        if (seen.has(id) || appsAt.has(id) || (kind === 'groups' && groupChanges.has(id))) {
          details.push({ path: `${at}/id`, errors: [`${id} is defined more than once in this update`] });
          return undefined;
        }
        seen.add(id);
        if (kind === 'groups') listed.add(id);
        for (const anc of ancestorsOf(id)) if (isBelow(anc, gPath)) listed.add(anc);
        return id;
      };
      if (g.apps !== undefined && !Array.isArray(g.apps)) details.push({ path: `${path}/apps`, errors: ['error.expected.jsarray'] });
      if (g.groups !== undefined && !Array.isArray(g.groups)) details.push({ path: `${path}/groups`, errors: ['error.expected.jsarray'] });
      const apps = Array.isArray(g.apps) ? g.apps : [];
      const subs = Array.isArray(g.groups) ? g.groups : [];
      apps.forEach((raw: unknown, i: number) => {
        const id = child(raw, i, 'apps');
        if (id) appsAt.set(id, { raw: { ...(raw as Json), id }, path: `${path}/apps(${i})` });
      });
      subs.forEach((raw: unknown, i: number) => {
        const id = child(raw, i, 'groups');
        if (id) walk(raw as Json, id, `${path}/groups(${i})`);
      });
      // Given lists replace what the group had: apps and sub-groups left out go.
      if (Array.isArray(g.apps)) for (const a of this.apps.values()) if (ancestorsOf(a.id)[0] === gPath && !appsAt.has(a.id)) changes.set(a.id, null);
      if (Array.isArray(g.groups)) {
        for (const sub of this.groups.keys()) {
          if (ancestorsOf(sub)[0] !== gPath || listed.has(sub)) continue;
          for (const x of this.groups.keys()) if (isWithin(x, sub)) groupChanges.set(x, null);
          for (const a of this.appsUnder(sub)) changes.set(a.id, null);
        }
      }
    };
    walk(body, gid, '');
    for (const [id, m] of groupChanges) if (!m) metas.delete(id);
    for (const [id, { raw, path }] of appsAt) {
      const p = this.prepare(raw, this.apps.get(id), metas);
      if (!p.ok) {
        for (const d of (p.error as { details?: FieldError[] }).details ?? []) details.push({ ...d, path: `${path}${d.path}` });
      } else changes.set(id, p.value);
    }
    // An app and a group may not share an id, in the update or with what stays.
    for (const [id, { path }] of appsAt) {
      const g = groupChanges.get(id);
      if (g || (g === undefined && this.groups.has(id)))
        details.push({ path: `${path}/id`, errors: [`Groups and Applications may not have the same identifier: ${id}`] });
    }
    for (const [id, meta] of groupChanges) {
      if (!meta || appsAt.has(id)) continue;
      if (this.apps.has(id) && changes.get(id) !== null)
        details.push({ path: groupPaths.get(id) ?? '/', errors: [`Groups and Applications may not have the same identifier: ${id}`] });
    }
    if (details.length > 0) return invalid(details);
    return finish(changes, groupChanges, metas);
  }

  /** PUT /v2/groups/{id} {"version": v}: the group and everything below as in that snapshot. */
  private async rollbackGroup(
    gid: string,
    version: string,
    now: string,
    finish: (
      a: Map<string, App | null>,
      g: Map<string, GroupMeta | null>,
      metas: Map<string, GroupMeta>,
    ) => Promise<Outcome<DeploymentResult | { steps: DeploymentStep[] }>>,
  ): Promise<Outcome<DeploymentResult | { steps: DeploymentStep[] }>> {
    const snap = snapshotOf(this.history.snapshots, gid, version);
    if (!snap) return unknownGroup(gid, version);
    const defs = await this.snapshotApps(snap, gid);
    if (!defs.ok) return defs;
    const changes = new Map<string, App | null>();
    const groupChanges = new Map<string, GroupMeta | null>();
    const then = new Map(defs.value.map((a) => [a.id, a]));
    for (const a of this.appsUnder(gid)) if (!then.has(a.id)) changes.set(a.id, null);
    const sameDefinition = (x: App, y: App) =>
      JSON.stringify({ ...x, version: '', versionInfo: null }) === JSON.stringify({ ...y, version: '', versionInfo: null });
    for (const old of then.values()) {
      const before = this.apps.get(old.id);
      if (before && sameDefinition(before, old)) continue;
      const next: App = { ...old, version: now, versionInfo: { lastConfigChangeAt: now, lastScalingAt: now } };
      if (before) {
        const action = appAction(before, { ...next, versionInfo: before.versionInfo });
        next.versionInfo = {
          lastConfigChangeAt: action === 'RestartApplication' ? now : before.versionInfo.lastConfigChangeAt,
          lastScalingAt: action === 'ScaleApplication' || action === 'RestartApplication' ? now : before.versionInfo.lastScalingAt,
        };
      }
      changes.set(old.id, next);
    }
    const thenGroups = new Map(snap.groups.filter((g) => isWithin(g.id, gid)).map((g) => [g.id, g]));
    for (const id of this.groups.keys()) if (isWithin(id, gid) && !thenGroups.has(id) && id !== '/') groupChanges.set(id, null);
    for (const g of thenGroups.values()) groupChanges.set(g.id, { ...g, dependencies: [...g.dependencies] });
    const metas = new Map(this.groups);
    for (const [id, m] of groupChanges) if (m) metas.set(id, m);
    return finish(changes, groupChanges, metas);
  }

  /** PATCH /v2/groups/{id}: only enforceRole, on a top-level group that exists. */
  async patchGroup(gid: string, body: unknown): Promise<Outcome<DeploymentResult>> {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      return { ok: false, error: { status: 422, message: 'Object is not valid', details: [{ path: '/', errors: ['error.expected.jsobject'] }] } };
    const meta = this.groups.get(gid);
    if (!meta || gid === '/') return unknownGroup(gid);
    const er = (body as Json).enforceRole;
    const details: FieldError[] = [];
    if (er !== undefined && typeof er !== 'boolean') details.push({ path: '/enforceRole', errors: ['error.expected.jsboolean'] });
    if (ancestorsOf(gid)[0] !== '/') details.push({ path: '/id', errors: ['Path needs to be top-level'] });
    if (details.length > 0) return { ok: false, error: { status: 422, message: 'Object is not valid', details } };
    return this.deploy(new Map(), false, new Map([[gid, { ...meta, enforceRole: er === true }]]), gid);
  }

  /** DELETE /v2/groups/{id}: every app and group below goes (the root group itself stays, empty). */
  async deleteGroup(gid: string, force: boolean): Promise<Outcome<DeploymentResult>> {
    if (!this.groups.has(gid)) return unknownGroup(gid);
    const groupChanges = new Map<string, GroupMeta | null>();
    for (const id of this.groups.keys()) if (isWithin(id, gid) && id !== '/') groupChanges.set(id, null);
    return this.deploy(new Map(this.appsUnder(gid).map((a) => [a.id, null])), force, groupChanges, gid);
  }

  resetDelay(appId: string): boolean {
    const had = this.backoff.delete(resolvePath(appId));
    this.converge();
    return had;
  }

  async versions(appId: string): Promise<string[] | undefined> {
    const id = resolvePath(appId);
    if (!this.apps.has(id)) return undefined;
    const vs = await this.deps.store.list(K.versions(id));
    return vs
      .map((e) => e.key.slice(K.versions(id).length))
      .sort()
      .reverse();
  }

  async appVersion(appId: string, version: string): Promise<App | undefined> {
    const e = await this.deps.store.get(K.version(resolvePath(appId), version));
    return e ? (JSON.parse(e.value) as App) : undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Views

  planJson(d: Deployment): Json {
    return { id: d.id, version: d.version, original: {}, target: {}, steps: d.steps };
  }

  deploymentJson(d: Deployment): Json {
    let currentStep = d.steps.length;
    for (let s = 0; s < d.steps.length; s++) {
      if (!(d.steps[s] as DeploymentStep).actions.every((a) => this.appDone(a.app, d.target[a.app] ?? null))) {
        currentStep = s + 1;
        break;
      }
    }
    const cur = d.steps[currentStep - 1];
    return {
      id: d.id,
      version: d.version,
      affectedApps: d.affectedApps,
      affectedPods: [],
      steps: d.steps,
      currentActions: (cur?.actions ?? []).map((a) => ({ ...a, readinessCheckResults: this.readinessResults(a.app) })),
      currentStep,
      totalSteps: d.steps.length,
    };
  }

  taskJson(i: Instance): Json {
    return {
      appId: i.appId,
      id: i.taskId,
      host: i.host,
      ports: i.ports,
      servicePorts: i.servicePorts,
      slaveId: i.agentId,
      state: i.state,
      stagedAt: i.stagedAt,
      ...(i.startedAt ? { startedAt: i.startedAt } : {}),
      version: i.version,
      ipAddresses: (i.containerIps ?? [i.host]).map((ipAddress) => ({ ipAddress, protocol: 'IPv4' })),
      localVolumes: [],
      ...(i.facts.region ? { region: i.facts.region } : {}),
      ...(i.facts.zone ? { zone: i.facts.zone } : {}),
      role: this.config.role,
      ...(this.health.has(i.taskId)
        ? {
            healthCheckResults: (this.health.get(i.taskId) ?? []).map((h) => ({
              alive: h.alive === true,
              consecutiveFailures: h.consecutiveFailures,
              firstSuccess: h.firstSuccess ?? null,
              lastSuccess: h.lastSuccess ?? null,
              lastFailure: h.lastFailure ?? null,
              lastFailureCause: h.lastFailureCause ?? null,
              instanceId: i.taskId.replace(/\._app\.\d+$/, ''),
            })),
          }
        : i.healthy !== undefined
          ? { healthCheckResults: [{ alive: i.healthy, consecutiveFailures: i.healthy ? 0 : 1, instanceId: i.taskId.replace(/\._app\.\d+$/, '') }] }
          : {}),
      ...(this.health.has(i.taskId) && i.healthy !== undefined
        ? {
            healthCheckResults: [
              ...(this.health.get(i.taskId) ?? []).map((h) => ({
                alive: h.alive === true,
                consecutiveFailures: h.consecutiveFailures,
                firstSuccess: h.firstSuccess ?? null,
                lastSuccess: h.lastSuccess ?? null,
                lastFailure: h.lastFailure ?? null,
                lastFailureCause: h.lastFailureCause ?? null,
                instanceId: i.taskId.replace(/\._app\.\d+$/, ''),
              })),
              { alive: i.healthy, consecutiveFailures: i.healthy ? 0 : 1, instanceId: i.taskId.replace(/\._app\.\d+$/, '') },
            ],
          }
        : {}),
    };
  }

  /** The AppInfo of GET /v2/apps: the definition plus counts and the embeds asked for. */
  appInfo(app: App, embed: Set<string>, withOffers = true): Json {
    const tasks = this.tasksOf(app.id);
    const out: Json = { ...app };
    out.tasksStaged = tasks.filter((t) => t.state === 'TASK_STAGING' || t.state === 'TASK_STARTING').length;
    out.tasksRunning = tasks.filter((t) => t.state === 'TASK_RUNNING').length;
    out.tasksHealthy = tasks.filter((t) => this.healthOf(app, t) === true).length;
    out.tasksUnhealthy = tasks.filter((t) => this.healthOf(app, t) === false).length;
    out.deployments = this.locking([app.id]).map((d) => ({ id: d.id }));
    if (embed.has('tasks')) out.tasks = tasks.map((t) => this.taskJson(t));
    if (embed.has('readiness')) out.readinessCheckResults = this.readinessResults(app.id);
    if (embed.has('lastTaskFailure')) {
      const f = this.lastFailure.get(app.id);
      if (f) out.lastTaskFailure = f;
    }
    if (embed.has('taskStats')) out.tasksStats = this.taskStats(app, tasks);
    out.role ??= this.config.role;
    const why = this.unplaceable(app);
    if (why) out.placementStatus = { placeable: false, message: why };
    // What the offers came to for an app waiting for launches, as its /v2/queue item says it:
    // only on request (embed=app.processedOffersSummary, or app.lastUnusedOffers which adds the
    // last declined offers), since Marathon's app JSON has no such fields and strict clients
    // (python3-marathon) refuse fields they do not know.
    const offers = embed.has('processedOffersSummary') || embed.has('lastUnusedOffers');
    if (withOffers && offers && (this.wanted.get(app.id) ?? 0) > 0) Object.assign(out, this.offerSummary(app.id, embed.has('lastUnusedOffers')));
    return out;
  }

  /**
   * Marathon's TaskStatsByVersion: counts and lifetimes of the tasks started since the last
   * scaling, of the latest config, of older configs, and of all. Empty groups are left out.
   */
  private taskStats(app: App, tasks: Instance[]): Json {
    const nowMs = this.deps.clock.nowMs();
    const stats = (xs: Instance[]): Json | undefined => {
      if (xs.length === 0) return undefined;
      const lives = xs
        .map((t) => (t.startedAt ? (nowMs - (parseIso(t.startedAt) ?? nowMs)) / 1000 : undefined))
        .filter((x): x is number => x !== undefined)
        .sort((a, b) => a - b);
      const counts = {
        staged: xs.filter((t) => t.state === 'TASK_STAGING' || t.state === 'TASK_STARTING').length,
        running: xs.filter((t) => t.state === 'TASK_RUNNING').length,
        healthy: xs.filter((t) => this.healthOf(app, t) === true).length,
        unhealthy: xs.filter((t) => this.healthOf(app, t) === false).length,
      };
      const lifeTime =
        lives.length > 0
          ? { averageSeconds: lives.reduce((a, b) => a + b, 0) / lives.length, medianSeconds: lives[Math.floor(lives.length / 2)] as number }
          : undefined;
      return { stats: { counts, ...(lifeTime ? { lifeTime } : {}) } };
    };
    const out: Json = {};
    const put = (k: string, xs: Instance[]) => {
      const v = stats(xs);
      if (v) out[k] = v;
    };
    put(
      'startedAfterLastScaling',
      tasks.filter((t) => t.stagedAt >= app.versionInfo.lastScalingAt),
    );
    put(
      'withLatestConfig',
      tasks.filter((t) => t.configVersion === app.versionInfo.lastConfigChangeAt),
    );
    put(
      'withOutdatedConfig',
      tasks.filter((t) => t.configVersion !== app.versionInfo.lastConfigChangeAt),
    );
    put('totalSummary', tasks);
    return out;
  }

  /** Why an app that waits for offers can never be placed, if that is the case. */
  unplaceable(app: App): string | undefined {
    if ((this.wanted.get(app.id) ?? 0) <= 0) return undefined;
    return neverPlaceable(app, [...this.agents.values()]);
  }

  /**
   * What the offers considered for an app came to, as /v2/queue shows it:
   * processedOffersSummary, lastUnusedOfferDetail and (on request) the last declined offers.
   */
  offerSummary(appId: string, withLastUnused: boolean): Json {
    const s = this.statsOf(appId);
    const summary = (xs: (RejectReason | 'used')[]) =>
      REJECT_REASONS.map((reason) => ({ reason, declined: xs.filter((x) => x === reason).length, processed: xs.length }));
    const out: Json = {
      processedOffersSummary: {
        processedOffersCount: s.processed,
        unusedOffersCount: s.unused,
        ...(s.lastUnusedAtMs ? { lastUnusedOfferAt: isoTime(s.lastUnusedAtMs) } : {}),
        ...(s.lastUsedAtMs ? { lastUsedOfferAt: isoTime(s.lastUsedAtMs) } : {}),
        rejectSummaryLastOffers: summary(s.last),
        rejectSummaryLaunchAttempt: REJECT_REASONS.map((reason) => ({ reason, declined: s.launchAttempt[reason] ?? 0, processed: s.processed })),
      },
    };
    if (s.lastDetail) out.lastUnusedOfferDetail = s.lastDetail;
    if (withLastUnused) out.lastUnusedOffers = s.lastUnused;
    return out;
  }

  queue(embedLastUnusedOffers = false): Json[] {
    const nowMs = this.deps.clock.nowMs();
    const out: Json[] = [];
    for (const app of this.apps.values()) {
      const count = this.wanted.get(app.id) ?? 0;
      if (count <= 0) continue;
      const b = this.backoff.get(app.id);
      const left = b ? Math.max(0, b.delayUntilMs - nowMs) : 0;
      const item: Json = {
        app: this.appInfo(app, new Set(), false),
        count,
        role: app.role ?? this.config.role,
        delay: { timeLeftSeconds: Math.ceil(left / 1000), overdue: left === 0 },
        since: isoTime(this.waitingSince.get(app.id) ?? nowMs),
        ...this.offerSummary(app.id, embedLastUnusedOffers),
      };
      const why = this.unplaceable(app);
      if (why) item.unplaceable = why;
      out.push(item);
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Events

  onEventBus(fn: (e: MarathonEvent) => void): () => void {
    if (this.listeners.size >= this.config.maxEventListeners) throw new Error('too many event stream subscribers');
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(e: Omit<MarathonEvent, 'timestamp'> & { timestamp?: string }): void {
    const ev = { ...e, timestamp: this.now() } as MarathonEvent;
    for (const fn of this.listeners) {
      try {
        fn(ev);
      } catch (err) {
        this.log('error', `event listener: ${(err as Error).message}`);
      }
    }
  }
}

function parentOf(id: string): string {
  const i = id.lastIndexOf('/');
  return i <= 0 ? '/' : id.slice(0, i);
}

function unknownGroup(gid: string, version?: string): { ok: false; error: MarathonError } {
  return { ok: false, error: { status: 404, message: `Group '${gid}' does not exist${version ? ` in version ${version}` : ''}` } };
}

/**
 * GroupInfo of `gid` from a set of groups and apps (live or a snapshot); undefined when the
 * group is not among them (`/` always is).
 */
function groupInfo(gid: string, groups: readonly GroupMeta[], apps: readonly App[], embedApps: (a: App) => Json, embed: GroupEmbed): Json | undefined {
  const meta = groups.find((g) => g.id === gid);
  if (!meta && gid !== '/') return undefined;
  const subs = new Map<string, GroupMeta[]>();
  for (const g of groups) {
    if (g.id === '/' || !isBelow(g.id, gid)) continue;
    const parent = parentOf(g.id);
    const xs = subs.get(parent);
    if (xs) xs.push(g);
    else subs.set(parent, [g]);
  }
  const appsIn = new Map<string, App[]>();
  for (const a of apps) {
    if (!isBelow(a.id, gid)) continue;
    const parent = parentOf(a.id);
    const xs = appsIn.get(parent);
    if (xs) xs.push(a);
    else appsIn.set(parent, [a]);
  }
  const build = (g: GroupMeta): Json => ({
    id: g.id,
    ...(embed.apps ? { apps: (appsIn.get(g.id) ?? []).sort((a, b) => (a.id < b.id ? -1 : 1)).map(embedApps) } : {}),
    ...(embed.pods ? { pods: [] } : {}),
    ...(embed.groups ? { groups: (subs.get(g.id) ?? []).sort((a, b) => (a.id < b.id ? -1 : 1)).map(build) } : {}),
    dependencies: g.dependencies,
    version: g.version,
    enforceRole: g.enforceRole,
  });
  return build(meta ?? { id: '/', dependencies: [], enforceRole: false, version: '1970-01-01T00:00:00.000Z' });
}

function notFound(appId: string): { ok: false; error: MarathonError } {
  return { ok: false, error: { status: 404, message: `App '${appId}' does not exist` } };
}

function conditionOf(state: TaskState): string {
  const m: Partial<Record<TaskState, string>> = {
    TASK_STAGING: 'Staging',
    TASK_STARTING: 'Starting',
    TASK_RUNNING: 'Running',
    TASK_KILLING: 'Killing',
    TASK_FINISHED: 'Finished',
    TASK_FAILED: 'Failed',
    TASK_KILLED: 'Killed',
    TASK_ERROR: 'Error',
    TASK_LOST: 'Gone',
    TASK_DROPPED: 'Dropped',
    TASK_UNREACHABLE: 'Unreachable',
    TASK_GONE: 'Gone',
    TASK_GONE_BY_OPERATOR: 'Gone',
    TASK_UNKNOWN: 'Unknown',
  };
  return m[state] ?? 'Unknown';
}

/** A port's labels (VIP_n, ...) go into DiscoveryInfo, where the VIP service reads them (as in Mesos). */
function portLabels(labels: unknown): { labels?: { labels: { key: string; value: string }[] } } {
  if (!labels || typeof labels !== 'object') return {};
  const list = Object.entries(labels as Record<string, unknown>).map(([key, value]) => ({ key, value: String(value) }));
  return list.length ? { labels: { labels: list } } : {};
}
