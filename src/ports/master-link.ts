import type { AgentCall, AgentCommand } from '../model/agent-protocol.js';

/** The agent's side of the agent ↔ master protocol (HTTP in production, in-process in the simulator). */
export interface MasterLinkReply {
  status: number;
  body: unknown;
}

export interface CommandStream {
  close(): void;
}

export interface MasterLink {
  /** One call; rejects when the master cannot be reached. */
  call(call: AgentCall): Promise<MasterLinkReply>;
  /**
   * Opens the command stream. Resolves with the stream once the master accepted it, or with the
   * master's error reply (e.g. 409: reregister first). onClose fires once when the stream ends.
   */
  subscribe(agentId: string, onCommand: (command: AgentCommand) => void, onClose: () => void): Promise<CommandStream | MasterLinkReply>;
}
