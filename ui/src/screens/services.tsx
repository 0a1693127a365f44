import { Badge, type Column, ErrorBox, Page, VirtualTable } from '../components.js';
import { useLive } from '../live.js';
import { fmtMb, fmtNumber } from '../logic/format.js';
import { type AppNode, type GroupNode, groupTree } from '../logic/services.js';
import { HEALTH_ORDER, healthDetail, healthShown, serviceShown } from '../logic/status.js';
import { useMarathon } from '../marathon.js';
import { Link, navigate, usePageTitle } from '../router.js';
import { servicePath } from './service-edit.js';
import { activeTaskCounts, allocationByFramework, frameworkColumns } from './frameworks.js';

interface Row {
  depth: number;
  key: string;
  group?: GroupNode;
  node?: AppNode;
}

function flatten(n: GroupNode, depth: number, out: Row[]): Row[] {
  for (const g of n.groups) {
    out.push({ depth, key: `g:${g.path}`, group: g });
    flatten(g, depth + 1, out);
  }
  for (const a of n.apps) out.push({ depth, key: `a:${a.app.id}`, node: a });
  return out;
}

const columns: Column<Row>[] = [
  {
    title: 'Name',
    width: 'minmax(8rem, 3fr)',
    cell: (r) => (
      <span style={{ paddingLeft: `${r.depth * 1.25}rem` }}>
        {r.group ? `${r.group.name}/` : r.node ? <Link to={servicePath(r.node.app.id)}>{r.node.app.id.split('/').pop()}</Link> : ''}
      </span>
    ),
  },
  {
    title: 'Status',
    width: 'minmax(8rem, 2fr)',
    cell: (r) =>
      r.node ? (
        <span className="status-cell">
          <Badge shown={serviceShown(r.node.status)} />
          {r.node.stuck ? (
            <span className="why" data-testid="stuck-reason" title={r.node.stuck}>
              {r.node.stuck}
            </span>
          ) : null}
        </span>
      ) : (
        <span className="muted">
          {Object.entries(r.group?.counts ?? {})
            .map(([s, n]) => `${n} ${s}`)
            .join(', ')}
        </span>
      ),
  },
  {
    title: 'Health',
    width: '10.5rem',
    cell: (r) =>
      r.node ? (
        <span title={healthDetail(r.node.app)} data-testid="service-health">
          <Badge shown={healthShown(r.node.health)} />
        </span>
      ) : (
        <span className="muted">
          {HEALTH_ORDER.filter((h) => r.group?.health[h])
            .map((h) => `${r.group?.health[h]} ${h}`)
            .join(', ')}
        </span>
      ),
  },
  { title: 'Instances', width: '6rem', cell: (r) => (r.node ? `${r.node.app.tasksRunning ?? 0} / ${r.node.app.instances}` : '') },
  { title: 'CPU', width: '4rem', cell: (r) => (r.node ? fmtNumber(r.node.app.cpus ?? 0) : '') },
  { title: 'Mem', width: '5rem', cell: (r) => (r.node ? fmtMb(r.node.app.mem ?? 0) : '') },
];

export function Services() {
  usePageTitle('Services');
  const marathon = useMarathon();
  const { model } = useLive();
  const fwColumns = frameworkColumns(activeTaskCounts(model.tasks.values()), allocationByFramework(model.tasks.values()));
  if (marathon.kind === 'present') {
    const others = [...model.frameworks.values()].filter((f) => !f.completed && f.view.framework_info.name !== 'marathon');
    return (
      <Page
        title="Services"
        actions={
          <button type="button" className="primary" onClick={() => navigate('/services/new')}>
            Create a service
          </button>
        }
      >
        {marathon.apps.length === 0 ? (
          <p className="note">
            No services yet. Services deployed through Marathon (<code>/service/marathon/v2/apps</code>) appear here by group.
          </p>
        ) : null}
        <VirtualTable
          label="Services by group"
          rows={flatten(groupTree(marathon.apps, marathon.queue), 0, [])}
          columns={columns}
          rowKey={(r) => r.key}
          heightPx={420}
        />
        <h2 style={{ marginTop: '1rem' }}>Other frameworks</h2>
        <VirtualTable label="Other frameworks" rows={others} columns={fwColumns} rowKey={(f) => f.id} heightPx={300} />
      </Page>
    );
  }
  const fws = [...model.frameworks.values()].filter((f) => !f.completed);
  return (
    <Page title="Services">
      {marathon.kind === 'error' ? <ErrorBox error={marathon.error} /> : null}
      <p className="note" role="note">
        {marathon.kind === 'probing'
          ? 'Checking for Marathon…'
          : 'Marathon is not running on this cluster yet, so services are shown as the frameworks the master knows.'}
      </p>
      <VirtualTable label="Frameworks" rows={fws} columns={fwColumns} rowKey={(f) => f.id} />
    </Page>
  );
}
