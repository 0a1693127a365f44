export { type AgentObserver, DEFAULT_SIM_AGENT, SimAgent, type SimAgentOptions } from './agent.js';
export { SIM_EPOCH_MS, SimClock } from './clock.js';
export {
  type AgentMode,
  DEFAULT_SIM_OPTIONS,
  INJECTABLE_BUGS,
  type InjectableBug,
  runSimulation,
  SimCluster,
  type SimOptions,
  type SimResult,
} from './cluster.js';
export { FAULT_KINDS, FaultInjector, type FaultKind, parseFaults } from './faults.js';
export { DEFAULT_SIM_FRAMEWORK, type SimApp, SimFramework, type SimFrameworkOptions } from './framework.js';
export { InvariantChecker, type Violation } from './invariants.js';
export { MASTER_NODE, MasterHost, type SchedulerEvent, SimMasterLink, SimSchedulerLink } from './master-host.js';
export { CLEAN_LINKS, type LinkFaults, SimNetError, SimNetwork, SimStream, ZERO_LATENCY } from './network.js';
export type { AgentNode, AgentNodeStats } from './node.js';
export { RealAgentNode, type RealAgentOptions } from './real-agent.js';
export { SimRuntime } from './runtime.js';
export { SimStore } from './store.js';
export { Trace } from './trace.js';
