import type { DeclineCount, MarathonApp } from '../../../src/model/marathon-api.js';
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

/** The part of a Marathon v2 app (with embed=apps.counts,apps.deployments) the status and health read. */
export type MarathonAppLike = Pick<
  MarathonApp,
  'instances' | 'tasksRunning' | 'tasksStaged' | 'tasksHealthy' | 'tasksUnhealthy' | 'deployments' | 'healthChecks' | 'placementStatus'
>;

/** The part of a Marathon /v2/queue entry the status needs. */
export interface MarathonQueueLike {
  delay?: { overdue?: boolean; timeLeftSeconds?: number };
  /** Offers were seen but none matched (processedOffersSummary.unusedOffersCount > 0). */
  unmatchedOffers?: number;
  since?: string;
  /** Why no agent could ever hold an instance (the queue entry's `unplaceable`). */
  unplaceable?: string;
  /** Declined offers by reason over the last offers (processedOffersSummary.rejectSummaryLastOffers). */
  declined?: readonly DeclineCount[];
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
  // Never placeable: waiting, whatever the offers so far (there may have been none yet).
  if (neverPlaceable(app, queue) !== undefined && running < app.instances) return 'Waiting';
  if ((app.deployments?.length ?? 0) > 0) return queue && (queue.unmatchedOffers ?? 0) > 0 ? 'Waiting' : 'Deploying';
  if (running < app.instances) return 'Recovering';
  return 'Running';
}

/** Why no agent could ever hold an instance of the app, if the server says so (app or queue). */
export function neverPlaceable(app: MarathonAppLike, queue?: MarathonQueueLike): string | undefined {
  if (app.placementStatus?.placeable === false) return app.placementStatus.message ?? queue?.unplaceable ?? 'no agent can hold an instance';
  return queue?.unplaceable;
}

export function serviceShown(s: ServiceStatus): Shown {
  const tone: Record<ServiceStatus, Tone> = { Running: 'ok', Deploying: 'busy', Delayed: 'warn', Waiting: 'warn', Recovering: 'busy', Suspended: 'idle' };
  return { label: s, tone: tone[s] };
}

/**
 * Health as the DC/OS UI showed it, from Marathon's counts (embed=apps.counts): No health checks
 * (none defined), Idle (checks defined, nothing running), Unhealthy (any instance failing),
 * Healthy (every running instance passing), Unknown (running, results not in yet).
 */
export type ServiceHealth = 'Healthy' | 'Unhealthy' | 'Unknown' | 'Idle' | 'No health checks';

export function serviceHealth(app: MarathonAppLike): ServiceHealth {
  if ((app.healthChecks?.length ?? 0) === 0) return 'No health checks';
  const running = app.tasksRunning ?? 0;
  if ((app.tasksUnhealthy ?? 0) > 0) return 'Unhealthy';
  if (running === 0) return 'Idle';
  if ((app.tasksHealthy ?? 0) >= running) return 'Healthy';
  return 'Unknown';
}

export function healthShown(h: ServiceHealth): Shown {
  const tone: Record<ServiceHealth, Tone> = { Healthy: 'ok', Unhealthy: 'bad', Unknown: 'busy', Idle: 'idle', 'No health checks': 'idle' };
  return { label: h, tone: tone[h] };
}

/** The order health counts are listed in: the ones that need attention first. */
export const HEALTH_ORDER: readonly ServiceHealth[] = ['Unhealthy', 'Unknown', 'Healthy', 'Idle', 'No health checks'];

/** "2 healthy, 1 unhealthy of 3 running": an app's health counts in words. */
export function healthDetail(app: MarathonAppLike): string {
  if ((app.healthChecks?.length ?? 0) === 0) return 'no health checks defined';
  const running = app.tasksRunning ?? 0;
  return `${app.tasksHealthy ?? 0} healthy, ${app.tasksUnhealthy ?? 0} unhealthy of ${running} running`;
}

/** Marathon's offer-decline reasons (NoOfferMatchReason) in words. */
export const REASON_WORDS: Readonly<Record<string, string>> = {
  UnfulfilledRole: 'offered for another role',
  UnfulfilledConstraint: 'a constraint did not match',
  NoCorrespondingReservationFound: 'no matching reservation',
  AgentMaintenance: 'agent in maintenance',
  InsufficientCpus: 'not enough CPUs',
  InsufficientMemory: 'not enough memory',
  InsufficientDisk: 'not enough disk',
  InsufficientGpus: 'not enough GPUs',
  InsufficientPorts: 'the ports were not free',
  DeclinedScarceResources: 'GPU agent kept for GPU apps',
};

export const reasonWords = (reason: string): string => REASON_WORDS[reason] ?? reason;

/**
 * Why a Waiting or Delayed service is stuck, in one short line for a list row or a page header;
 * undefined for the other statuses. Never placeable comes first (nothing will change without a
 * change to the app or the agents), then the backoff, then the most frequent declined-offer
 * reasons (at most two).
 */
export function stuckReason(app: MarathonAppLike, status: ServiceStatus, queue?: MarathonQueueLike): string | undefined {
  if (status !== 'Waiting' && status !== 'Delayed') return undefined;
  const never = neverPlaceable(app, queue);
  if (never !== undefined) return `Cannot be placed: ${lowerFirst(never.replace(/\.$/, ''))}`;
  if (status === 'Delayed') return `Backing off after failed launches: next try in ${queue?.delay?.timeLeftSeconds ?? 0} s`;
  const top = [...(queue?.declined ?? [])]
    .filter((r) => r.declined > 0)
    .sort((a, b) => b.declined - a.declined || a.reason.localeCompare(b.reason))
    .slice(0, 2);
  if (top.length > 0) return `Offers declined: ${top.map((r) => `${reasonWords(r.reason)} (${r.declined} of ${r.processed})`).join(', ')}`;
  const unmatched = queue?.unmatchedOffers ?? 0;
  if (unmatched > 0) return `${unmatched} offer${unmatched === 1 ? '' : 's'} did not fit`;
  return 'No offers received yet';
}

/** "No agent can…" → "no agent can…", but "CPU…" stays. */
function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}
