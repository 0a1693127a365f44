/**
 * Deployments as plans (api-contracts.md §4.5): `planDeployment` turns a before/after pair of
 * app sets into steps of concurrent actions, ordered by dependencies; `rollingStep` decides, from
 * counts only, how many new tasks to start and old ones to kill right now under an upgrade
 * strategy. The scheduler applies both; neither touches state.
 */
import { type App, runtimeKey } from './app.js';

export type ActionName = 'StartApplication' | 'StopApplication' | 'ScaleApplication' | 'RestartApplication';

export interface DeploymentAction {
  action: ActionName;
  app: string;
}

export interface DeploymentStep {
  actions: DeploymentAction[];
}

/** The action one app needs to go from `before` to `after`, or undefined when nothing runs differently. */
export function appAction(before: App | undefined, after: App | undefined): ActionName | undefined {
  if (!before && !after) return undefined;
  if (!before) return 'StartApplication';
  if (!after) return 'StopApplication';
  if (runtimeKey(before) !== runtimeKey(after)) return 'RestartApplication';
  if (before.instances !== after.instances) return 'ScaleApplication';
  return undefined;
}

/**
 * Steps for a change of many apps: starts and scales go in dependency order (an app after the
 * apps it depends on), stops in reverse order (dependents first). Apps without a change get no
 * action. A StartApplication is followed by a ScaleApplication to the target instance count, as
 * Marathon does.
 */
export function planDeployment(current: ReadonlyMap<string, App>, target: ReadonlyMap<string, App>): DeploymentStep[] {
  const ids = [...new Set([...current.keys(), ...target.keys()])].sort();
  const actions = new Map<string, ActionName>();
  for (const id of ids) {
    const a = appAction(current.get(id), target.get(id));
    if (a) actions.set(id, a);
  }
  // Longest dependency chain below each app = its level.
  const level = new Map<string, number>();
  const depth = (id: string, seen: Set<string>): number => {
    const known = level.get(id);
    if (known !== undefined) return known;
    if (seen.has(id)) return 0; // cycles are rejected by validation; be safe here
    seen.add(id);
    const app = target.get(id) ?? current.get(id);
    const d = Math.max(-1, ...(app?.dependencies ?? []).filter((x) => target.has(x) || current.has(x)).map((x) => depth(x, seen))) + 1;
    level.set(id, d);
    return d;
  };
  for (const id of actions.keys()) depth(id, new Set());
  const stops = [...actions].filter(([, a]) => a === 'StopApplication').map(([id]) => id);
  const others = [...actions].filter(([, a]) => a !== 'StopApplication').map(([id]) => id);
  const steps: DeploymentStep[] = [];
  const byLevel = (xs: string[], reverse: boolean) => {
    const levels = [...new Set(xs.map((x) => level.get(x) ?? 0))].sort((a, b) => (reverse ? b - a : a - b));
    return levels.map((l) => xs.filter((x) => (level.get(x) ?? 0) === l));
  };
  for (const group of byLevel(stops, true)) steps.push({ actions: group.map((app) => ({ action: 'StopApplication' as const, app })) });
  for (const group of byLevel(others, false)) {
    const starts = group.filter((id) => actions.get(id) === 'StartApplication');
    steps.push({
      actions: group.map((app) => ({ action: actions.get(app) === 'StartApplication' ? 'StartApplication' : (actions.get(app) as ActionName), app })),
    });
    if (starts.length > 0) steps.push({ actions: starts.map((app) => ({ action: 'ScaleApplication' as const, app })) });
  }
  return steps;
}

export interface RollingInput {
  instances: number;
  /** Live tasks of an older runtime configuration. */
  old: number;
  /** Live tasks of the current configuration (any state short of terminal). */
  fresh: number;
  /** Of those, the ones that count as healthy and ready. */
  freshHealthy: number;
  /** Old tasks that are healthy. */
  oldHealthy: number;
  minimumHealthCapacity: number;
  maximumOverCapacity: number;
}

/**
 * How many new tasks to start and old ones to kill now. Invariants: live tasks never exceed
 * instances + floor(instances × maximumOverCapacity) after the step, and healthy tasks never
 * drop below ceil(instances × minimumHealthCapacity) because of a kill here, save for the two
 * cases below. When the two leave no room at all (min 1, over 0), one old task is killed to
 * make progress. Surplus fresh tasks (a scale down) are killed; which ones is the caller's
 * killSelection.
 *
 * A forced change can find more live tasks than the new definition allows: a scale-down (or a
 * new configuration) that replaces a rolling restart in flight, when the old deployment had
 * started new tasks beside the old ones. The new definition's bounds apply at once: old tasks
 * are killed (the caller takes unhealthy ones first) until the live ones fit the
 * over-capacity bound, even below the minimum health. Marathon does the same when a restart
 * begins (TaskReplaceActor kills the extra instances "due to previous deployment adding
 * extra-instances" at once); it kills down to `instances`, which in a step computed from
 * counts alone would kill again after every start, so here the bound is the over-capacity one.
 */
export function rollingStep(s: RollingInput): { start: number; killOld: number; killFresh: number } {
  const minHealthy = Math.ceil(s.instances * s.minimumHealthCapacity - 1e-9);
  const maxLive = s.instances + Math.floor(s.instances * s.maximumOverCapacity + 1e-9);
  const killFresh = Math.max(0, s.fresh - s.instances);
  const fresh = s.fresh - killFresh;
  const freshHealthy = Math.min(s.freshHealthy, fresh);
  const start = s.old === 0 ? Math.max(0, s.instances - fresh) : Math.max(0, Math.min(s.instances - fresh, maxLive - s.old - fresh));
  // Unhealthy old tasks hold no capacity: they go first. Healthy ones only above the minimum.
  const surplus = Math.max(0, s.oldHealthy + freshHealthy - minHealthy);
  let killOld = Math.min(s.old, s.old - s.oldHealthy + Math.min(s.oldHealthy, surplus));
  // Over the bound (a forced change, see above): shed old tasks down to it. After killFresh,
  // fresh <= instances <= maxLive, so the old ones always suffice.
  const overBound = s.old + fresh - maxLive;
  if (overBound > killOld) killOld = Math.min(s.old, overBound);
  if (start === 0 && killOld === 0 && s.old > 0 && fresh === freshHealthy) {
    // No room to start and no capacity to kill (min 1, over 0): kill one old task to move on.
    killOld = 1;
  }
  return { start, killOld, killFresh };
}
