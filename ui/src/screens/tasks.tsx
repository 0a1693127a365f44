import type { Task } from '../../../src/model/mesos.js';
import { Badge, type Column, Page, VirtualTable } from '../components.js';
import { useLive } from '../live.js';
import { type ClusterModel, type TaskFilter, addScalars, filterTasks, zero } from '../logic/cluster.js';
import { fmtMb, fmtNumber } from '../logic/format.js';
import { type TaskGroup, taskShown } from '../logic/status.js';
import { useMarathon, useMarathonFrameworkId } from '../marathon.js';
import { Link, navigate, usePageTitle, usePath } from '../router.js';

export const taskHref = (t: Task): string => `/tasks/${encodeURIComponent(t.framework_id.value)}/${encodeURIComponent(t.task_id.value)}`;

export function taskColumns(model: ClusterModel): Column<Task>[] {
  return [
    { title: 'Task', width: 'minmax(10rem, 3fr)', cell: (t) => <Link to={taskHref(t)}>{t.task_id.value}</Link> },
    { title: 'State', width: '8rem', cell: (t) => <Badge shown={taskShown(t.state)} /> },
    {
      title: 'Framework',
      width: 'minmax(6rem, 1.5fr)',
      cell: (t) => model.frameworks.get(t.framework_id.value)?.view.framework_info.name ?? t.framework_id.value,
    },
    {
      title: 'Node',
      width: 'minmax(6rem, 1fr)',
      cell: (t) => (
        <Link to={`/nodes/${encodeURIComponent(t.agent_id.value)}`}>{model.agents.get(t.agent_id.value)?.view.agent_info.hostname ?? t.agent_id.value}</Link>
      ),
    },
    {
      title: 'CPU / Mem',
      width: '8rem',
      cell: (t) => {
        const r = addScalars(zero(), t.resources);
        return `${fmtNumber(r.cpus)} / ${fmtMb(r.mem)}`;
      },
    },
  ];
}

const GROUPS: { value: TaskGroup | 'all'; label: string }[] = [
  { value: 'active', label: 'Active' },
  { value: 'completed', label: 'Completed' },
  { value: 'failed', label: 'Failed' },
  { value: 'unreachable', label: 'Unreachable' },
  { value: 'all', label: 'All' },
];

export function Tasks() {
  usePageTitle('Tasks');
  const { model } = useLive();
  const { query } = usePath();
  const marathon = useMarathon();
  const marathonFrameworkId = useMarathonFrameworkId();
  const appId = query.get('service') ?? undefined;
  const filter: TaskFilter = {
    group: (query.get('state') as TaskGroup | 'all' | null) ?? 'all',
    frameworkId: query.get('framework') ?? undefined,
    agentId: query.get('node') ?? undefined,
    text: query.get('q') ?? '',
    ...(appId ? { appId } : {}),
    ...(marathonFrameworkId ? { marathonFrameworkId } : {}),
  };
  const appIds = marathon.kind === 'present' ? marathon.apps.map((a) => a.id).sort() : [];
  // A service named in the URL stays selectable even before (or without) Marathon's list.
  if (appId && !appIds.includes(appId)) appIds.unshift(appId);
  const set = (k: string, v: string) => {
    const q = new URLSearchParams(query);
    if (v) q.set(k, v);
    else q.delete(k);
    navigate(`/tasks${q.size ? `?${q}` : ''}`, { replace: true });
  };
  const rows = filterTasks(model, filter);
  const fws = [...model.frameworks.values()];
  const agents = [...model.agents.values()];
  return (
    <Page title="Tasks">
      <form className="filters" aria-label="Filter tasks" onSubmit={(e) => e.preventDefault()}>
        <label>
          State
          <select value={filter.group} onChange={(e) => set('state', e.target.value === 'all' ? '' : e.target.value)}>
            {GROUPS.map((g) => (
              <option key={g.value} value={g.value}>
                {g.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Framework
          <select value={filter.frameworkId ?? ''} onChange={(e) => set('framework', e.target.value)}>
            <option value="">Any</option>
            {fws.map((f) => (
              <option key={f.id} value={f.id}>
                {f.view.framework_info.name}
              </option>
            ))}
          </select>
        </label>
        {appIds.length > 0 ? (
          <label>
            Service
            <select value={appId ?? ''} onChange={(e) => set('service', e.target.value)}>
              <option value="">Any</option>
              {appIds.map((id) => (
                <option key={id} value={id}>
                  {id}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        <label>
          Node
          <select value={filter.agentId ?? ''} onChange={(e) => set('node', e.target.value)}>
            <option value="">Any</option>
            {agents.map((a) => (
              <option key={a.id} value={a.id}>
                {a.view.agent_info.hostname}
              </option>
            ))}
          </select>
        </label>
        <label>
          Search
          <input type="search" value={filter.text} placeholder="id, name, framework, host" onChange={(e) => set('q', e.target.value)} />
        </label>
      </form>
      <p className="muted" role="status" aria-live="polite" data-testid="task-count">
        {rows.length} of {model.tasks.size} tasks
      </p>
      <VirtualTable label="Tasks" rows={rows} columns={taskColumns(model)} rowKey={(t) => `${t.framework_id.value}/${t.task_id.value}`} />
    </Page>
  );
}
