/**
 * How Marathon names the Mesos tasks of an app, shared by the Marathon service (which makes the
 * ids) and the web UI (which finds an app's tasks among the master's): the app path joined by
 * `_`, then a dot and the instance part (`/prod/web` → `prod_web.instance-<uuid>._app.1`).
 * Segments never hold `_` (they are DNS labels), so the prefix cannot match another app.
 */

/** `/myGroup/myApp` → `myGroup_myApp`: the prefix of instance and task ids. */
export const safePath = (id: string): string => id.split('/').filter(Boolean).join('_');

/** The start every Mesos task id of the app has, dot included. */
export const taskIdPrefix = (appId: string): string => `${safePath(appId)}.`;

/** Whether a Mesos task id belongs to the app. */
export const isTaskOfApp = (taskId: string, appId: string): boolean => taskId.startsWith(taskIdPrefix(appId));
