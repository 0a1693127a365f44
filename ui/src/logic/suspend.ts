/**
 * Suspend and resume. Suspending scales an app to 0 and remembers how many instances it had in
 * a label, so resuming can offer that count again (DC/OS's UI only scaled to 0 and asked for a
 * count on resume; this keeps the count with the app, so the CLI and other browsers see it too).
 * Labels do not replace running tasks, so the label costs nothing at run time.
 */
export const SUSPENDED_LABEL = 'DCOS_TS_SUSPENDED_INSTANCES';

export interface Scalable {
  instances: number;
  labels?: Record<string, string>;
}

/** The partial update (PUT /v2/apps/{id}) that suspends. Suspending a suspended app keeps the remembered count. */
export function suspendPatch(app: Scalable): { instances: 0; labels: Record<string, string> } {
  const labels = { ...(app.labels ?? {}) };
  if (app.instances > 0) labels[SUSPENDED_LABEL] = String(app.instances);
  return { instances: 0, labels };
}

/** How many instances resuming offers: the remembered count, else 1. */
export function resumeCount(app: Scalable): number {
  const n = Number(app.labels?.[SUSPENDED_LABEL]);
  return Number.isInteger(n) && n > 0 ? n : 1;
}

/** The partial update that resumes to `instances` (default: the remembered count) and forgets the label. */
export function resumePatch(app: Scalable, instances = resumeCount(app)): { instances: number; labels: Record<string, string> } {
  const { [SUSPENDED_LABEL]: _gone, ...labels } = app.labels ?? {};
  return { instances, labels };
}

export const isSuspended = (app: Scalable & { tasksRunning?: number }): boolean => app.instances === 0;

/** A count typed into the scale dialog: a whole number from 0 to `max`, or a sentence saying why not. */
export function parseInstances(text: string, max = 10_000): { ok: true; n: number } | { ok: false; error: string } {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return { ok: false, error: 'Enter a whole number, 0 or more.' };
  const n = Number(t);
  if (n > max) return { ok: false, error: `At most ${max} instances.` };
  return { ok: true, n };
}
