/**
 * Marathon ids are absolute paths: `/group/app`. Segments are lower-case DNS labels; `.` and `..`
 * are resolved against a base; `{appId}` in URLs may come with or without the leading slash.
 */

const SEGMENT = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** Resolves `id` against `base` (default `/`) and collapses slashes; does not validate segments. */
export function resolvePath(id: string, base = '/'): string {
  const raw = id.startsWith('/') ? id : `${base.replace(/\/$/, '')}/${id}`;
  const out: string[] = [];
  for (const seg of raw.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `/${out.join('/')}`;
}

/** The first invalid segment's message, or undefined when every segment is valid. */
export function pathError(id: string): string | undefined {
  if (id === '/') return 'Path must not be the root group';
  for (const seg of id.split('/').slice(1)) {
    if (!SEGMENT.test(seg)) {
      return `must fully match regular expression '^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$'`;
    }
  }
  return undefined;
}

// The task-id prefix is shared with the web UI, which may import only from model/.
export { safePath } from '../../model/marathon-ids.js';

/** `/myGroup/myApp` → `myApp.myGroup`: the Mesos task name, which Mesos-DNS turns into names. */
export const taskName = (id: string): string => id.split('/').filter(Boolean).reverse().join('.');

/** `<safePath>.instance-<uuid>._app.<incarnation>` → the app id, or undefined for foreign ids. */
export function appIdOfTask(taskId: string): string | undefined {
  const m = /^(.+?)\.(instance-|marathon-)?[0-9a-f-]{36}/.exec(taskId);
  return m ? `/${(m[1] as string).split('_').join('/')}` : undefined;
}

/** The parent group of a path: `/a/b/c` → `/a/b`. */
export function parentPath(id: string): string {
  const i = id.lastIndexOf('/');
  return i <= 0 ? '/' : id.slice(0, i);
}
