import { useState } from 'react';
import { Badge, ErrorBox, Page, VirtualTable } from '../components.js';
import { Dialog } from '../dialog.js';
import { useFetch, useLive } from '../live.js';
import { type ApiError, getJson } from '../api.js';
import type { Json } from '../logic/app-form.js';
import { VERSION_NOISE, diffJson, showValue } from '../logic/diff.js';
import { fmtMb, fmtNumber } from '../logic/format.js';
import type { MarathonApp, QueueEntry } from '../../../src/model/marathon-api.js';
import { queueByApp, tasksOfApp } from '../logic/services.js';
import { healthDetail, healthShown, reasonWords, serviceHealth, serviceShown, serviceStatus, stuckReason } from '../logic/status.js';
import { SUSPENDED_LABEL, parseInstances, resumeCount, resumePatch, suspendPatch } from '../logic/suspend.js';
import { type SendResult, marathonSend, useMarathonFrameworkId, useMarathonResource } from '../marathon.js';
import { Link, navigate, usePageTitle, usePath } from '../router.js';
import { ServiceEditor, definitionOf, servicePath } from './service-edit.js';
import { taskColumns } from './tasks.js';

type Action = 'scale' | 'restart' | 'suspend' | 'resume' | 'delete';

/** The words a failed change is shown with; 409 (a deployment in the way) says what forcing does. */
function failureText(r: Extract<SendResult<unknown>, { ok: false }>): string {
  if (r.status === 409)
    return `Another deployment (${r.deployments.join(', ') || 'in progress'}) is still changing this service, so Marathon refused. Wait for it to finish, or force: that cancels the running deployment (without rolling it back) and applies this change now.`;
  if (r.status === 422 || r.status === 400) return `Marathon refused the change: ${r.message}`;
  return `${r.explained.title} ${r.message || r.explained.hint}`;
}

function ActionDialog({ action, app, onClose }: { action: Action; app: MarathonApp; onClose: () => void }) {
  const id = app.id;
  const [count, setCount] = useState(String(action === 'resume' ? resumeCount(app) : app.instances));
  const [confirmText, setConfirmText] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<Extract<SendResult<unknown>, { ok: false }>>();
  const [inputError, setInputError] = useState<string>();
  const titles: Record<Action, string> = {
    scale: `Scale ${id}`,
    restart: `Restart ${id}`,
    suspend: `Suspend ${id}`,
    resume: `Resume ${id}`,
    delete: `Delete ${id}`,
  };
  const run = async (force: boolean) => {
    const q = force ? '?force=true' : '';
    let r: SendResult<unknown>;
    if (action === 'scale' || action === 'resume') {
      const n = parseInstances(count);
      if (!n.ok) return setInputError(n.error);
      setInputError(undefined);
      setBusy(true);
      r = await marathonSend('PUT', `/v2/apps${id}${q}`, action === 'scale' ? { instances: n.n } : resumePatch(app, n.n), id);
    } else {
      setBusy(true);
      if (action === 'restart') r = await marathonSend('POST', `/v2/apps${id}/restart${q}`, {}, id);
      else if (action === 'suspend') r = await marathonSend('PUT', `/v2/apps${id}${q}`, suspendPatch(app), id);
      else r = await marathonSend('DELETE', `/v2/apps${id}${q}`, undefined, id);
    }
    setBusy(false);
    if (r.ok) {
      onClose();
      if (action === 'delete') navigate('/services');
    } else setFailure(r);
  };
  const needsCount = action === 'scale' || action === 'resume';
  const deleteBlocked = action === 'delete' && confirmText !== id;
  return (
    <Dialog
      title={titles[action]}
      onClose={onClose}
      actions={
        <>
          <button type="button" className="secondary" onClick={onClose}>
            Cancel
          </button>
          {failure?.status === 409 ? (
            <button type="button" className="danger" disabled={busy} onClick={() => void run(true)}>
              Force {action}
            </button>
          ) : null}
          <button type="button" className={action === 'delete' ? 'danger' : 'primary'} disabled={busy || deleteBlocked} onClick={() => void run(false)}>
            {busy ? 'Working…' : { scale: 'Scale', restart: 'Restart', suspend: 'Suspend', resume: 'Resume', delete: 'Delete' }[action]}
          </button>
        </>
      }
    >
      {action === 'restart' ? <p>Every instance is replaced by a new one, respecting the service's upgrade strategy.</p> : null}
      {action === 'suspend' ? (
        <p>
          Scales to 0 instances; its {app.instances} instance{app.instances === 1 ? '' : 's'} are stopped. The count is remembered in the label{' '}
          <code>{SUSPENDED_LABEL}</code> so that resume offers it again.
        </p>
      ) : null}
      {action === 'delete' ? (
        <>
          <p>
            This stops every instance and removes the service and its versions. It cannot be undone. Type <code>{id}</code> to confirm.
          </p>
          <div className="field">
            <label htmlFor="confirm-delete">Service ID to delete</label>
            <input id="confirm-delete" value={confirmText} onChange={(e) => setConfirmText(e.target.value)} autoComplete="off" />
          </div>
        </>
      ) : null}
      {needsCount ? (
        <div className={`field${inputError ? ' invalid' : ''}`}>
          <label htmlFor="instances-input">Instances</label>
          <input
            id="instances-input"
            inputMode="numeric"
            value={count}
            aria-invalid={Boolean(inputError)}
            aria-describedby={inputError ? 'instances-error' : undefined}
            onChange={(e) => setCount(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') void run(false);
            }}
          />
          {inputError ? (
            <span className="field-error" id="instances-error">
              {inputError}
            </span>
          ) : null}
        </div>
      ) : null}
      {failure ? (
        <div className="error" role="alert">
          {failureText(failure)}
        </div>
      ) : null}
    </Dialog>
  );
}

function Instances({ app }: { app: MarathonApp }) {
  const { model } = useLive();
  const tasks = tasksOfApp(model.tasks.values(), app.id, useMarathonFrameworkId());
  return (
    <>
      <p className="muted" data-testid="instance-count">
        {tasks.filter((t) => t.state === 'TASK_RUNNING').length} running of {app.instances} wanted; {tasks.length} tasks known.{' '}
        <Link to={`/tasks?service=${encodeURIComponent(app.id)}`}>Show in Tasks</Link>
      </p>
      <VirtualTable
        label={`Tasks of ${app.id}`}
        rows={tasks}
        columns={taskColumns(model)}
        rowKey={(t) => `${t.framework_id.value}/${t.task_id.value}`}
        heightPx={360}
      />
    </>
  );
}

function Versions({ id }: { id: string }) {
  const list = useMarathonResource<{ versions: string[] }>(`/service/marathon/v2/apps${id}/versions`, `the versions of ${id}`);
  const versions = [...(list.data?.versions ?? [])].sort().reverse();
  const [from, setFrom] = useState<string>();
  const [to, setTo] = useState<string>();
  const [hideNoise, setHideNoise] = useState(true);
  const a = from ?? versions[1] ?? versions[0];
  const b = to ?? versions[0];
  const pair = useFetch(`${id}@${a}..${b}`, async () => {
    if (!a || !b) return undefined;
    const [x, y] = await Promise.all([
      getJson<Json>(`/service/marathon/v2/apps${id}/versions/${encodeURIComponent(a)}`, `version ${a}`),
      getJson<Json>(`/service/marathon/v2/apps${id}/versions/${encodeURIComponent(b)}`, `version ${b}`),
    ]);
    return { x, y };
  });
  if (list.error) return <ErrorBox error={list.error} />;
  if (!list.data) return <p className="muted">Loading versions…</p>;
  const changes = pair.data ? diffJson(pair.data.x, pair.data.y, hideNoise ? VERSION_NOISE : []) : [];
  const select = (label: string, value: string | undefined, set: (v: string) => void) => (
    <label>
      {label}
      <select value={value ?? ''} onChange={(e) => set(e.target.value)}>
        {versions.map((v, i) => (
          <option key={v} value={v}>
            {v}
            {i === 0 ? ' (current)' : ''}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <>
      <p className="muted">{versions.length} versions, newest first. Pick two to compare.</p>
      <div className="filters">
        {select('From version', a, setFrom)}
        {select('To version', b, setTo)}
        <label className="check">
          <input type="checkbox" checked={hideNoise} onChange={(e) => setHideNoise(e.target.checked)} /> Hide version fields
        </label>
      </div>
      {pair.error ? <ErrorBox error={pair.error} /> : null}
      {a === b ? (
        <p className="note">Both sides are the same version; choose another one on either side.</p>
      ) : pair.data ? (
        changes.length === 0 ? (
          <p className="note">These versions have the same definition.</p>
        ) : (
          <table className="plain diff" aria-label={`Changes from ${a} to ${b}`}>
            <thead>
              <tr>
                <th scope="col">Field</th>
                <th scope="col">Change</th>
                <th scope="col">From</th>
                <th scope="col">To</th>
              </tr>
            </thead>
            <tbody>
              {changes.map((c) => (
                <tr key={c.path} className={`diff-${c.kind}`}>
                  <td>
                    <code>{c.path}</code>
                  </td>
                  <td>{c.kind}</td>
                  <td>
                    <code>{'before' in c ? showValue(c.before) : '—'}</code>
                  </td>
                  <td>
                    <code>{'after' in c ? showValue(c.after) : '—'}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : (
        <p className="muted">Loading both versions…</p>
      )}
    </>
  );
}

function Debug({ app, q }: { app: MarathonApp; q: { data?: { queue: QueueEntry[] }; error?: ApiError } }) {
  const item = q.data?.queue.find((x) => x.app.id === app.id);
  const f = app.lastTaskFailure;
  const s = item?.processedOffersSummary;
  const last = new Map((s?.rejectSummaryLastOffers ?? []).map((r) => [r.reason, r]));
  return (
    <div className="grid2">
      <section className="card" aria-labelledby="dbg-wait">
        <h2 id="dbg-wait">Waiting to launch</h2>
        {q.error ? <ErrorBox error={q.error} /> : null}
        {!q.data ? (
          <p className="muted">Loading the queue…</p>
        ) : !item ? (
          <p data-testid="debug-queue">Nothing is waiting: Marathon is not looking for offers for this service.</p>
        ) : (
          <>
            <dl className="facts" data-testid="debug-queue">
              <dt>Instances to launch</dt>
              <dd>{item.count}</dd>
              <dt>Waiting since</dt>
              <dd>{item.since ?? '—'}</dd>
              <dt>Delay</dt>
              <dd>
                {item.delay && !item.delay.overdue && (item.delay.timeLeftSeconds ?? 0) > 0
                  ? `${item.delay.timeLeftSeconds} s left before the next launch (backoff after failures)`
                  : 'none'}
              </dd>
              <dt>Offers seen</dt>
              <dd>
                {s?.processedOffersCount ?? 0} processed, {s?.unusedOffersCount ?? 0} declined
              </dd>
              {item.lastUnusedOfferDetail ? (
                <>
                  <dt>Last declined offer</dt>
                  <dd>{typeof item.lastUnusedOfferDetail === 'string' ? item.lastUnusedOfferDetail : JSON.stringify(item.lastUnusedOfferDetail)}</dd>
                </>
              ) : null}
            </dl>
            {item.unplaceable ? (
              <p className="error" role="alert">
                {item.unplaceable.replace(/\.?$/, '.')} Lower the resources or loosen the constraints, or add agents that fit.
              </p>
            ) : null}
            {s?.rejectSummaryLaunchAttempt ? (
              <table className="plain" aria-label="Declined offers by reason">
                <thead>
                  <tr>
                    <th scope="col">Reason</th>
                    <th scope="col">Declined (last offers)</th>
                    <th scope="col">Declined (this launch)</th>
                  </tr>
                </thead>
                <tbody>
                  {s.rejectSummaryLaunchAttempt.map((r) => (
                    <tr key={r.reason}>
                      <td>{reasonWords(r.reason)}</td>
                      <td>
                        {last.get(r.reason)?.declined ?? 0} of {last.get(r.reason)?.processed ?? 0}
                      </td>
                      <td>
                        {r.declined} of {r.processed}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null}
          </>
        )}
      </section>
      <section className="card" aria-labelledby="dbg-fail">
        <h2 id="dbg-fail">Last task failure</h2>
        {f ? (
          <dl className="facts">
            <dt>When</dt>
            <dd>{f.timestamp ?? '—'}</dd>
            <dt>State</dt>
            <dd>{f.state ?? '—'}</dd>
            <dt>Task</dt>
            <dd>
              <code>{f.taskId ?? '—'}</code>
            </dd>
            <dt>Host</dt>
            <dd>{f.host ?? '—'}</dd>
            <dt>Message</dt>
            <dd>{f.message || '—'}</dd>
          </dl>
        ) : (
          <p>No task of this service has failed.</p>
        )}
      </section>
    </div>
  );
}

const TABS = [
  { id: 'instances', label: 'Instances' },
  { id: 'configuration', label: 'Configuration' },
  { id: 'versions', label: 'Versions' },
  { id: 'debug', label: 'Debug' },
] as const;

export function ServicePage({ id }: { id: string }) {
  const { query } = usePath();
  const tab = (TABS.find((t) => t.id === query.get('tab'))?.id ?? 'instances') as (typeof TABS)[number]['id'];
  const r = useMarathonResource<{ app: MarathonApp & Json }>(`/service/marathon/v2/apps${id}?embed=app.lastTaskFailure`, `the service ${id}`);
  // Offer statistics change without events, so the queue is also read every 5 s (status and debug tab).
  const queue = useMarathonResource<{ queue: QueueEntry[] }>('/service/marathon/v2/queue', 'the launch queue', 5000);
  const [action, setAction] = useState<Action>();
  usePageTitle(`Service ${id}`);
  const setTab = (t: string) => navigate(`${servicePath(id)}?tab=${t}`, { replace: true });
  if (r.error && !r.data) {
    return (
      <Page title={`Service ${id}`}>
        <ErrorBox error={r.error} what="Go back to the services list; if it was deleted, it no longer appears there." />
        <Link to="/services">All services</Link>
      </Page>
    );
  }
  const app = r.data?.app;
  if (!app) return <Page title={`Service ${id}`}>{<p className="muted">Loading…</p>}</Page>;
  const queued = queueByApp(queue.data?.queue ?? []).get(id);
  const status = serviceStatus(app, queued);
  const stuck = stuckReason(app, status, queued);
  const suspended = app.instances === 0;
  return (
    <Page
      title={`Service ${id}`}
      actions={
        <div className="actions" role="group" aria-label="Service actions">
          <button type="button" className="secondary" onClick={() => navigate(`/services/edit/${encodeURIComponent(id)}`)}>
            Edit
          </button>
          <button type="button" className="secondary" onClick={() => setAction('scale')}>
            Scale
          </button>
          <button type="button" className="secondary" onClick={() => setAction('restart')} disabled={suspended}>
            Restart
          </button>
          {suspended ? (
            <button type="button" className="secondary" onClick={() => setAction('resume')}>
              Resume
            </button>
          ) : (
            <button type="button" className="secondary" onClick={() => setAction('suspend')}>
              Suspend
            </button>
          )}
          <button type="button" className="danger" onClick={() => setAction('delete')}>
            Delete
          </button>
        </div>
      }
    >
      <p className="crumbs">
        <Link to="/services">Services</Link> <span aria-hidden="true">/</span> <span>{id}</span>
      </p>
      {r.error ? <ErrorBox error={r.error} what="Showing the last known state." /> : null}
      <dl className="facts">
        <dt>Status</dt>
        <dd data-testid="service-status">
          <Badge shown={serviceShown(status)} />
        </dd>
        {stuck ? (
          <>
            <dt>Why</dt>
            <dd data-testid="service-stuck" className="why-line">
              {stuck}. <Link to={`${servicePath(id)}?tab=debug`}>Details in Debug</Link>
            </dd>
          </>
        ) : null}
        <dt>Health</dt>
        <dd data-testid="service-health">
          <Badge shown={healthShown(serviceHealth(app))} /> <span className="muted">{healthDetail(app)}</span>
        </dd>
        <dt>Instances</dt>
        <dd data-testid="service-instances">
          {app.tasksRunning ?? 0} running of {app.instances}
          {suspended && app.labels?.[SUSPENDED_LABEL] ? ` (suspended from ${app.labels[SUSPENDED_LABEL]})` : ''}
        </dd>
        <dt>Resources</dt>
        <dd>
          {fmtNumber(app.cpus ?? 0)} CPU, {fmtMb(app.mem ?? 0)} memory, {fmtMb(app.disk ?? 0)} disk per instance
        </dd>
        <dt>Version</dt>
        <dd>{app.version ?? '—'}</dd>
      </dl>
      <div role="tablist" aria-label="Service details" className="tabs">
        {TABS.map((t) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            id={`tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls={`panel-${t.id}`}
            tabIndex={tab === t.id ? 0 : -1}
            onClick={() => setTab(t.id)}
            onKeyDown={(e) => {
              const i = TABS.findIndex((x) => x.id === tab);
              const d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
              if (!d) return;
              const next = TABS[(i + d + TABS.length) % TABS.length] as (typeof TABS)[number];
              setTab(next.id);
              requestAnimationFrame(() => document.getElementById(`tab-${next.id}`)?.focus());
            }}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} className="panel">
        {tab === 'instances' ? <Instances app={app} /> : null}
        {tab === 'configuration' ? (
          <pre className="config" data-testid="service-config">
            {JSON.stringify(definitionOf(app), null, 2)}
          </pre>
        ) : null}
        {tab === 'versions' ? <Versions id={id} /> : null}
        {tab === 'debug' ? <Debug app={app} q={queue} /> : null}
      </div>
      {action ? (
        <ActionDialog
          action={action}
          app={app}
          onClose={() => {
            setAction(undefined);
            r.reload();
          }}
        />
      ) : null}
    </Page>
  );
}

export function ServiceEditPage({ id }: { id: string }) {
  const r = useMarathonResource<{ app: Json }>(`/service/marathon/v2/apps${id}`, `the service ${id}`);
  // Loaded once: later events must not overwrite what is being typed.
  const [initial, setInitial] = useState<Json>();
  if (!initial && r.data) setInitial(r.data.app);
  if (r.error && !initial) return <ErrorBox error={r.error} />;
  if (!initial) return <p className="muted">Loading…</p>;
  return <ServiceEditor initial={initial} editId={id} />;
}

export { ServiceEditor };
