import type { Random } from '../base/random.js';
import type { SimClock } from './clock.js';
import type { SimFramework } from './framework.js';
import type { MasterHost } from './master-host.js';
import type { SimMarathonNode } from './marathon.js';
import type { AgentNode } from './node.js';
import { CLEAN_LINKS, type LinkFaults, type SimNetwork } from './network.js';
import type { Trace } from './trace.js';

export const FAULT_KINDS = [
  'agent-crash',
  'agent-reboot',
  'partition',
  'drop',
  'delay',
  'duplicate',
  'reorder',
  'master-crash',
  'framework-disconnect',
  'framework-failover',
  'container-crash',
  'container-oom',
  'marathon-crash',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

/** Parses `all`, `none`, or a comma-separated list of fault kinds. */
export function parseFaults(text: string): Set<FaultKind> | string {
  if (text === 'all') return new Set(FAULT_KINDS);
  if (text === 'none' || text === '') return new Set();
  const out = new Set<FaultKind>();
  for (const k of text.split(',').map((x) => x.trim())) {
    if (!(FAULT_KINDS as readonly string[]).includes(k)) return `unknown fault '${k}' (known: all, none, ${FAULT_KINDS.join(', ')})`;
    out.add(k as FaultKind);
  }
  return out;
}

/** Mean occurrences per simulated minute while faults are on (per-agent faults scale with the cluster). */
const RATE_PER_MINUTE: Record<FaultKind, (agents: number) => number> = {
  'agent-crash': (n) => 1 + n / 200,
  'agent-reboot': (n) => 0.2 + n / 2000,
  partition: (n) => 1 + n / 200,
  drop: () => 0.5,
  delay: () => 0.5,
  duplicate: () => 0.5,
  reorder: () => 0.5,
  'master-crash': () => 0.25,
  'framework-disconnect': () => 0.5,
  'framework-failover': () => 0.3,
  'container-crash': (n) => 3 + n / 50,
  'container-oom': (n) => 1 + n / 100,
  'marathon-crash': () => 0.3,
};

/**
 * Injects faults at random (seeded) moments while it is on, and undoes them all when it is
 * turned off: partitions heal, the network is clean again, and everything that was down comes
 * back, so that convergence can be checked.
 */
export class FaultInjector {
  on = false;
  readonly counts: Record<string, number> = {};
  private readonly downAgents = new Set<AgentNode>();
  private readonly downFrameworks = new Set<SimFramework>();
  private storms = 0;
  private readonly base: LinkFaults;

  constructor(
    private readonly kinds: Set<FaultKind>,
    private readonly clock: SimClock,
    private readonly random: Random,
    private readonly net: SimNetwork,
    private readonly host: MasterHost,
    private readonly agents: readonly AgentNode[],
    private readonly frameworks: readonly SimFramework[],
    private readonly trace: Trace,
    /** Told of every container the OOM killer ended (the checker expects its framework to hear why). */
    private readonly onOom: (frameworkId: string, taskId: string) => void = () => {},
    /** Marathon's machine, when the run has one (fault `marathon-crash`). */
    private readonly marathon?: SimMarathonNode,
  ) {
    this.base = { ...net.faults };
  }

  private count(kind: string): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
  }

  /** Called once per step of `stepMs`; may inject faults. */
  step(stepMs: number): void {
    if (!this.on) return;
    for (const kind of this.kinds) {
      const p = (RATE_PER_MINUTE[kind](this.agents.length) * stepMs) / 60_000;
      if (this.random.chance(p)) this.inject(kind);
    }
  }

  private uniform(minMs: number, maxMs: number): number {
    return minMs + this.random.next() * (maxMs - minMs);
  }

  private pick<T>(xs: readonly T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[this.random.int(xs.length)];
  }

  inject(kind: FaultKind): void {
    switch (kind) {
      case 'agent-crash':
      case 'agent-reboot': {
        const a = this.pick(this.agents.filter((x) => x.alive));
        if (!a) return;
        this.count(kind);
        if (kind === 'agent-reboot') a.reboot();
        else a.crash();
        this.downAgents.add(a);
        this.clock.setTimer(this.uniform(kind === 'agent-reboot' ? 5_000 : 1_000, 60_000), () => this.restartAgent(a));
        return;
      }
      case 'partition': {
        // Mostly agents; sometimes a scheduler. Some last past the agent ping budget (75 s).
        const useFw = this.frameworks.length > 0 && this.random.chance(0.15);
        const node = useFw ? this.pick(this.frameworks)?.node : this.pick(this.agents)?.node;
        if (!node || this.net.isolatedNodes().includes(node)) return;
        this.count(kind);
        this.net.isolate(node);
        this.clock.setTimer(this.uniform(2_000, 150_000), () => this.net.heal(node));
        return;
      }
      case 'drop':
      case 'delay':
      case 'duplicate':
      case 'reorder':
        this.storm(kind);
        return;
      case 'master-crash': {
        if (!this.host.up) return;
        this.count(kind);
        this.host.crash();
        this.clock.setTimer(this.uniform(500, 30_000), () => this.restartMaster());
        return;
      }
      case 'framework-disconnect': {
        const f = this.pick(this.frameworks.filter((x) => x.conn === 'subscribed'));
        if (!f) return;
        this.count(kind);
        f.disconnect();
        return;
      }
      case 'framework-failover': {
        const f = this.pick(this.frameworks.filter((x) => x.conn !== 'down' && x.conn !== 'removed'));
        if (!f) return;
        this.count(kind);
        f.crash();
        this.downFrameworks.add(f);
        this.clock.setTimer(this.uniform(1_000, 60_000), () => this.restartFramework(f));
        return;
      }
      case 'marathon-crash': {
        const mar = this.marathon;
        if (!mar?.up) return;
        this.count(kind);
        mar.crash();
        this.clock.setTimer(this.uniform(1_000, 60_000), () => this.restartMarathon());
        return;
      }
      case 'container-crash':
      case 'container-oom': {
        const alive = this.agents.filter((x) => x.alive);
        for (let tries = 0; tries < 5; tries++) {
          const t = this.pick(alive)?.crashContainer(kind === 'container-oom');
          if (t !== undefined) {
            this.count(kind);
            if (kind === 'container-oom') this.onOom(t.frameworkId, t.taskId);
            return;
          }
        }
        return;
      }
    }
  }

  /** A window of bad network: one kind of message fault, for 5 to 60 s. */
  private storm(kind: 'drop' | 'delay' | 'duplicate' | 'reorder'): void {
    this.count(kind);
    const f = this.net.faults;
    const next: LinkFaults = { ...f };
    if (kind === 'drop') next.dropRate = Math.max(f.dropRate, 0.02 + this.random.next() * 0.1);
    if (kind === 'duplicate') next.dupRate = Math.max(f.dupRate, 0.05 + this.random.next() * 0.2);
    if (kind === 'reorder') {
      next.reorderRate = Math.max(f.reorderRate, 0.1 + this.random.next() * 0.3);
      next.reorderDelayMaxMs = Math.max(f.reorderDelayMaxMs, 500 + this.random.next() * 3000);
    }
    if (kind === 'delay') next.delayMaxMs = Math.max(f.delayMaxMs, 50 + this.random.next() * 2000);
    this.net.faults = next;
    this.trace.record('fault.storm', `${kind} ${JSON.stringify(next)}`);
    this.storms++;
    this.clock.setTimer(this.uniform(5_000, 60_000), () => {
      if (--this.storms === 0) {
        this.net.faults = { ...this.base };
        this.trace.record('fault.storm-end');
      }
    });
  }

  private restartAgent(a: AgentNode): void {
    if (!this.downAgents.delete(a)) return;
    a.start();
  }

  private restartFramework(f: SimFramework): void {
    if (!this.downFrameworks.delete(f)) return;
    f.start();
  }

  private restartMarathon(): void {
    if (!this.marathon || this.marathon.up) return;
    void this.marathon.start();
  }

  private restartMaster(): void {
    if (this.host.up) return;
    void this.host.start();
  }

  /** Stops injecting and undoes every fault now. */
  stop(): void {
    this.on = false;
    this.trace.record('fault.stop');
    this.net.healAll();
    this.net.faults = { ...CLEAN_LINKS, delayMinMs: this.base.delayMinMs, delayMaxMs: this.base.delayMaxMs };
    this.storms = 0;
    this.restartMaster();
    this.restartMarathon();
    for (const a of [...this.downAgents]) this.restartAgent(a);
    for (const f of [...this.downFrameworks]) this.restartFramework(f);
  }
}
