import { assert } from '../../base/assert.js';
import type { Random } from '../../base/random.js';
import type { Range, Resource } from '../../model/mesos.js';
import { allocatedTo, contains, normalize, reservationRole, roundScalar, subtract, unallocated } from '../resources/index.js';
import type { Allocation, Allocator, AllocatorAgentOptions, AllocatorFrameworkOptions, AllocatorStats, QuotaConfig } from './types.js';

/**
 * Hierarchical DRF, as in Mesos' HierarchicalAllocatorProcess: roles are ordered by weighted
 * dominant share, frameworks within a role by their dominant share, and each agent's free
 * resources go to the first (role, framework) in that order that may take them.
 *
 * Representation, chosen for the allocation loop (10,000 agents x 1,000 frameworks per cycle):
 * - every agent keeps its free resources as a normalized `Resource[]` plus the reservation role
 *   of each entry and a flag for "has unreserved", so an offer is a partition of a short list,
 *   never a normalize;
 * - quantities (per framework-role, per role, cluster total) are plain number vectors indexed by
 *   scalar name (cpus, mem, disk, gpus first), so a share is four divisions;
 * - a (framework, role) pair is a "subscription" with a dense integer id; a refuse filter is an
 *   entry agent -> end time in the subscription's map, plus one bit in the agent's bitset over
 *   subscription ids, so the allocation loop tests a bit, not a map; each agent keeps a lower
 *   bound of its filters' end times, and sweeps its expired filters when that bound has passed;
 * - each role keeps the ids of its eligible subscriptions (active, subscribed, not suppressed)
 *   sorted by share. Shares are recomputed and sorted once per cycle; within the cycle a
 *   subscription that got an offer moves right by binary search and one `copyWithin`, and a
 *   role whose share grew moves right in the (short) role order.
 *
 * Resource[] objects for offers are built only for offers actually made.
 */

/** Scalars a dominant share is computed over; they sit at indexes 0..3 of every quantity vector. */
const DRF_SCALARS = ['cpus', 'mem', 'disk', 'gpus'] as const;
const DRF_COUNT = DRF_SCALARS.length;

/**
 * Mesos' default --min_allocatable_resources ("cpus:0.01|mem:32"): an offer must hold at least
 * this much cpus or mem, so that leftovers such as a lone port range are not offered.
 */
const MIN_ALLOCATABLE_CPUS = 0.01;
const MIN_ALLOCATABLE_MEM_MB = 32;

const UNRESERVED = '*';

/** Most chunks kept per (subscription, agent) before they are merged into one list. */
const MAX_CHUNKS = 8;

interface FrameworkRec {
  id: string;
  /** Dense index, reused after removal; used in per-agent "offered this cycle" lists. */
  idx: number;
  /**
   * False for a framework only known from allocations (an agent reregistered with its tasks
   * before the framework reregistered, after a master failover). It gets no offers.
   */
  known: boolean;
  active: boolean;
  /** Role name -> subscription. */
  subs: Map<string, SubRec>;
}

/** A framework in one role: the client of the role's DRF sorter. */
interface SubRec {
  id: number;
  fw: FrameworkRec;
  role: RoleRec;
  /** Tie-breaker: the order in which subscriptions were made. */
  seq: number;
  /** False when the framework left the role but still holds resources allocated under it. */
  subscribed: boolean;
  suppressed: boolean;
  /** Allocated quantities, by scalar index. */
  alloc: number[];
  share: number;
  /** Agents (by index) where this subscription holds resources. */
  allocAgents: Set<number>;
  /** Refuse filters: agent index -> the time (ms) the filter ends. */
  filters: Map<number, number>;
}

interface RoleRec {
  name: string;
  seq: number;
  subs: SubRec[];
  /** Allocated quantities of all its subscriptions, by scalar index. */
  alloc: number[];
  /** Weighted dominant share, as of the last sort. */
  share: number;
  /**
   * Ids of the subscriptions that may receive offers this cycle, sorted by share then seq; a
   * typed array so that moving one entry is a memmove.
   */
  order: Int32Array;
  eligible: number;
  /** Per-cycle quota bookkeeping (undefined when the role has no quota). */
  unmet: number[] | undefined;
  limitLeft: number[] | undefined;
}

interface AgentRec {
  id: string;
  idx: number;
  hostname: string;
  active: boolean;
  total: Resource[];
  totalQ: number[];
  /**
   * Subscription id -> what it holds here, as chunks: each a normalized list without
   * allocation_info, usually one per offer, so that a declined offer is dropped whole with no
   * arithmetic. At most MAX_CHUNKS; more are merged into one.
   */
  allocs: Map<number, Resource[][]>;
  /** Free resources (normalized), the reservation role of each entry, and summaries. */
  free: Resource[];
  freeRole: string[];
  hasUnreserved: boolean;
  reservedRoles: string[];
  /** Bit `id` set when subscription `id` has a refuse filter here (its end is in sub.filters). */
  filterBits: Uint32Array;
  filterCount: number;
  /** No filter here ends before this (a lower bound; exact after a sweep). */
  filterMinUntilMs: number;
  /** True when the resources reported in use exceed the total (the free pool was clamped). */
  overcommitted: boolean;
  /** Frameworks (by idx) that got an offer on this agent in cycle `offeredCycle`. */
  offeredCycle: number;
  offeredFws: number[];
}

/** Quota bookkeeping for one cycle, by scalar index. */
interface QuotaCycle {
  /** Unallocated unreserved resources on active agents. */
  available: number[];
  /** Sum of unmet guarantees over all roles: what non-quota allocations must leave alone. */
  required: number[];
}

const EMPTY_BITS = new Uint32Array(0);

/** v[k] += x, growing v with zeros when k is a scalar name registered after v was made. */
const addAt = (v: number[], k: number, x: number): void => {
  while (v.length <= k) v.push(0);
  v[k] = roundScalar((v[k] as number) + x);
};

/** Rounds down to whole thousandths, so a trimmed amount never exceeds its cap. */
const floorMilli = (v: number): number => Math.floor(v * 1000 + 1e-6) / 1000;

export class HierarchicalAllocator implements Allocator {
  private readonly random: Random;

  private readonly frameworks = new Map<string, FrameworkRec>();
  private readonly fwFreeIdx: number[] = [];
  private fwNextIdx = 0;

  private readonly roleRecs = new Map<string, RoleRec>();
  private roleSeq = 0;
  private readonly subsById: (SubRec | undefined)[] = [];
  private readonly subFreeIds: number[] = [];
  private subSeq = 0;

  private readonly agents = new Map<string, AgentRec>();
  private readonly agentsByIdx: (AgentRec | undefined)[] = [];
  private readonly agentFreeIdx: number[] = [];

  private readonly scalarIdx = new Map<string, number>();
  private readonly scalarNames: string[] = [];
  /** Cluster total of every agent, active or not (as Mesos' sorters count it). */
  private readonly totalQ: number[] = [];

  private readonly weights = new Map<string, number>();
  private readonly quotas = new Map<string, QuotaConfig>();

  private cycle = 0;
  private lastNowMs = Number.NEGATIVE_INFINITY;

  constructor(opts: { random: Random }) {
    this.random = opts.random;
    for (const name of DRF_SCALARS) this.scalarIndex(name);
  }

  // --- frameworks ------------------------------------------------------------------------------

  addFramework(frameworkId: string, options: AllocatorFrameworkOptions): void {
    const fw = this.ensureFramework(frameworkId);
    fw.known = true;
    fw.active = options.active ?? true;
    this.applyRoles(fw, options);
  }

  updateFramework(frameworkId: string, options: AllocatorFrameworkOptions): void {
    const fw = this.frameworks.get(frameworkId);
    if (fw === undefined || !fw.known) {
      this.addFramework(frameworkId, options);
      return;
    }
    if (options.active !== undefined) fw.active = options.active;
    this.applyRoles(fw, options);
  }

  removeFramework(frameworkId: string): void {
    const fw = this.frameworks.get(frameworkId);
    if (fw === undefined) return;
    for (const sub of [...fw.subs.values()]) {
      for (const agentIdx of [...sub.allocAgents]) {
        const agent = this.agentsByIdx[agentIdx] as AgentRec;
        this.giveBack(agent, this.releaseAll(agent, sub));
      }
      this.deleteSub(sub);
    }
    this.frameworks.delete(frameworkId);
    this.fwFreeIdx.push(fw.idx);
  }

  activateFramework(frameworkId: string): void {
    const fw = this.frameworks.get(frameworkId);
    if (fw !== undefined) fw.active = true;
  }

  deactivateFramework(frameworkId: string): void {
    const fw = this.frameworks.get(frameworkId);
    if (fw !== undefined) fw.active = false;
  }

  // --- agents ----------------------------------------------------------------------------------

  addAgent(agentId: string, options: AllocatorAgentOptions): void {
    if (this.agents.has(agentId)) this.removeAgent(agentId);
    const total = normalize(unallocated(options.total));
    const idx = this.agentFreeIdx.pop() ?? this.agentsByIdx.length;
    const agent: AgentRec = {
      id: agentId,
      idx,
      hostname: options.hostname,
      active: options.active ?? true,
      total,
      totalQ: this.quantities(total),
      allocs: new Map(),
      free: [],
      freeRole: [],
      hasUnreserved: false,
      reservedRoles: [],
      filterBits: EMPTY_BITS,
      filterCount: 0,
      filterMinUntilMs: Number.POSITIVE_INFINITY,
      overcommitted: false,
      offeredCycle: 0,
      offeredFws: [],
    };
    this.agents.set(agentId, agent);
    this.agentsByIdx[idx] = agent;
    for (let k = 0; k < agent.totalQ.length; k++) addAt(this.totalQ, k, agent.totalQ[k] as number);
    for (const u of options.used ?? []) this.hold(agent, this.ensureSub(this.ensureFramework(u.frameworkId), u.role), u.resources);
    this.recomputeFree(agent);
  }

  removeAgent(agentId: string): void {
    const agent = this.agents.get(agentId);
    if (agent === undefined) return;
    for (const subId of [...agent.allocs.keys()]) {
      const sub = this.subsById[subId] as SubRec;
      this.releaseAll(agent, sub);
      this.dropSubIfDone(sub);
    }
    this.forEachFilteredSub(agent, (sub) => sub.filters.delete(agent.idx));
    for (let k = 0; k < agent.totalQ.length; k++) addAt(this.totalQ, k, -(agent.totalQ[k] as number));
    this.agents.delete(agentId);
    this.agentsByIdx[agent.idx] = undefined;
    this.agentFreeIdx.push(agent.idx);
  }

  activateAgent(agentId: string): void {
    const agent = this.agents.get(agentId);
    if (agent !== undefined) agent.active = true;
  }

  deactivateAgent(agentId: string): void {
    const agent = this.agents.get(agentId);
    if (agent !== undefined) agent.active = false;
  }

  // --- allocations -----------------------------------------------------------------------------

  recoverResources(frameworkId: string, agentId: string, resources: Resource[], filter?: { refuseSeconds: number; nowMs: number }): void {
    const fw = this.frameworks.get(frameworkId);
    const agent = this.agents.get(agentId);
    // Races with removal are normal: the framework or agent may already be gone.
    if (fw === undefined || agent === undefined) return;

    // Group by the role the resources were allocated to (allocation_info, stamped on offers).
    // Unstamped resources go to the framework's first role that holds resources here.
    const byRole = new Map<SubRec, Resource[]>();
    for (const r of resources) {
      const role = r.allocation_info?.role;
      let sub = role !== undefined ? fw.subs.get(role) : undefined;
      if (sub === undefined && role === undefined) {
        for (const s of fw.subs.values()) {
          if (agent.allocs.has(s.id)) {
            sub = s;
            break;
          }
        }
      }
      if (sub === undefined) continue;
      let list = byRole.get(sub);
      if (list === undefined) byRole.set(sub, (list = []));
      list.push(r);
    }

    for (const [sub, rs] of byRole) {
      const chunks = agent.allocs.get(sub.id);
      if (chunks === undefined) continue;
      // A declined offer comes back whole: it matches the chunk it was made from.
      const c = chunks.findIndex((chunk) => sameList(chunk, rs));
      if (c >= 0) {
        this.giveBack(agent, this.releaseChunk(agent, sub, chunks, c));
        continue;
      }
      // Otherwise, only what is actually held comes back: recovering more is clamped.
      const recovered = normalize(rs);
      for (const r of recovered) delete r.allocation_info; // one role per group: nothing merges wrongly
      this.giveBack(agent, this.release(agent, sub, recovered));
    }

    if (filter !== undefined && filter.refuseSeconds > 0) {
      const untilMs = filter.nowMs + filter.refuseSeconds * 1000;
      const subs = byRole.size > 0 ? [...byRole.keys()] : [...fw.subs.values()];
      for (const sub of subs) if (sub.subscribed) this.setFilter(agent, sub, untilMs);
    }
    for (const sub of byRole.keys()) this.dropSubIfDone(sub);
  }

  addAllocation(frameworkId: string, agentId: string, role: string, resources: Resource[]): void {
    const agent = this.agents.get(agentId);
    if (agent === undefined) return;
    this.hold(agent, this.ensureSub(this.ensureFramework(frameworkId), role), resources);
    this.recomputeFree(agent);
  }

  // --- suppress / revive -----------------------------------------------------------------------

  suppress(frameworkId: string, roles?: string[]): void {
    for (const sub of this.subsOf(frameworkId, roles)) sub.suppressed = true;
  }

  revive(frameworkId: string, roles?: string[]): void {
    for (const sub of this.subsOf(frameworkId, roles)) {
      sub.suppressed = false;
      this.clearFilters(sub);
    }
  }

  // --- weights and quota -----------------------------------------------------------------------

  setWeights(weights: Record<string, number>): void {
    for (const [role, w] of Object.entries(weights)) {
      assert(Number.isFinite(w) && w > 0, `weight of role '${role}' must be a positive number`);
      this.weights.set(role, w);
    }
  }

  getWeights(): Record<string, number> {
    return Object.fromEntries(this.weights);
  }

  setQuota(role: string, quota: QuotaConfig | undefined): void {
    if (quota === undefined) {
      this.quotas.delete(role);
      return;
    }
    for (const [name, g] of Object.entries(quota.guarantees)) {
      assert(Number.isFinite(g) && g >= 0, `quota guarantee of '${name}' must be a non-negative number`);
      const limit = quota.limits[name];
      assert(limit === undefined || g <= limit, `quota guarantee of '${name}' exceeds its limit`);
    }
    for (const [name, l] of Object.entries(quota.limits)) assert(l >= 0, `quota limit of '${name}' must be a non-negative number`);
    for (const name of [...Object.keys(quota.guarantees), ...Object.keys(quota.limits)]) this.scalarIndex(name);
    this.quotas.set(role, { guarantees: { ...quota.guarantees }, limits: { ...quota.limits } });
  }

  getQuotas(): Record<string, QuotaConfig> {
    const out: Record<string, QuotaConfig> = {};
    for (const [role, q] of this.quotas) out[role] = { guarantees: { ...q.guarantees }, limits: { ...q.limits } };
    return out;
  }

  // --- the allocation cycle --------------------------------------------------------------------

  allocate(nowMs: number, agentIds?: Iterable<string>): Allocation[] {
    this.cycle++;
    this.lastNowMs = nowMs;
    const offers: Allocation[] = [];
    const roleOrder = this.sortRoles();
    if (roleOrder.length === 0) return offers;

    const agents: AgentRec[] = [];
    const offerable = (a: AgentRec | undefined): a is AgentRec => a?.active === true && (a.hasUnreserved || a.reservedRoles.length > 0);
    if (agentIds === undefined) {
      for (const a of this.agentsByIdx) if (offerable(a)) agents.push(a);
    } else {
      const seen = new Set<AgentRec>();
      for (const id of agentIds) {
        const a = this.agents.get(id);
        if (offerable(a) && !seen.has(a)) {
          seen.add(a);
          agents.push(a);
        }
      }
      if (agents.length === 0) return offers;
    }
    this.random.shuffle(agents);

    const quota = this.quotas.size > 0 ? this.startQuotaCycle() : undefined;
    // Stage 1: roles with unmet guarantees, on every agent, before anyone else.
    if (quota?.required.some((x) => x > 0)) {
      const quotaRoles = roleOrder.filter((r) => r.unmet?.some((x) => x > 0));
      if (quotaRoles.length > 0) {
        for (const agent of agents) this.allocateOn(agent, quotaRoles, quota, true, nowMs, offers);
        roleOrder.sort(compareRoles); // stage 1 moved shares
        // As Mesos does: a fresh order spreads out stage 1's bias toward the first agents.
        this.random.shuffle(agents);
      }
    }
    // Stage 2: everyone, within limits and leaving the headroom unmet guarantees need.
    for (const agent of agents) this.allocateOn(agent, roleOrder, quota, false, nowMs, offers);
    return offers;
  }

  private allocateOn(agent: AgentRec, roleOrder: RoleRec[], quota: QuotaCycle | undefined, guaranteesOnly: boolean, nowMs: number, offers: Allocation[]): void {
    const cycle = this.cycle;
    let changedRoles: RoleRec[] | undefined;
    if (agent.filterCount > 0 && nowMs >= agent.filterMinUntilMs) this.sweepFilters(agent, nowMs);
    // After the sweep every filter left on the agent is in force: a set bit means "filtered".
    const bits = agent.filterBits;
    const bitWords = agent.filterCount > 0 ? bits.length : 0;
    for (let ri = 0; ri < roleOrder.length; ri++) {
      if (!agent.hasUnreserved && agent.reservedRoles.length === 0) break;
      const role = roleOrder[ri] as RoleRec;
      if (!agent.hasUnreserved && !agent.reservedRoles.includes(role.name)) continue;
      const order = role.order;
      const eligible = role.eligible;
      const subsById = this.subsById;
      for (let i = 0; i < eligible; i++) {
        const sub = subsById[order[i] as number] as SubRec;
        if (agent.offeredCycle === cycle && agent.offeredFws.includes(sub.fw.idx)) continue;
        const id = sub.id;
        if (id >>> 5 < bitWords && ((bits[id >>> 5] as number) & (1 << (id & 31))) !== 0) continue;
        // The first framework in share order that may take resources here: offer it all it may
        // use, or nothing if that is not allocatable (then nobody else in the role can use it).
        const taken = quota === undefined ? this.takeAll(agent, role.name) : this.takeQuota(agent, role, quota, guaranteesOnly);
        if (taken === undefined) break;
        this.recordOffer(agent, sub, taken, offers);
        this.moveRight(order, i, eligible);
        (changedRoles ??= []).push(role);
        break;
      }
    }
    // Shares only grew. Re-place the changed roles rightmost first, so that each one moves into
    // a part of the order that is already sorted (changedRoles is in order of position).
    if (changedRoles !== undefined) for (let c = changedRoles.length - 1; c >= 0; c--) this.moveRoleRight(roleOrder, changedRoles[c] as RoleRec);
  }

  /** Takes every free entry usable by `role` from the agent, if that is an allocatable amount. */
  private takeAll(agent: AgentRec, role: string): Resource[] | undefined {
    const free = agent.free;
    const freeRole = agent.freeRole;
    const taken: Resource[] = [];
    let rest: Resource[] | undefined;
    let cpus = 0;
    let mem = 0;
    for (let j = 0; j < free.length; j++) {
      const r = free[j] as Resource;
      const rr = freeRole[j];
      if (rr === UNRESERVED || rr === role) {
        taken.push(r);
        if (r.type === 'SCALAR') {
          if (r.name === 'cpus') cpus += r.scalar?.value ?? 0;
          else if (r.name === 'mem') mem += r.scalar?.value ?? 0;
        }
      } else (rest ??= []).push(r);
    }
    if (cpus < MIN_ALLOCATABLE_CPUS && mem < MIN_ALLOCATABLE_MEM_MB) return undefined;
    this.setFree(agent, rest ?? []);
    return taken;
  }

  /**
   * Like takeAll, with quota: unreserved scalars are trimmed to the role's limit and to what
   * the unmet guarantees of all roles leave over (the headroom), except for the part that meets
   * this role's own unmet guarantee. With `guaranteesOnly` (stage 1), the offer must hold
   * something reserved for the role or something toward its guarantee.
   */
  private takeQuota(agent: AgentRec, role: RoleRec, quota: QuotaCycle, guaranteesOnly: boolean): Resource[] | undefined {
    const free = agent.free;
    const amounts: number[] = new Array(free.length).fill(0);
    const toward: number[] = new Array(free.length).fill(0);
    let useful = false;
    let cpus = 0;
    let mem = 0;
    for (let j = 0; j < free.length; j++) {
      const r = free[j] as Resource;
      const rr = agent.freeRole[j];
      if (rr !== UNRESERVED && rr !== role.name) continue;
      const have = r.type === 'SCALAR' ? (r.scalar?.value ?? 0) : 1;
      let amount = have;
      if (rr === role.name) useful = true;
      else if (r.type === 'SCALAR') {
        const k = this.scalarIndex(r.name);
        const unmet = role.unmet?.[k] ?? 0;
        const guaranteed = Math.min(have, unmet);
        const surplus = (quota.available[k] ?? 0) - (quota.required[k] ?? 0);
        const extra = Math.min(have - guaranteed, Math.max(0, surplus));
        amount = floorMilli(Math.min(guaranteed + extra, Math.max(0, role.limitLeft?.[k] ?? Number.POSITIVE_INFINITY)));
        const g = Math.min(guaranteed, amount);
        toward[j] = g;
        if (g > 0) useful = true;
      }
      amounts[j] = amount;
      if (r.type === 'SCALAR' && amount > 0) {
        if (r.name === 'cpus') cpus += amount;
        else if (r.name === 'mem') mem += amount;
      }
    }
    if (guaranteesOnly && !useful) return undefined;
    if (cpus < MIN_ALLOCATABLE_CPUS && mem < MIN_ALLOCATABLE_MEM_MB) return undefined;

    const taken: Resource[] = [];
    const rest: Resource[] = [];
    for (let j = 0; j < free.length; j++) {
      const r = free[j] as Resource;
      const amount = amounts[j] as number;
      if (amount <= 0) {
        rest.push(r);
        continue;
      }
      if (r.type !== 'SCALAR' || amount >= (r.scalar?.value ?? 0)) {
        taken.push(r);
      } else {
        taken.push({ ...r, scalar: { value: amount } });
        rest.push({ ...r, scalar: { value: roundScalar((r.scalar?.value ?? 0) - amount) } });
      }
      if (r.type === 'SCALAR' && agent.freeRole[j] === UNRESERVED) {
        const k = this.scalarIndex(r.name);
        const g = toward[j] as number;
        addAt(quota.available, k, -amount);
        if (g > 0) {
          addAt(quota.required, k, -g);
          addAt(role.unmet as number[], k, -g);
        }
        if (role.limitLeft !== undefined) addAt(role.limitLeft, k, -amount);
      }
    }
    this.setFree(agent, rest);
    return taken;
  }

  private recordOffer(agent: AgentRec, sub: SubRec, taken: Resource[], offers: Allocation[]): void {
    if (agent.offeredCycle !== this.cycle) {
      agent.offeredCycle = this.cycle;
      agent.offeredFws.length = 0;
    }
    agent.offeredFws.push(sub.fw.idx);
    this.holdNormalized(agent, sub, taken);
    sub.share = this.share(sub.alloc);
    sub.role.share = this.share(sub.role.alloc) / this.weightOf(sub.role.name);
    const role = sub.role.name;
    const resources: Resource[] = new Array(taken.length);
    for (let j = 0; j < taken.length; j++) resources[j] = stampedCopy(taken[j] as Resource, role);
    offers.push({ frameworkId: sub.fw.id, agentId: agent.id, role, resources });
  }

  /** The subscription at `i` got more: move it right to its place among the first `end`. */
  private moveRight(order: Int32Array, i: number, end: number): void {
    const id = order[i] as number;
    const sub = this.subsById[id] as SubRec;
    let lo = i + 1;
    let hi = end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (subBefore(this.subsById[order[mid] as number] as SubRec, sub)) lo = mid + 1;
      else hi = mid;
    }
    if (lo === i + 1) return;
    order.copyWithin(i, i + 1, lo);
    order[lo - 1] = id;
  }

  private moveRoleRight(roleOrder: RoleRec[], role: RoleRec): void {
    let i = roleOrder.indexOf(role);
    while (i + 1 < roleOrder.length && roleBefore(roleOrder[i + 1] as RoleRec, role)) {
      roleOrder[i] = roleOrder[i + 1] as RoleRec;
      i++;
    }
    roleOrder[i] = role;
  }

  /** Recomputes every share and sorts roles and their subscriptions; once per cycle. */
  private sortRoles(): RoleRec[] {
    const out: RoleRec[] = [];
    for (const role of this.roleRecs.values()) {
      const eligible: SubRec[] = [];
      for (const sub of role.subs) {
        if (!(sub.subscribed && !sub.suppressed && sub.fw.known && sub.fw.active)) continue;
        sub.share = this.share(sub.alloc);
        eligible.push(sub);
      }
      eligible.sort(compareSubs);
      if (role.order.length < eligible.length) role.order = new Int32Array(Math.max(eligible.length, 2 * role.order.length));
      for (let i = 0; i < eligible.length; i++) role.order[i] = (eligible[i] as SubRec).id;
      role.eligible = eligible.length;
      role.share = this.share(role.alloc) / this.weightOf(role.name);
      role.unmet = undefined;
      role.limitLeft = undefined;
      if (eligible.length > 0) out.push(role);
    }
    return out.sort(compareRoles);
  }

  private startQuotaCycle(): QuotaCycle {
    const n = this.scalarNames.length;
    const available: number[] = new Array(n).fill(0);
    const required: number[] = new Array(n).fill(0);
    // Reserved but unallocated resources count toward their role's quota, as in Mesos.
    const unallocatedReserved = new Map<string, number[]>();
    for (const agent of this.agentsByIdx) {
      if (agent === undefined) continue;
      for (let j = 0; j < agent.free.length; j++) {
        const r = agent.free[j] as Resource;
        if (r.type !== 'SCALAR') continue;
        const rr = agent.freeRole[j] as string;
        const k = this.scalarIndex(r.name);
        if (rr === UNRESERVED) {
          if (agent.active) addAt(available, k, r.scalar?.value ?? 0);
        } else if (this.quotas.has(rr)) {
          let v = unallocatedReserved.get(rr);
          if (v === undefined) unallocatedReserved.set(rr, (v = new Array(n).fill(0)));
          addAt(v, k, r.scalar?.value ?? 0);
        }
      }
    }
    for (const [name, q] of this.quotas) {
      const role = this.roleRecs.get(name);
      const reserved = unallocatedReserved.get(name);
      const consumed = (k: number) => (role?.alloc[k] ?? 0) + (reserved?.[k] ?? 0);
      const unmet: number[] = new Array(n).fill(0);
      for (const [res, g] of Object.entries(q.guarantees)) {
        const k = this.scalarIndex(res);
        unmet[k] = roundScalar(Math.max(0, g - consumed(k)));
        addAt(required, k, unmet[k] as number);
      }
      if (role === undefined) continue;
      role.unmet = unmet;
      const limitLeft: number[] = new Array(n).fill(Number.POSITIVE_INFINITY);
      for (const [res, l] of Object.entries(q.limits)) {
        const k = this.scalarIndex(res);
        limitLeft[k] = roundScalar(Math.max(0, l - consumed(k)));
      }
      role.limitLeft = limitLeft;
    }
    return { available, required };
  }

  // --- queries ---------------------------------------------------------------------------------

  roleAllocation(role: string): Resource[] {
    const rec = this.roleRecs.get(role);
    if (rec === undefined) return [];
    const all: Resource[] = [];
    for (const sub of rec.subs)
      for (const agentIdx of sub.allocAgents) for (const chunk of (this.agentsByIdx[agentIdx] as AgentRec).allocs.get(sub.id) ?? []) all.push(...chunk);
    return allocatedTo(normalize(all), role);
  }

  roles(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [name, role] of this.roleRecs)
      out.set(
        name,
        role.subs.map((s) => s.fw.id),
      );
    return out;
  }

  stats(): AllocatorStats {
    let filters = 0;
    for (const sub of this.subsById) {
      if (sub === undefined) continue;
      for (const untilMs of sub.filters.values()) if (untilMs > this.lastNowMs) filters++;
    }
    let frameworks = 0;
    for (const fw of this.frameworks.values()) if (fw.known) frameworks++;
    return { agents: this.agents.size, frameworks, roles: this.roleRecs.size, allocationRuns: this.cycle, filters };
  }

  // --- bookkeeping -----------------------------------------------------------------------------

  private ensureFramework(frameworkId: string): FrameworkRec {
    let fw = this.frameworks.get(frameworkId);
    if (fw === undefined) {
      const idx = this.fwFreeIdx.pop() ?? this.fwNextIdx++;
      fw = { id: frameworkId, idx, known: false, active: false, subs: new Map() };
      this.frameworks.set(frameworkId, fw);
    }
    return fw;
  }

  /** The framework's subscription to `role`, created unsubscribed when it does not exist. */
  private ensureSub(fw: FrameworkRec, roleName: string): SubRec {
    const existing = fw.subs.get(roleName);
    if (existing !== undefined) return existing;
    let role = this.roleRecs.get(roleName);
    if (role === undefined) {
      role = {
        name: roleName,
        seq: this.roleSeq++,
        subs: [],
        alloc: new Array(this.scalarNames.length).fill(0),
        share: 0,
        order: new Int32Array(4),
        eligible: 0,
        unmet: undefined,
        limitLeft: undefined,
      };
      this.roleRecs.set(roleName, role);
    }
    const id = this.subFreeIds.pop() ?? this.subsById.length;
    const sub: SubRec = {
      id,
      fw,
      role,
      seq: this.subSeq++,
      subscribed: false,
      suppressed: false,
      alloc: new Array(this.scalarNames.length).fill(0),
      share: 0,
      allocAgents: new Set(),
      filters: new Map(),
    };
    this.subsById[id] = sub;
    fw.subs.set(roleName, sub);
    role.subs.push(sub);
    return sub;
  }

  private applyRoles(fw: FrameworkRec, options: AllocatorFrameworkOptions): void {
    const wanted = new Set(options.roles);
    const suppressed = new Set(options.suppressedRoles ?? []);
    for (const sub of [...fw.subs.values()]) {
      if (wanted.has(sub.role.name)) continue;
      sub.subscribed = false;
      this.clearFilters(sub);
      this.dropSubIfDone(sub);
    }
    for (const role of wanted) {
      const sub = this.ensureSub(fw, role);
      sub.subscribed = true;
      sub.suppressed = suppressed.has(role);
    }
  }

  private subsOf(frameworkId: string, roles: string[] | undefined): SubRec[] {
    const fw = this.frameworks.get(frameworkId);
    if (fw === undefined) return [];
    if (roles === undefined || roles.length === 0) return [...fw.subs.values()];
    const out: SubRec[] = [];
    for (const role of roles) {
      const sub = fw.subs.get(role);
      if (sub !== undefined) out.push(sub);
    }
    return out;
  }

  /** Deletes a subscription that is neither subscribed nor holding anything. */
  private dropSubIfDone(sub: SubRec): void {
    if (this.subsById[sub.id] !== sub) return; // already deleted
    if (sub.subscribed || sub.allocAgents.size > 0) return;
    this.deleteSub(sub);
    const fw = sub.fw;
    if (!fw.known && fw.subs.size === 0) {
      this.frameworks.delete(fw.id);
      this.fwFreeIdx.push(fw.idx);
    }
  }

  private deleteSub(sub: SubRec): void {
    this.clearFilters(sub);
    const role = sub.role;
    const at = role.subs.indexOf(sub);
    if (at >= 0) role.subs.splice(at, 1);
    for (let k = 0; k < sub.alloc.length; k++) if (sub.alloc[k] !== 0) addAt(role.alloc, k, -(sub.alloc[k] as number));
    if (role.subs.length === 0) this.roleRecs.delete(role.name);
    sub.fw.subs.delete(role.name);
    this.subsById[sub.id] = undefined;
    this.subFreeIds.push(sub.id);
  }

  /** Records `resources` (any form) as held by `sub` on `agent`. Call recomputeFree after. */
  private hold(agent: AgentRec, sub: SubRec, resources: readonly Resource[]): void {
    this.holdNormalized(agent, sub, normalize(unallocated(resources)));
  }

  /**
   * Like hold, for resources already normalized and unstamped (the list is kept, not copied);
   * does not touch the free pool.
   */
  private holdNormalized(agent: AgentRec, sub: SubRec, resources: Resource[]): void {
    if (resources.length === 0) return;
    const chunks = agent.allocs.get(sub.id);
    if (chunks === undefined) agent.allocs.set(sub.id, [resources]);
    else if (chunks.length < MAX_CHUNKS) chunks.push(resources);
    else agent.allocs.set(sub.id, [normalize([...chunks.flat(), ...resources])]);
    sub.allocAgents.add(agent.idx);
    this.addQuantities(sub, resources, 1);
  }

  /** Forgets chunk `c` of `sub` on `agent` and returns it, for giveBack. */
  private releaseChunk(agent: AgentRec, sub: SubRec, chunks: Resource[][], c: number): Resource[] {
    const chunk = chunks[c] as Resource[];
    chunks.splice(c, 1);
    if (chunks.length === 0) {
      agent.allocs.delete(sub.id);
      sub.allocAgents.delete(agent.idx);
    }
    this.addQuantities(sub, chunk, -1);
    return chunk;
  }

  /**
   * Forgets that `sub` holds `resources` (normalized, unstamped) on `agent`, clamped to what it
   * holds. Returns what was released, for giveBack.
   */
  private release(agent: AgentRec, sub: SubRec, resources: Resource[]): Resource[] {
    const chunks = agent.allocs.get(sub.id);
    if (chunks === undefined) return [];
    const held = chunks.length === 1 ? (chunks[0] as Resource[]) : normalize(chunks.flat());
    const rest = subtract(held, resources);
    const released = rest.length === 0 ? held : subtract(held, rest);
    this.addQuantities(sub, released, -1);
    if (rest.length > 0) agent.allocs.set(sub.id, [rest]);
    else {
      agent.allocs.delete(sub.id);
      sub.allocAgents.delete(agent.idx);
    }
    return released;
  }

  /** Forgets everything `sub` holds on `agent` and returns it, for giveBack. */
  private releaseAll(agent: AgentRec, sub: SubRec): Resource[] {
    const chunks = agent.allocs.get(sub.id);
    if (chunks === undefined) return [];
    const held = chunks.length === 1 ? (chunks[0] as Resource[]) : normalize(chunks.flat());
    agent.allocs.delete(sub.id);
    sub.allocAgents.delete(agent.idx);
    this.addQuantities(sub, held, -1);
    return held;
  }

  /** Returns released resources to the agent's free pool. */
  private giveBack(agent: AgentRec, released: Resource[]): void {
    if (released.length === 0) return;
    // An agent whose reported use exceeded its total had its free pool clamped; adding back
    // would overstate it, so recompute from scratch.
    if (agent.overcommitted) {
      this.recomputeFree(agent);
      return;
    }
    this.setFree(agent, agent.free.length === 0 ? released : normalize([...agent.free, ...released]));
  }

  private addQuantities(sub: SubRec, resources: readonly Resource[], sign: 1 | -1): void {
    for (const r of resources) {
      if (r.type !== 'SCALAR') continue;
      const k = this.scalarIndex(r.name);
      const v = sign * (r.scalar?.value ?? 0);
      addAt(sub.alloc, k, v);
      addAt(sub.role.alloc, k, v);
    }
  }

  private recomputeFree(agent: AgentRec): void {
    agent.overcommitted = false;
    if (agent.allocs.size === 0) {
      this.setFree(agent, agent.total);
      return;
    }
    const used: Resource[] = [];
    for (const chunks of agent.allocs.values()) for (const chunk of chunks) used.push(...chunk);
    agent.overcommitted = !contains(agent.total, used);
    this.setFree(agent, subtract(agent.total, used));
  }

  private setFree(agent: AgentRec, free: Resource[]): void {
    agent.free = free;
    agent.freeRole = free.map(reservationRole);
    agent.hasUnreserved = false;
    agent.reservedRoles = [];
    for (const rr of agent.freeRole) {
      if (rr === UNRESERVED) agent.hasUnreserved = true;
      else if (!agent.reservedRoles.includes(rr)) agent.reservedRoles.push(rr);
    }
  }

  private setFilter(agent: AgentRec, sub: SubRec, untilMs: number): void {
    const id = sub.id;
    const w = id >>> 5;
    if (w >= agent.filterBits.length) {
      const grown = new Uint32Array(Math.max(w + 1, (this.subsById.length + 31) >>> 5));
      grown.set(agent.filterBits);
      agent.filterBits = grown;
    }
    const bit = 1 << (id & 31);
    if (((agent.filterBits[w] as number) & bit) === 0) {
      agent.filterBits[w] = (agent.filterBits[w] as number) | bit;
      agent.filterCount++;
    }
    sub.filters.set(agent.idx, untilMs);
    if (untilMs < agent.filterMinUntilMs) agent.filterMinUntilMs = untilMs;
  }

  private deleteFilter(agent: AgentRec, sub: SubRec): void {
    if (!sub.filters.delete(agent.idx)) return;
    const w = sub.id >>> 5;
    agent.filterBits[w] = (agent.filterBits[w] as number) & ~(1 << (sub.id & 31));
    agent.filterCount--;
    if (agent.filterCount === 0) {
      agent.filterBits = EMPTY_BITS;
      agent.filterMinUntilMs = Number.POSITIVE_INFINITY;
    }
  }

  private clearFilters(sub: SubRec): void {
    for (const agentIdx of [...sub.filters.keys()]) {
      const agent = this.agentsByIdx[agentIdx];
      if (agent !== undefined) this.deleteFilter(agent, sub);
    }
    sub.filters.clear();
  }

  /** Drops the agent's expired filters and makes filterMinUntilMs exact again. */
  private sweepFilters(agent: AgentRec, nowMs: number): void {
    let minUntilMs = Number.POSITIVE_INFINITY;
    const expired: SubRec[] = [];
    this.forEachFilteredSub(agent, (sub) => {
      const untilMs = sub.filters.get(agent.idx) as number;
      if (nowMs >= untilMs) expired.push(sub);
      else if (untilMs < minUntilMs) minUntilMs = untilMs;
    });
    for (const sub of expired) this.deleteFilter(agent, sub);
    agent.filterMinUntilMs = minUntilMs;
  }

  private forEachFilteredSub(agent: AgentRec, fn: (sub: SubRec) => void): void {
    if (agent.filterCount === 0) return;
    const bits = agent.filterBits;
    for (let w = 0; w < bits.length; w++) {
      let word = bits[w] as number;
      while (word !== 0) {
        const low = word & -word;
        const id = (w << 5) + (31 - Math.clz32(low));
        fn(this.subsById[id] as SubRec);
        word ^= low;
      }
    }
  }

  private scalarIndex(name: string): number {
    let k = this.scalarIdx.get(name);
    if (k === undefined) {
      k = this.scalarNames.length;
      this.scalarIdx.set(name, k);
      this.scalarNames.push(name);
    }
    return k;
  }

  private quantities(resources: readonly Resource[]): number[] {
    const v: number[] = new Array(this.scalarNames.length).fill(0);
    for (const r of resources) if (r.type === 'SCALAR') addAt(v, this.scalarIndex(r.name), r.scalar?.value ?? 0);
    return v;
  }

  /** Dominant share: the largest fraction of the cluster's cpus, mem, disk or gpus held. */
  private share(alloc: number[]): number {
    let s = 0;
    for (let k = 0; k < DRF_COUNT; k++) {
      const total = this.totalQ[k] ?? 0;
      if (total > 0) {
        const f = (alloc[k] ?? 0) / total;
        if (f > s) s = f;
      }
    }
    return s;
  }

  private weightOf(role: string): number {
    return this.weights.get(role) ?? 1;
  }
}

/**
 * A deep copy of a free entry stamped with allocation_info.role: the offer the master gets
 * shares nothing with the allocator's own lists. (allocatedTo does the same, more generally.)
 */
function stampedCopy(r: Resource, role: string): Resource {
  const c: Resource = { name: r.name, type: r.type };
  if (r.scalar !== undefined) c.scalar = { value: r.scalar.value };
  if (r.ranges !== undefined) {
    const src = r.ranges.range;
    const range = new Array(src.length);
    for (let i = 0; i < src.length; i++) range[i] = { begin: (src[i] as Range).begin, end: (src[i] as Range).end };
    c.ranges = { range };
  }
  if (r.set !== undefined) c.set = { item: r.set.item.slice() };
  if (r.role !== undefined) c.role = r.role;
  if (r.reservations !== undefined) c.reservations = r.reservations.map((x) => ({ ...x }));
  if (r.disk !== undefined) c.disk = JSON.parse(JSON.stringify(r.disk)) as unknown;
  if (r.revocable !== undefined) c.revocable = {};
  if (r.shared !== undefined) c.shared = {};
  c.allocation_info = { role };
  return c;
}

/**
 * Entry-by-entry equality of a held list and a recovered one (the same kinds in the same
 * order), ignoring allocation_info: the recovered list was grouped by allocation role already.
 */
function sameList(a: readonly Resource[], b: readonly Resource[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!sameEntry(a[i] as Resource, b[i] as Resource)) return false;
  return true;
}

function sameEntry(x: Resource, y: Resource): boolean {
  if (x.name !== y.name || x.type !== y.type || reservationRole(x) !== reservationRole(y)) return false;
  if (!x.revocable !== !y.revocable || !x.shared !== !y.shared) return false;
  if ((x.disk !== undefined || y.disk !== undefined) && JSON.stringify(x.disk) !== JSON.stringify(y.disk)) return false;
  switch (x.type) {
    case 'SCALAR':
      return x.scalar?.value === y.scalar?.value;
    case 'RANGES': {
      const a = x.ranges?.range ?? [];
      const b = y.ranges?.range ?? [];
      if (a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) if (a[i]?.begin !== b[i]?.begin || a[i]?.end !== b[i]?.end) return false;
      return true;
    }
    case 'SET': {
      const a = x.set?.item ?? [];
      const b = y.set?.item ?? [];
      return a.length === b.length && a.every((v, i) => v === b[i]);
    }
    default:
      return false;
  }
}

const subBefore = (a: SubRec, b: SubRec): boolean => a.share < b.share || (a.share === b.share && a.seq < b.seq);
const roleBefore = (a: RoleRec, b: RoleRec): boolean => a.share < b.share || (a.share === b.share && a.seq < b.seq);
const compareSubs = (a: SubRec, b: SubRec): number => a.share - b.share || a.seq - b.seq;
const compareRoles = (a: RoleRec, b: RoleRec): number => a.share - b.share || a.seq - b.seq;
