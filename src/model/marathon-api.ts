/**
 * Marathon v2 REST shapes as clients read them: AppInfo of GET /v2/apps (with embed=apps.counts,
 * apps.deployments, apps.lastTaskFailure), entries of GET /v2/queue and GET /v2/info. Types only;
 * the server builds these (src/services/marathon/marathon.ts appInfo, queue) and the web UI reads
 * them (ui/src/logic/services.ts, status.ts).
 */

/** Marathon's TaskFailure, as embedded in an app (embed=app.lastTaskFailure). */
export interface TaskFailure {
  message?: string;
  state?: string;
  timestamp?: string;
  taskId?: string;
  host?: string;
  version?: string;
  appId?: string;
}

/** One app as GET /v2/apps and /v2/apps/{id} return it: its definition plus counts and embeds. */
export interface MarathonApp {
  id: string;
  instances: number;
  cpus?: number;
  mem?: number;
  disk?: number;
  gpus?: number;
  cmd?: string;
  labels?: Record<string, string>;
  version?: string;
  healthChecks?: unknown[];
  tasksRunning?: number;
  tasksStaged?: number;
  tasksHealthy?: number;
  tasksUnhealthy?: number;
  deployments?: { id: string }[] | unknown[];
  lastTaskFailure?: TaskFailure;
  /** Set when no agent the server knows could ever hold an instance. */
  placementStatus?: { placeable?: boolean; message?: string };
}

/** Why offers were declined, per reason (Marathon's NoOfferMatchReason names). */
export interface DeclineCount {
  reason: string;
  declined: number;
  processed: number;
}

/** One entry of GET /v2/queue: an app with instances still to launch. */
export interface QueueEntry {
  app: { id: string };
  count: number;
  since?: string;
  delay?: { timeLeftSeconds?: number; overdue?: boolean };
  processedOffersSummary?: {
    processedOffersCount: number;
    unusedOffersCount: number;
    lastUnusedOfferAt?: string;
    lastUsedOfferAt?: string;
    rejectSummaryLastOffers?: DeclineCount[];
    rejectSummaryLaunchAttempt?: DeclineCount[];
  };
  lastUnusedOfferDetail?: unknown;
  /** Why no agent could ever hold an instance (dcos-ts addition). */
  unplaceable?: string;
}

/** GET /v2/info, as far as clients read it. */
export interface MarathonInfo {
  name: string;
  version: string;
  leader?: string | null;
  frameworkId?: string | null;
}
