import type { MarathonApp, QueueEntry } from '../../../src/model/marathon-api.js';
import { taskIdPrefix } from '../../../src/model/marathon-ids.js';
import { type Task, isTerminal } from '../../../src/model/mesos.js';
import { type MarathonQueueLike, type ServiceHealth, type ServiceStatus, serviceHealth, serviceStatus, stuckReason } from './status.js';

export interface GroupNode {
  /** Absolute path: "/" for the root, "/prod/web" for a group. */
  path: string;
  name: string;
  groups: GroupNode[];
  apps: AppNode[];
  /** Counts over the whole subtree, for a group's own status line. */
  counts: Partial<Record<ServiceStatus, number>>;
  /** Health counts over the whole subtree. */
  health: Partial<Record<ServiceHealth, number>>;
}

export interface AppNode {
  app: MarathonApp;
  status: ServiceStatus;
  health: ServiceHealth;
  /** Why it is Waiting or Delayed, in one line (undefined otherwise). */
  stuck?: string;
}

/** Builds the group tree from the flat app list (app ids are absolute paths such as /prod/web/api). */
export function groupTree(apps: readonly MarathonApp[], queue: ReadonlyMap<string, MarathonQueueLike> = new Map()): GroupNode {
  const root: GroupNode = { path: '/', name: '/', groups: [], apps: [], counts: {}, health: {} };
  // Children by path: a linear search per app made 1,000 apps in one group quadratic.
  const byPath = new Map<string, GroupNode>([['/', root]]);
  for (const app of apps) {
    const parts = app.id.split('/').filter(Boolean);
    const q = queue.get(app.id);
    const status = serviceStatus(app, q);
    const health = serviceHealth(app);
    const stuck = stuckReason(app, status, q);
    let node = root;
    const count = (n: GroupNode) => {
      n.counts[status] = (n.counts[status] ?? 0) + 1;
      n.health[health] = (n.health[health] ?? 0) + 1;
    };
    count(node);
    for (let i = 0; i < parts.length - 1; i++) {
      const path = `/${parts.slice(0, i + 1).join('/')}`;
      let child = byPath.get(path);
      if (!child) {
        child = { path, name: parts[i] ?? '', groups: [], apps: [], counts: {}, health: {} };
        node.groups.push(child);
        byPath.set(path, child);
      }
      node = child;
      count(node);
    }
    node.apps.push({ app, status, health, ...(stuck ? { stuck } : {}) });
  }
  const sort = (n: GroupNode): void => {
    n.groups.sort((a, b) => a.path.localeCompare(b.path));
    n.apps.sort((a, b) => a.app.id.localeCompare(b.app.id));
    n.groups.forEach(sort);
  };
  sort(root);
  return root;
}

/**
 * The Mesos tasks of a Marathon app: Marathon's own task-id prefix (src/model/marathon-ids.ts),
 * and, when known, Marathon's framework id (another framework may name tasks alike). Active
 * ones first, then the most recent.
 */
export function tasksOfApp(tasks: Iterable<Task>, appId: string, marathonFrameworkId?: string): Task[] {
  const prefix = taskIdPrefix(appId);
  const out: Task[] = [];
  for (const t of tasks) {
    if (marathonFrameworkId && t.framework_id.value !== marathonFrameworkId) continue;
    if (t.task_id.value.startsWith(prefix)) out.push(t);
  }
  const last = (t: Task) => t.statuses?.[t.statuses.length - 1]?.timestamp ?? 0;
  return out.sort((a, b) => Number(isTerminal(a.state)) - Number(isTerminal(b.state)) || last(b) - last(a));
}

/** The queue by app id, in the shape `serviceStatus` reads (Delayed, Waiting). */
export function queueByApp(queue: readonly QueueEntry[]): Map<string, MarathonQueueLike> {
  const out = new Map<string, MarathonQueueLike>();
  for (const q of queue)
    out.set(q.app.id, {
      ...(q.delay ? { delay: q.delay } : {}),
      unmatchedOffers: q.processedOffersSummary?.unusedOffersCount ?? 0,
      ...(q.since ? { since: q.since } : {}),
      ...(q.unplaceable ? { unplaceable: q.unplaceable } : {}),
      ...(q.processedOffersSummary?.rejectSummaryLastOffers ? { declined: q.processedOffersSummary.rejectSummaryLastOffers } : {}),
    });
  return out;
}
