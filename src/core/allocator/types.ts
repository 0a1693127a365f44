import type { Resource } from '../../model/mesos.js';

/**
 * The allocator's contract with the master. The allocator is pure bookkeeping plus a decision
 * function: no I/O, no timers, no wall clock. Time comes in as `nowMs`, randomness from the
 * injected Random, so the same inputs always produce the same offers.
 *
 * Accounting model (as in Mesos): resources offered to a framework count as allocated to it
 * until the master gives them back with `recoverResources` (declined, rescinded, left over
 * after a launch, or freed when a task ends).
 */

export interface QuotaConfig {
  /** Resources the role is guaranteed (by name, scalars only). */
  guarantees: Record<string, number>;
  /** The most the role may be allocated (by name, scalars only). */
  limits: Record<string, number>;
}

export interface AllocatorFrameworkOptions {
  /** Roles the framework subscribes to. */
  roles: string[];
  /** Roles for which the framework wants no offers (SUPPRESS). */
  suppressedRoles?: string[];
  /** Whether the framework is connected and may receive offers. */
  active?: boolean;
}

export interface AllocatorAgentOptions {
  hostname: string;
  /** The agent's total resources, including statically reserved ones. */
  total: Resource[];
  /** Resources already in use on the agent, per framework and role (from reregistration). */
  used?: { frameworkId: string; role: string; resources: Resource[] }[];
  /** Whether offers may be made from this agent (false while it is unreachable or draining). */
  active?: boolean;
}

/** One offer decision: give these resources on this agent to this framework under this role. */
export interface Allocation {
  frameworkId: string;
  agentId: string;
  role: string;
  resources: Resource[];
}

export interface AllocatorStats {
  agents: number;
  frameworks: number;
  roles: number;
  allocationRuns: number;
  /** Active filters (framework, agent) pairs. */
  filters: number;
}

export interface Allocator {
  addFramework(frameworkId: string, options: AllocatorFrameworkOptions): void;
  updateFramework(frameworkId: string, options: AllocatorFrameworkOptions): void;
  removeFramework(frameworkId: string): void;
  activateFramework(frameworkId: string): void;
  deactivateFramework(frameworkId: string): void;

  addAgent(agentId: string, options: AllocatorAgentOptions): void;
  removeAgent(agentId: string): void;
  activateAgent(agentId: string): void;
  deactivateAgent(agentId: string): void;

  /**
   * Resources of `frameworkId` on `agentId` come back to the pool. With refuseSeconds > 0 the
   * framework gets no offer from this agent until nowMs + refuseSeconds (a refuse filter).
   */
  recoverResources(frameworkId: string, agentId: string, resources: Resource[], filter?: { refuseSeconds: number; nowMs: number }): void;

  /** Marks resources on an agent as allocated to a framework outside an offer (recovery). */
  addAllocation(frameworkId: string, agentId: string, role: string, resources: Resource[]): void;

  /** SUPPRESS: no offers for these roles (all of the framework's roles when empty). */
  suppress(frameworkId: string, roles?: string[]): void;
  /** REVIVE: offers again for these roles (all when empty), and clear the framework's filters. */
  revive(frameworkId: string, roles?: string[]): void;

  setWeights(weights: Record<string, number>): void;
  getWeights(): Record<string, number>;
  setQuota(role: string, quota: QuotaConfig | undefined): void;
  getQuotas(): Record<string, QuotaConfig>;

  /**
   * One allocation cycle: hierarchical DRF over roles, then frameworks within a role; quota
   * guarantees first; refuse filters and suppression respected. Returns the offers to make
   * (at most one per framework per agent) and records them as allocated. With `agentIds`, only
   * those agents are considered (an agent that was just added or had resources freed: the
   * periodic cycle still covers every agent), so a burst of agents coming back costs each one
   * cycle over itself, not over the whole cluster.
   */
  allocate(nowMs: number, agentIds?: Iterable<string>): Allocation[];

  /** Per-role and per-framework allocation, for GET_ROLES and the legacy /roles. */
  roleAllocation(role: string): Resource[];
  /** Role → framework ids with that role. */
  roles(): Map<string, string[]>;
  stats(): AllocatorStats;
}
