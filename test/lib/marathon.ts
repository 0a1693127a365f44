/**
 * Fixtures for Marathon tests: a master in this process with Marathon (and, when asked, the
 * gateway) over fake agents that run what they are told over the agent protocol.
 */
import { type RunningMaster, startMaster } from '../../src/main/master.js';
import { waitFor } from './http.js';
import { type AgentOptions, FakeAgent, type Json, QUIET } from './mesos.js';

/**
 * A fake agent that runs what it is told: RUN_TASK → TASK_RUNNING (or TASK_FAILED while
 * `failNext` > 0), KILL_TASK of a running task → TASK_KILLED. It remembers every launched TaskInfo.
 */
export class TaskAgent {
  readonly running = new Map<string, Json>();
  readonly launched: Json[] = [];
  /** How many of the next launches fail with TASK_FAILED. */
  failNext = 0;
  /** What the agent's health checker reports for tasks that carry a health_check (undefined: nothing). */
  health: boolean | undefined = true;
  private seen = 0;
  private busy = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  constructor(
    readonly agent: FakeAgent,
    private readonly fwId: () => string,
  ) {
    // An update still in flight when the test closes this agent and stops the master fails with
    // "fetch failed": that one is expected. One that fails while the agent is open is printed
    // (the test then fails by waiting for the state that update should have made).
    this.timer = setInterval(() => {
      this.pump().catch((e: Error) => {
        if (!this.closed) console.error(`TaskAgent: ${e.message}`);
      });
    }, 10);
  }
  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const evs = this.agent.stream?.events ?? [];
      while (this.seen < evs.length) {
        const c = evs[this.seen++] as Json;
        if (c.type === 'RUN_TASK') {
          this.launched.push(c.task);
          if (this.failNext > 0) {
            this.failNext--;
            await this.agent.update(this.fwId(), c.task.task_id.value, 'TASK_FAILED', { message: 'exit 1' });
          } else {
            this.running.set(c.task.task_id.value, c.task);
            await this.agent.update(this.fwId(), c.task.task_id.value, 'TASK_RUNNING');
            if (c.task.health_check && this.health !== undefined)
              await this.agent.update(this.fwId(), c.task.task_id.value, 'TASK_RUNNING', {
                healthy: this.health,
                reason: 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED',
              });
          }
        } else if (c.type === 'KILL_TASK' && this.running.delete(c.task_id.value)) {
          await this.agent.update(this.fwId(), c.task_id.value, 'TASK_KILLED');
        }
      }
    } finally {
      this.busy = false;
    }
  }
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.agent.close();
  }
}

/**
 * Starts a master (memory store, quiet config) with Marathon, and with the gateway when `gateway`
 * is set; registers one pinging TaskAgent per entry of `agents`, and waits until Marathon is
 * subscribed.
 */
export async function startMarathonCluster(agents: AgentOptions[], opts: { gateway?: boolean } = {}): Promise<{ running: RunningMaster; agents: TaskAgent[] }> {
  const running = await startMaster({ port: 0, store: 'memory', marathonPort: 0, ...(opts.gateway ? { gatewayPort: 0 } : {}), config: QUIET });
  const fwId = () => running.marathon?.marathon.frameworkId ?? '';
  const started: TaskAgent[] = [];
  try {
    for (const a of agents) {
      const fake = await FakeAgent.start(`http://127.0.0.1:${running.port}`, a);
      fake.startPinging(200);
      started.push(new TaskAgent(fake, fwId));
    }
    await waitFor('marathon registered', () => running.marathon?.marathon.isConnected || undefined);
  } catch (e) {
    for (const a of started) a.close();
    await running.stop();
    throw e;
  }
  return { running, agents: started };
}
