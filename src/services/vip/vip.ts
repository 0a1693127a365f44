/**
 * Keeps the VIP table current: follows the task state the DNS service keeps (pushed from the
 * master's operator events), recomputes the table (core/vip, pure) a few milliseconds after a
 * change, applies it to the data path (nftables or the userspace proxy) and publishes the l4lb
 * names in the DNS zone. Applies are serialised; changes during one are folded into the next.
 */
import type { Clock, TimerHandle } from '../../base/clock.js';
import type { Rr } from '../../core/dns/index.js';
import { type Vip, type VipProblem, type VipRange, vipDnsNames, vipTable, type VipTaskInput } from '../../core/vip/index.js';
import type { DnsService } from '../dns/dns.js';

/** What a data path does: replace everything with this table; tear down. */
export interface VipDataPath {
  readonly kind: string;
  start(): Promise<void>;
  apply(vips: readonly Vip[]): Promise<void>;
  stop(): Promise<void>;
}

export interface VipServiceOptions {
  clock: Clock;
  range: VipRange;
  dataPath: VipDataPath;
  dcosDomain: string;
  /** Folds bursts of events into one apply. */
  debounceMs?: number;
  log: (level: string, msg: string) => void;
}

/** Propagation samples kept (ms from a change seen to its table applied). */
const MAX_SAMPLES = 1_000;

export class VipService {
  private vips: Vip[] = [];
  private problems: VipProblem[] = [];
  private addresses = new Map<string, string>();
  private timer: TimerHandle | undefined;
  private applying = false;
  private dirtySinceMs: number | undefined;
  private source: DnsService | undefined;
  private stopped = false;
  private lastError: string | undefined;
  private readonly reported = new Set<string>();
  /** Milliseconds from the first change of a batch to its table applied. */
  readonly propagationMs: number[] = [];
  readonly counters = { applies: 0, failures: 0 };
  /** Resolves when the table in flight (if any) is applied; for tests and benches. */
  private idleWaiters: (() => void)[] = [];

  constructor(readonly opts: VipServiceOptions) {}

  async start(dns: DnsService): Promise<void> {
    this.source = dns;
    await this.opts.dataPath.start();
    dns.onChange(() => this.changed());
    this.changed();
  }

  get table(): readonly Vip[] {
    return this.vips;
  }

  get labelProblems(): readonly VipProblem[] {
    return this.problems;
  }

  get status(): { dataPath: string; range: string; lastError: string | undefined; applies: number; failures: number } {
    return { dataPath: this.opts.dataPath.kind, range: this.opts.range.cidr, lastError: this.lastError, ...this.counters };
  }

  private changed(): void {
    if (this.stopped) return;
    this.dirtySinceMs ??= this.opts.clock.nowMs();
    if (this.timer || this.applying) return;
    this.timer = this.opts.clock.setTimer(this.opts.debounceMs ?? 5, () => {
      this.timer = undefined;
      void this.run();
    });
  }

  private inputs(): VipTaskInput[] {
    const dns = this.source;
    if (!dns) return [];
    const out: VipTaskInput[] = [];
    for (const task of dns.tasks.values()) {
      if (!task.discovery?.ports?.ports.some((p) => p.labels?.labels.length)) continue;
      out.push({ task, agentIp: dns.agents.get(task.agent_id.value)?.ip, frameworkName: dns.frameworks.get(task.framework_id.value)?.name });
    }
    return out;
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    this.applying = true;
    const since = this.dirtySinceMs;
    this.dirtySinceMs = undefined;
    const t = vipTable(this.inputs(), this.opts.range, this.addresses);
    this.vips = t.vips;
    this.problems = t.problems;
    this.addresses = t.addresses;
    for (const p of t.problems) {
      const k = `${p.taskId} ${p.key}`;
      if (this.reported.has(k) || this.reported.size > 10_000) continue;
      this.reported.add(k);
      this.opts.log('warn', `task ${p.taskId}: label ${p.key}="${p.value}" ignored: ${p.message}`);
    }
    try {
      await this.opts.dataPath.apply(t.vips);
      this.counters.applies++;
      this.lastError = undefined;
    } catch (e) {
      this.counters.failures++;
      this.lastError = (e as Error).message;
      this.opts.log('error', `VIP table not applied: ${this.lastError}`);
    }
    this.source?.zone.put('vip', this.records());
    if (since !== undefined) {
      this.propagationMs.push(this.opts.clock.nowMs() - since);
      if (this.propagationMs.length > MAX_SAMPLES) this.propagationMs.shift();
    }
    this.applying = false;
    if (this.dirtySinceMs !== undefined) this.changed();
    else for (const w of this.idleWaiters.splice(0)) w();
  }

  private records(): Rr[] {
    const out: Rr[] = [];
    const seen = new Set<string>();
    for (const v of this.vips) {
      for (const name of vipDnsNames(v, this.opts.dcosDomain)) {
        if (seen.has(name)) continue;
        seen.add(name);
        out.push({ name, type: 'A', ip: v.ip });
      }
    }
    return out;
  }

  /** Resolves once no change is pending or being applied. */
  idle(): Promise<void> {
    if (!this.timer && !this.applying && this.dirtySinceMs === undefined) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.source?.zone.put('vip', []);
    await this.opts.dataPath.stop();
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
