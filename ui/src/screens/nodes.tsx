import { Badge, type Column, Meter, Page, VirtualTable } from '../components.js';
import { useLive } from '../live.js';
import { type AgentEntry, type Scalars, addScalars, attributeText, filterTasks, zero } from '../logic/cluster.js';
import { fmtMb, fmtNumber } from '../logic/format.js';
import { nodeShown } from '../logic/status.js';
import { Link, navigate, usePageTitle, usePath } from '../router.js';
import { taskColumns } from './tasks.js';

export function Nodes() {
  usePageTitle('Nodes');
  const { query } = usePath();
  const { model } = useLive();
  const alloc = model.allocationByAgent();
  const rows = [...model.agents.values()].sort((a, b) => a.view.agent_info.hostname.localeCompare(b.view.agent_info.hostname));
  const used = (a: AgentEntry): Scalars => alloc.get(a.id) ?? zero();
  const total = (a: AgentEntry): Scalars => addScalars(zero(), a.view.total_resources ?? a.view.agent_info.resources);
  const columns: Column<AgentEntry>[] = [
    { title: 'Host', width: 'minmax(8rem, 2fr)', cell: (a) => <Link to={`/nodes/${encodeURIComponent(a.id)}`}>{a.view.agent_info.hostname}</Link> },
    { title: 'Status', width: '8rem', cell: (a) => <Badge shown={nodeShown(a.state)} /> },
    { title: 'CPU', width: '7rem', cell: (a) => `${fmtNumber(used(a).cpus)} / ${fmtNumber(total(a).cpus)}` },
    { title: 'Mem', width: '10rem', cell: (a) => `${fmtMb(used(a).mem)} / ${fmtMb(total(a).mem)}` },
    { title: 'Disk', width: '10rem', cell: (a) => `${fmtMb(used(a).disk)} / ${fmtMb(total(a).disk)}` },
    {
      title: 'Attributes',
      width: 'minmax(6rem, 2fr)',
      cell: (a) => (a.view.agent_info.attributes ?? []).map((x) => `${x.name}: ${attributeText(x)}`).join(', ') || <span className="muted">none</span>,
    },
  ];
  const grid = query.get('view') === 'grid';
  return (
    <Page
      title="Nodes"
      actions={
        <div className="toggle" role="group" aria-label="Show nodes as">
          <button type="button" aria-pressed={!grid} onClick={() => navigate('/nodes', { replace: true })}>
            List
          </button>
          <button type="button" aria-pressed={grid} onClick={() => navigate('/nodes?view=grid', { replace: true })}>
            Grid
          </button>
        </div>
      }
    >
      <p className="muted">Agents with their allocation (used / total). Removed agents stay listed until the page reloads.</p>
      {grid ? (
        <ul className="node-grid" aria-label="Nodes">
          {rows.map((a) => {
            const u = used(a);
            const t = total(a);
            return (
              <li key={a.id} className="card node-card" data-testid="node-card">
                <div className="node-card-head">
                  <Link to={`/nodes/${encodeURIComponent(a.id)}`}>{a.view.agent_info.hostname}</Link>
                  <Badge shown={nodeShown(a.state)} />
                </div>
                <Meter label="CPU" used={u.cpus} total={t.cpus} text={`${fmtNumber(u.cpus)} / ${fmtNumber(t.cpus)}`} />
                <Meter label="Mem" used={u.mem} total={t.mem} text={`${fmtMb(u.mem)} / ${fmtMb(t.mem)}`} />
                <Meter label="Disk" used={u.disk} total={t.disk} text={`${fmtMb(u.disk)} / ${fmtMb(t.disk)}`} />
              </li>
            );
          })}
        </ul>
      ) : (
        <VirtualTable label="Nodes" rows={rows} columns={columns} rowKey={(a) => a.id} />
      )}
    </Page>
  );
}

export function NodePage({ agentId }: { agentId: string }) {
  const { model } = useLive();
  const a = model.agents.get(agentId);
  usePageTitle(a ? `Node ${a.view.agent_info.hostname}` : 'Node');
  if (!a) {
    return (
      <Page title="Node not found">
        <p>
          The master does not know an agent <code>{agentId}</code>
          {model.agents.size === 0 ? ' (still loading?)' : ''}. Go back to the <Link to="/nodes">nodes</Link>.
        </p>
      </Page>
    );
  }
  const used = model.allocationByAgent().get(agentId) ?? zero();
  const total = addScalars(zero(), a.view.total_resources ?? a.view.agent_info.resources);
  const tasks = filterTasks(model, { agentId });
  return (
    <Page title={`Node ${a.view.agent_info.hostname}`}>
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          <Badge shown={nodeShown(a.state)} />
        </dd>
        <dt>ID</dt>
        <dd>
          <code>{a.id}</code>
        </dd>
        <dt>Version</dt>
        <dd>{a.view.version ?? '—'}</dd>
        <dt>Attributes</dt>
        <dd>{(a.view.agent_info.attributes ?? []).map((x) => `${x.name}: ${attributeText(x)}`).join(', ') || 'none'}</dd>
      </dl>
      <section className="cards">
        <div className="card">
          <Meter label="CPU" used={used.cpus} total={total.cpus} text={`${fmtNumber(used.cpus)} of ${fmtNumber(total.cpus)}`} />
        </div>
        <div className="card">
          <Meter label="Memory" used={used.mem} total={total.mem} text={`${fmtMb(used.mem)} of ${fmtMb(total.mem)}`} />
        </div>
        <div className="card">
          <Meter label="Disk" used={used.disk} total={total.disk} text={`${fmtMb(used.disk)} of ${fmtMb(total.disk)}`} />
        </div>
      </section>
      <h2>Tasks on this node ({tasks.length})</h2>
      <VirtualTable
        label={`Tasks on ${a.view.agent_info.hostname}`}
        rows={tasks}
        columns={taskColumns(model)}
        rowKey={(t) => `${t.framework_id.value}/${t.task_id.value}`}
        heightPx={400}
      />
    </Page>
  );
}
