export { Agent, type AgentDeps, type AgentEvent, type AgentView, type ConnectionState, type LogFn, type TaskView, exitMessage } from './agent.js';
export { AGENT_DEFAULTS, type AgentConfig, type RecoverMode } from './config.js';
export { sandboxPath, validId } from './paths.js';
export { StatusUpdateManager, type SendOutcome, type StatusUpdateManagerOptions } from './status-updates.js';
