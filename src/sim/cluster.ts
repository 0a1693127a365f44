import { Random } from '../base/random.js';
import * as R from '../core/resources/index.js';
import type { Attribute, Resource } from '../model/mesos.js';
import { DEFAULT_MASTER_CONFIG, type MasterConfig } from '../services/master/config.js';
import { DEFAULT_SIM_AGENT, SimAgent, type SimAgentOptions } from './agent.js';
import { SimClock } from './clock.js';
import { FaultInjector, type FaultKind } from './faults.js';
import { DEFAULT_SIM_FRAMEWORK, type SimApp, SimFramework, type SimFrameworkOptions } from './framework.js';
import { InvariantChecker, type Violation } from './invariants.js';
import { MasterHost, SimMasterLink, SimSchedulerLink } from './master-host.js';
import { marathonApps, SimMarathonNode } from './marathon.js';
import { CLEAN_LINKS, type LinkFaults, SimNetwork } from './network.js';
import type { AgentNode } from './node.js';
import { RealAgentNode, type RealAgentOptions } from './real-agent.js';
import { Trace } from './trace.js';

/*
 * Master bugs the simulator found, all fixed: concurrent REREGISTERs offered an agent twice; kills
 * for an agent without a command stream were dropped (orphan tasks); a stale queued update put a
 * finished task's resources back in use; a KILL could overtake its RUN_TASK; a retried ACCEPT
 * reported running tasks as dropped (9db6578); queued kills went to a stale stream (b94cb12);
 * SUBSCRIBE without suppressed_roles kept an old SUPPRESS (e9ee00e); a delayed or duplicated
 * REREGISTER replaced a newer task list and declared running tasks gone (96d3b13); an update
 * reached the framework before the store held it at the head of its task's queue, so a master
 * crash resent an acknowledged update after its successor (seed 94; docs/agent-protocol.md,
 * "Status update order"); a kill went on the stream of a duplicated SUBSCRIBE the agent never
 * read (seed 102); a duplicated STATUS_UPDATE got its 200 before the update was stored (seed 140);
 * a task reported lost was adopted as running after a master restart (seed 37); a RUN_TASK for an
 * agent that had reregistered but not yet opened its command stream was dropped and the task
 * stayed STAGING (seed 5, found by Marathon, which has no launch timeout). A bug found and
 * not fixed at once is written down in src/sim/README.md with the seeds that reproduce it.
 */

/** Bugs the simulator can inject on purpose, to show that the checker catches them. */
export const INJECTABLE_BUGS = [
  'agent-reorder-updates',
  'agent-forget-failure',
  'checker-broken-capacity',
  'store-lose-task-writes',
  'runtime-forget-oom',
  'marathon-miss-terminal-updates',
] as const;
export type InjectableBug = (typeof INJECTABLE_BUGS)[number];

export type AgentMode = 'real' | 'sim';

export interface SimOptions {
  seed: number;
  /** real: the agent service (src/services/agent) over SimRuntime; sim: the protocol-level SimAgent. */
  agentMode: AgentMode;
  agents: number;
  frameworks: number;
  minutes: number;
  faults: Set<FaultKind>;
  /** Invariants are checked after every step of this much virtual time. */
  stepMs: number;
  /** Faults stop this long before the end; the system must converge within it. */
  quietMs: number;
  /** Declared service tasks per framework. */
  tasksPerFramework: number;
  /** Batch tasks per second per framework while faults are on. */
  batchPerSecond: number;
  bug: InjectableBug | undefined;
  /**
   * Apps the real Marathon runs in the cluster (0: no Marathon). Undefined: 3 when the faults
   * include `marathon-crash` (as `--faults all` does), else none.
   */
  marathonApps: number | undefined;
  /** Declared instances of each Marathon app. */
  marathonInstances: number;
  /** Keep the event trace (and its digest). */
  trace: boolean;
  /** Print trace lines from this step on. */
  verboseFromStep: number | undefined;
  /** Stop after this step (replay up to a failure). */
  stopAtStep: number | undefined;
  log: (line: string) => void;
}

export const DEFAULT_SIM_OPTIONS: SimOptions = {
  seed: 1,
  agentMode: 'real',
  agents: 50,
  frameworks: 2,
  minutes: 5,
  faults: new Set(),
  stepMs: 100,
  quietMs: 0,
  tasksPerFramework: 0,
  batchPerSecond: 0.5,
  bug: undefined,
  marathonApps: undefined,
  marathonInstances: 3,
  trace: true,
  verboseFromStep: undefined,
  stopAtStep: undefined,
  log: (line) => console.log(line),
};

export interface SimResult {
  ok: boolean;
  seed: number;
  steps: number;
  failedStep: number | undefined;
  violations: Violation[];
  digest: string;
  virtualMs: number;
  wallMs: number;
  events: number;
  traceLines: number;
  convergedAfterMs: number | undefined;
  faults: Record<string, number>;
  stats: Record<string, number>;
  tail: string[];
}

/** Agent sizes: a few shapes, like a real fleet. */
const SHAPES = [
  { cpus: 4, memMb: 16_384 },
  { cpus: 8, memMb: 32_768 },
  { cpus: 16, memMb: 65_536 },
];

export function agentResources(rng: Random): Resource[] {
  const s = SHAPES[rng.int(SHAPES.length)]!;
  return R.normalize([R.scalar('cpus', s.cpus), R.scalar('mem', s.memMb), R.scalar('disk', 100_000), R.ranges('ports', [{ begin: 31000, end: 32000 }])]);
}

/** The simulated cluster: one master host, agents, frameworks, the network, checker and faults. */
export class SimCluster {
  readonly clock = new SimClock();
  readonly random: Random;
  readonly trace: Trace;
  readonly net: SimNetwork;
  readonly host: MasterHost;
  readonly agents: AgentNode[] = [];
  readonly frameworks: SimFramework[] = [];
  readonly checker: InvariantChecker;
  readonly faults: FaultInjector;
  readonly marathon: SimMarathonNode | undefined;
  private readonly marathonRng: Random | undefined;

  constructor(
    readonly options: SimOptions,
    masterConfig: Partial<MasterConfig> = {},
    links: LinkFaults = CLEAN_LINKS,
  ) {
    this.random = new Random(options.seed);
    this.trace = new Trace(() => this.clock.nowMs(), options.trace);
    this.net = new SimNetwork(this.clock, this.random.fork(), this.trace, links);
    const config: MasterConfig = {
      ...DEFAULT_MASTER_CONFIG,
      hostname: 'master.sim',
      ip: '10.0.0.1',
      // Offers a lost ACCEPT left behind come back eventually (DC/OS sets an offer timeout too).
      offerTimeoutMs: 60_000,
      ...masterConfig,
    };
    this.host = new MasterHost(this.clock, this.random.fork(), this.net, this.trace, {
      config,
      storeLatencyMinMs: 1,
      storeLatencyMaxMs: 10,
      agentStreamPingMs: config.heartbeatIntervalMs,
      traceLog: options.trace,
    });
    // The checker reads the agent and framework lists as they fill.
    this.checker = new InvariantChecker(this.host, this.agents, this.frameworks, {
      unaccountedGraceMs: 2 * DEFAULT_SIM_FRAMEWORK.launchTimeoutMs + 120_000,
      brokenCapacity: options.bug === 'checker-broken-capacity',
    });
    this.host.onStart = (m) => this.checker.masterStarted(m);
    const agentRng = this.random.fork();
    for (let i = 0; i < options.agents; i++) {
      const node = `agent-${i}`;
      const hostname = `${node}.sim`;
      const ip = `10.1.${(i >> 8) & 255}.${i & 255}`;
      const resources = agentResources(agentRng);
      const attributes: Attribute[] = [{ name: 'rack', type: 'TEXT', text: { value: `r${i % 10}` } }];
      const link = new SimMasterLink(this.net, this.host, node);
      // The agent bugs are injected into the protocol-level agent.
      if (options.agentMode === 'real' && !options.bug?.startsWith('agent-')) {
        const ro: RealAgentOptions = { hostname, ip, resources, attributes, version: '1.12.0', traceLog: options.trace };
        const a = new RealAgentNode(node, this.clock, agentRng.fork(), link, ro, this.trace, this.checker.agentObserver);
        a.runtime.forgetOom = options.bug === 'runtime-forget-oom';
        this.agents.push(a);
      } else {
        const opts: SimAgentOptions = { ...DEFAULT_SIM_AGENT, hostname, ip, resources, attributes };
        const a = new SimAgent(node, this.clock, agentRng.fork(), link, opts, this.trace, this.checker.agentObserver);
        if (options.bug === 'agent-reorder-updates') a.bug = 'reorder-updates';
        if (options.bug === 'agent-forget-failure') a.bug = 'forget-failure';
        this.agents.push(a);
      }
    }
    const fwRng = this.random.fork();
    const perFw =
      options.tasksPerFramework > 0
        ? options.tasksPerFramework
        : Math.max(3, Math.min(500, Math.round((2 * options.agents) / Math.max(1, options.frameworks))));
    for (let j = 0; j < options.frameworks; j++) {
      const name = `fw${j}`;
      const a = Math.ceil(perFw / 3);
      const apps: SimApp[] = [
        { id: 'web', instances: a, cpus: 0.5, memMb: 256, port: true },
        { id: 'db', instances: a, cpus: 1, memMb: 1024, port: false, rackLike: /^r[0-4]$/ },
        { id: 'cache', instances: Math.max(0, perFw - 2 * a), cpus: 0.25, memMb: 128, port: false },
      ].filter((x) => x.instances > 0);
      const fo: SimFrameworkOptions = {
        ...DEFAULT_SIM_FRAMEWORK,
        name,
        apps,
        // Half the frameworks are partition-aware (Mesos 1.1+ semantics), half are not.
        partitionAware: j % 2 === 0,
        batchPerSecond: options.batchPerSecond,
        churnEveryMs: 30_000,
      };
      this.frameworks.push(
        new SimFramework(
          `sched-${j}`,
          this.clock,
          fwRng.fork(),
          new SimSchedulerLink(this.net, this.host, `sched-${j}`),
          fo,
          this.trace,
          this.checker.frameworkObserver,
        ),
      );
    }
    this.host.beforeSchedulerCall = (m, call) => {
      if (call.type === 'ACCEPT')
        return this.checker.aroundOfferCall(
          m,
          (call.accept?.offer_ids ?? []).map((o) => o.value),
          true,
        );
      if (call.type === 'DECLINE')
        return this.checker.aroundOfferCall(
          m,
          (call.decline?.offer_ids ?? []).map((o) => o.value),
          false,
        );
      return undefined;
    };
    if (options.bug === 'store-lose-task-writes') {
      const rng = this.random.fork();
      this.host.onStart = (m, store) => {
        this.checker.masterStarted(m);
        store.filterOp = (op) => !(op.type === 'put' && op.key.startsWith('master/tasks/') && rng.chance(0.2));
      };
    }
    const faultRng = this.random.fork();
    const nApps = options.marathonApps ?? (options.faults.has('marathon-crash') ? 3 : 0);
    if (nApps > 0) {
      // Forked last, so that runs without Marathon are the runs they were before it came.
      const rng = this.random.fork();
      this.marathonRng = rng.fork();
      this.marathon = new SimMarathonNode(
        this.clock,
        rng,
        this.net,
        this.host,
        this.agents,
        this.trace,
        marathonApps(nApps, options.marathonInstances),
        options.trace,
      );
      this.marathon.bugDropTerminalUpdates = options.bug === 'marathon-miss-terminal-updates';
      this.checker.marathon = this.marathon;
    }
    this.faults = new FaultInjector(
      options.faults,
      this.clock,
      faultRng,
      this.net,
      this.host,
      this.agents,
      this.frameworks,
      this.trace,
      (fw, task) => this.checker.containerOomKilled(fw, task),
      this.marathon,
    );
  }

  /** Runs the whole scenario; never throws for a violation (it is in the result). */
  async run(wallNow: () => number): Promise<SimResult> {
    const o = this.options;
    const wall0 = wallNow();
    const startMs = this.clock.nowMs();
    const endMs = startMs + o.minutes * 60_000;
    const quietMs = o.quietMs > 0 ? o.quietMs : Math.min(10 * 60_000, Math.max(4 * 60_000, (o.minutes * 60_000) / 3));
    const faultsFromMs = startMs + 30_000;
    const faultsUntilMs = Math.max(faultsFromMs, endMs - quietMs);
    let failedStep: number | undefined;
    let convergedAt: number | undefined;
    let lastReasons: string[] = [];

    await this.clock.drive(this.host.start());
    for (const a of this.agents) a.start();
    for (const f of this.frameworks) f.start();
    if (this.marathon) {
      await this.clock.drive(this.marathon.start());
      await this.clock.drive(this.marathon.createApps());
    }

    let step = 0;
    let faultsStopped = false;
    while (this.clock.nowMs() < endMs) {
      step++;
      if (o.verboseFromStep !== undefined && step === o.verboseFromStep) this.trace.echo = (l) => o.log(`  | ${l}`);
      const now = this.clock.nowMs();
      if (!this.faults.on && !faultsStopped && now >= faultsFromMs && o.faults.size > 0) {
        this.faults.on = true;
        this.trace.record('fault.start');
      }
      if (!faultsStopped && now >= faultsUntilMs) {
        faultsStopped = true;
        if (this.faults.on) this.faults.stop();
        for (const f of this.frameworks) {
          f.options.batchPerSecond = 0;
          f.options.churnEveryMs = 0;
        }
      }
      this.faults.step(o.stepMs);
      // A user's change to a Marathon app about every 45 s while faults are on.
      if (this.faults.on && this.marathon && this.marathonRng!.chance(o.stepMs / 45_000)) this.marathon.churn(this.marathonRng!);
      await this.clock.runUntil(now + o.stepMs);
      this.trace.record('step', String(step));
      const v = this.checker.check(this.clock.nowMs());
      if (v.length > 0) {
        failedStep = step;
        break;
      }
      if (faultsStopped && convergedAt === undefined && step % 10 === 0) {
        lastReasons = this.checker.convergence();
        if (lastReasons.length === 0) {
          convergedAt = this.clock.nowMs();
          this.trace.record('converged');
        }
      }
      if (o.stopAtStep !== undefined && step >= o.stopAtStep) break;
    }
    const stoppedEarly = o.stopAtStep !== undefined && step >= o.stopAtStep && this.clock.nowMs() < endMs;
    if (failedStep === undefined && !stoppedEarly) {
      if (convergedAt === undefined) {
        lastReasons = this.checker.convergence();
        if (lastReasons.length > 0) {
          this.checker.violations.push({
            invariant: 'convergence',
            message: `not converged ${Math.round(quietMs / 1000)} s after faults stopped: ${lastReasons.join('; ')}`,
          });
          failedStep = step;
        } else convergedAt = this.clock.nowMs();
      }
      if (failedStep === undefined) {
        this.checker.finalChecks();
        if (this.checker.violations.length > 0) failedStep = step;
      }
    }
    const stats: Record<string, number> = {
      requests: this.net.stats.requests,
      streamEvents: this.net.stats.streamEvents,
      requestsDropped: this.net.stats.requestsDropped + this.net.stats.repliesDropped,
      duplicated: this.net.stats.duplicated,
      timeouts: this.net.stats.timeouts,
      masterIncarnations: this.host.incarnation,
      agentRegistrations: sum(this.agents, (a) => a.stats.registrations),
      agentReregistrations: sum(this.agents, (a) => a.stats.reregistrations),
      tasksLaunchedOnAgents: sum(this.agents, (a) => a.stats.launches),
      statusUpdatesSent: sum(this.agents, (a) => a.stats.updatesSent),
      statusUpdatesAcked: sum(this.agents, (a) => a.stats.updatesAcked),
      frameworkLaunches: sum(this.frameworks, (f) => f.stats.launched),
      tasksFinished: sum(this.frameworks, (f) => f.stats.finished),
      tasksFailed: sum(this.frameworks, (f) => f.stats.failed),
      tasksLostOrDropped: sum(this.frameworks, (f) => f.stats.lost),
      kills: sum(this.frameworks, (f) => f.stats.kills),
      reconciliations: sum(this.frameworks, (f) => f.stats.reconciles),
      oomKillsReported: this.checker.oomKillsReported,
      invariantChecks: this.checker.checks,
    };
    const mar = this.marathon;
    if (mar) {
      stats.marathonIncarnations = mar.incarnation;
      stats.marathonApiCalls = mar.apiCalls;
      const c = mar.counters();
      stats.marathonTasksLaunched = c['marathon.tasks.launched'] ?? 0;
      stats.marathonDeploymentsSucceeded = c['marathon.deployments.succeeded'] ?? 0;
    }
    return {
      ok: failedStep === undefined,
      seed: o.seed,
      steps: step,
      failedStep,
      violations: this.checker.violations,
      digest: this.trace.digest(),
      virtualMs: this.clock.nowMs() - startMs,
      wallMs: wallNow() - wall0,
      events: this.clock.eventsRun,
      traceLines: this.trace.count,
      convergedAfterMs: convergedAt !== undefined ? convergedAt - faultsUntilMs : undefined,
      faults: { ...this.faults.counts },
      stats,
      tail: this.trace.last(40),
    };
  }
}

function sum<T>(xs: readonly T[], f: (x: T) => number): number {
  let n = 0;
  for (const x of xs) n += f(x);
  return n;
}

/** Builds and runs one simulation. */
export async function runSimulation(options: Partial<SimOptions>, wallNow: () => number): Promise<SimResult> {
  const o: SimOptions = { ...DEFAULT_SIM_OPTIONS, ...options };
  const cluster = new SimCluster(o);
  return cluster.run(wallNow);
}
