import type { Resource } from '../../../src/model/mesos.js';
import { Badge, type Column, Page, VirtualTable } from '../components.js';
import { useLive } from '../live.js';
import type { FrameworkEntry } from '../logic/cluster.js';
import { type Scalars, addScalars, holdsResources, zero } from '../logic/cluster.js';
import { fmtMb, fmtNumber } from '../logic/format.js';
import { frameworkShown } from '../logic/status.js';
import { Link, usePageTitle } from '../router.js';

export function frameworkColumns(taskCounts: Map<string, number>, alloc: Map<string, Scalars>): Column<FrameworkEntry>[] {
  return [
    {
      title: 'Name',
      width: 'minmax(8rem, 2fr)',
      cell: (f) => <Link to={`/tasks?framework=${encodeURIComponent(f.id)}`}>{f.view.framework_info.name || '(no name)'}</Link>,
    },
    { title: 'Status', width: '9rem', cell: (f) => <Badge shown={frameworkShown({ ...f.view, completed: f.completed })} /> },
    { title: 'Tasks', width: '5rem', cell: (f) => taskCounts.get(f.id) ?? 0 },
    {
      title: 'CPU / Mem',
      width: '9rem',
      cell: (f) => {
        const a = alloc.get(f.id) ?? zero();
        return `${fmtNumber(a.cpus)} / ${fmtMb(a.mem)}`;
      },
    },
    { title: 'Role', width: '6rem', cell: (f) => (f.view.framework_info.roles ?? [f.view.framework_info.role ?? '*']).join(', ') },
    { title: 'ID', width: 'minmax(8rem, 2fr)', cell: (f) => <code className="ellipsis">{f.id}</code> },
  ];
}

export function activeTaskCounts(tasks: Iterable<{ framework_id: { value: string }; state: string }>): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of tasks)
    if (t.state === 'TASK_RUNNING' || t.state === 'TASK_STAGING' || t.state === 'TASK_STARTING')
      out.set(t.framework_id.value, (out.get(t.framework_id.value) ?? 0) + 1);
  return out;
}

/** Resources in use per framework, from its tasks (the stream does not resend framework allocations). */
export function allocationByFramework(tasks: Iterable<{ framework_id: { value: string }; state: string; resources: Resource[] }>): Map<string, Scalars> {
  const out = new Map<string, Scalars>();
  for (const t of tasks) {
    if (!holdsResources(t.state as never)) continue;
    const id = t.framework_id.value;
    out.set(id, addScalars(out.get(id) ?? zero(), t.resources));
  }
  return out;
}

export function Frameworks() {
  usePageTitle('Frameworks');
  const { model } = useLive();
  const rows = [...model.frameworks.values()].sort(
    (a, b) => Number(a.completed) - Number(b.completed) || a.view.framework_info.name.localeCompare(b.view.framework_info.name),
  );
  return (
    <Page title="Frameworks">
      <p className="muted">Every framework the master knows, including third-party schedulers; completed ones last.</p>
      <VirtualTable
        label="Frameworks"
        rows={rows}
        columns={frameworkColumns(activeTaskCounts(model.tasks.values()), allocationByFramework(model.tasks.values()))}
        rowKey={(f) => f.id}
      />
    </Page>
  );
}
