import { type TaskState, isTerminal } from '../../../src/model/mesos.js';

/** How a state is shown: a word, a tone for colour (never colour alone) and a group for filters. */
export type Tone = 'ok' | 'busy' | 'warn' | 'bad' | 'idle';
export type TaskGroup = 'active' | 'completed' | 'failed' | 'unreachable';

export interface Shown {
  label: string;
  tone: Tone;
}

const TASK_LABELS: Record<TaskState, Shown> = {
  TASK_STAGING: { label: 'Staging', tone: 'busy' },
  TASK_STARTING: { label: 'Starting', tone: 'busy' },
  TASK_RUNNING: { label: 'Running', tone: 'ok' },
  TASK_KILLING: { label: 'Killing', tone: 'busy' },
  TASK_FINISHED: { label: 'Finished', tone: 'idle' },
  TASK_FAILED: { label: 'Failed', tone: 'bad' },
  TASK_KILLED: { label: 'Killed', tone: 'idle' },
  TASK_ERROR: { label: 'Error', tone: 'bad' },
  TASK_LOST: { label: 'Lost', tone: 'bad' },
  TASK_DROPPED: { label: 'Dropped', tone: 'bad' },
  TASK_UNREACHABLE: { label: 'Unreachable', tone: 'warn' },
  TASK_GONE: { label: 'Gone', tone: 'bad' },
  TASK_GONE_BY_OPERATOR: { label: 'Gone (operator)', tone: 'idle' },
  TASK_UNKNOWN: { label: 'Unknown', tone: 'warn' },
};

export function taskShown(state: TaskState): Shown {
  return TASK_LABELS[state] ?? { label: String(state), tone: 'warn' };
}

const FAILED = new Set<TaskState>(['TASK_FAILED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE']);

export function taskGroup(state: TaskState): TaskGroup {
  if (state === 'TASK_UNREACHABLE' || state === 'TASK_UNKNOWN') return 'unreachable';
  if (!isTerminal(state)) return 'active';
  return FAILED.has(state) ? 'failed' : 'completed';
}

export type NodeState = 'active' | 'unreachable' | 'removed';

export function nodeShown(state: NodeState): Shown {
  if (state === 'active') return { label: 'Healthy', tone: 'ok' };
  if (state === 'unreachable') return { label: 'Unreachable', tone: 'warn' };
  return { label: 'Removed', tone: 'idle' };
}

export interface FrameworkFlags {
  active: boolean;
  connected: boolean;
  recovered?: boolean;
  completed?: boolean;
}

export function frameworkShown(f: FrameworkFlags): Shown {
  if (f.completed) return { label: 'Completed', tone: 'idle' };
  if (f.recovered) return { label: 'Recovering', tone: 'busy' };
  if (!f.connected) return { label: 'Disconnected', tone: 'warn' };
  if (!f.active) return { label: 'Inactive', tone: 'warn' };
  return { label: 'Active', tone: 'ok' };
}

/** The part of a Marathon v2 app (with embed=apps.deployments,apps.counts,apps.lastTaskFailure) the status needs. */
export interface MarathonAppLike {
  instances: number;
  tasksRunning?: number;
  tasksStaged?: number;
  tasksHealthy?: number;
  tasksUnhealthy?: number;
  deployments?: unknown[];
}

/** The part of a Marathon /v2/queue entry the status needs. */
export interface MarathonQueueLike {
  delay?: { overdue?: boolean; timeLeftSeconds?: number };
  /** Offers were seen but none matched (processedOffersSummary.unusedOffersCount > 0). */
  unmatchedOffers?: number;
  since?: string;
}

export type ServiceStatus = 'Running' | 'Deploying' | 'Delayed' | 'Waiting' | 'Recovering' | 'Suspended';

/**
 * Service status as the DC/OS UI showed it: Suspended (scaled to 0), Delayed (a backoff is
 * pending after failures), Waiting (a deployment that has been offered resources none of which
 * fit), Deploying (a deployment in progress), Recovering (fewer running than wanted, no
 * deployment: tasks are being replaced), Running.
 */
export function serviceStatus(app: MarathonAppLike, queue?: MarathonQueueLike): ServiceStatus {
  const running = app.tasksRunning ?? 0;
  if (app.instances === 0 && running === 0 && !(app.deployments?.length ?? 0)) return 'Suspended';
  if (queue?.delay && queue.delay.overdue === false && (queue.delay.timeLeftSeconds ?? 0) > 0) return 'Delayed';
  if ((app.deployments?.length ?? 0) > 0) return queue && (queue.unmatchedOffers ?? 0) > 0 ? 'Waiting' : 'Deploying';
  if (running < app.instances) return 'Recovering';
  return 'Running';
}

export function serviceShown(s: ServiceStatus): Shown {
  const tone: Record<ServiceStatus, Tone> = { Running: 'ok', Deploying: 'busy', Delayed: 'warn', Waiting: 'warn', Recovering: 'busy', Suspended: 'idle' };
  return { label: s, tone: tone[s] };
}
