import { gatewayLog, getJson, probe } from '../api.js';
import { Badge, Meter, Page, Sparkline } from '../components.js';
import { useFetch, useLive } from '../live.js';
import { SCALAR_NAMES, type Scalars } from '../logic/cluster.js';
import { componentHealth } from '../logic/components.js';
import { fmtMb, fmtNumber, pct } from '../logic/format.js';
import { HEALTH_ORDER, healthShown, taskShown } from '../logic/status.js';
import { groupTree } from '../logic/services.js';
import { useMarathon } from '../marathon.js';
import { Link, usePageTitle } from '../router.js';
import type { TaskState } from '../../../src/model/mesos.js';

const PROBE_EVERY_MS = 15_000;
const LABEL: Record<keyof Scalars, string> = { cpus: 'CPU', mem: 'Memory', disk: 'Disk', gpus: 'GPU' };
const amount = (k: keyof Scalars, v: number) => (k === 'mem' || k === 'disk' ? fmtMb(v) : `${fmtNumber(v)}${k === 'cpus' ? ' cores' : ''}`);

export function Dashboard() {
  usePageTitle('Dashboard');
  const live = useLive();
  const s = live.model.summary();
  const samples = live.history.samples;
  const marathon = useMarathon();
  const version = useFetch('version', () => getJson<{ version: string }>('/dcos-metadata/dcos-version.json', 'the cluster version'));
  const states = Object.entries(s.byState).sort((a, b) => b[1] - a[1]) as [TaskState, number][];

  // Each component is probed through the gateway at its own endpoint, every 15 s.
  const masterProbe = useFetch('probe-master', () => probe('/mesos/master/health', 'the master health check'), PROBE_EVERY_MS);
  const marathonProbe = useFetch('probe-marathon', () => probe('/service/marathon/ping', 'the Marathon ping'), PROBE_EVERY_MS);
  const dnsProbe = useFetch('probe-dns', () => probe('/mesos_dns/v1/version', 'the Mesos-DNS version'), PROBE_EVERY_MS);
  const components = componentHealth({
    gateway: gatewayLog.outcomes(),
    link: live.link.kind === 'down' ? { kind: 'down', error: live.link.error.title } : { kind: live.link.kind },
    ...(masterProbe.data ? { master: masterProbe.data } : {}),
    ...(marathonProbe.data ? { marathon: marathonProbe.data } : {}),
    ...(dnsProbe.data ? { dns: dnsProbe.data } : {}),
    nodes: s.nodes,
    ...(version.data ? { version: version.data.version } : {}),
  });

  const tree = marathon.kind === 'present' ? groupTree(marathon.apps, marathon.queue) : undefined;
  const healthCounts = tree ? HEALTH_ORDER.filter((h) => tree.health[h]).map((h) => [h, tree.health[h] ?? 0] as const) : [];
  const statusCounts = tree ? Object.entries(tree.counts) : [];

  return (
    <Page title="Dashboard">
      <section aria-labelledby="res-h" className="cards">
        <h2 id="res-h" className="visually-hidden">
          Resources allocated
        </h2>
        {SCALAR_NAMES.map((k) => (
          <div className="card" key={k} data-testid={`res-${k}`}>
            <Meter label={LABEL[k]} used={s.allocated[k]} total={s.total[k]} text={`${amount(k, s.allocated[k])} of ${amount(k, s.total[k])}`} />
            <Sparkline
              label={`${LABEL[k]} allocated over the last hour`}
              points={samples.map((x) => pct(x.allocated[k], x.total[k]))}
              times={samples.map((x) => x.atMs)}
            />
          </div>
        ))}
      </section>
      <div className="grid2">
        <section className="card" aria-labelledby="tasks-h">
          <h2 id="tasks-h">Tasks by state</h2>
          {states.length === 0 ? <p className="muted">No tasks yet.</p> : null}
          <ul className="counts">
            {states.map(([st, n]) => (
              <li key={st}>
                <Badge shown={taskShown(st)} /> <span data-testid={`tasks-${st}`}>{n}</span>
              </li>
            ))}
          </ul>
          <Link to="/tasks">All tasks</Link>
        </section>
        <section className="card" aria-labelledby="nodes-h">
          <h2 id="nodes-h">Nodes by state</h2>
          <ul className="counts">
            <li>
              <Badge shown={{ label: 'Healthy', tone: 'ok' }} /> <span data-testid="nodes-active">{s.nodes.active}</span>
            </li>
            <li>
              <Badge shown={{ label: 'Unreachable or removed', tone: 'warn' }} /> <span>{s.nodes.unreachable + s.nodes.removed}</span>
            </li>
          </ul>
          <Link to="/nodes">All nodes</Link>
        </section>
        <section className="card" aria-labelledby="svc-h">
          <h2 id="svc-h">Services by health</h2>
          {tree && healthCounts.length === 0 ? <p className="muted">No services deployed yet.</p> : null}
          {tree ? (
            <>
              <ul className="counts" aria-label="Services by health">
                {healthCounts.map(([h, n]) => (
                  <li key={h}>
                    <Badge shown={healthShown(h)} /> <span data-testid={`health-${h}`}>{n}</span>
                  </li>
                ))}
              </ul>
              {statusCounts.length > 0 ? (
                <p className="muted" data-testid="services-by-status">
                  By status: {statusCounts.map(([st, n]) => `${n} ${st}`).join(', ')}
                </p>
              ) : null}
            </>
          ) : (
            <p>
              {s.frameworksActive} framework{s.frameworksActive === 1 ? '' : 's'} registered.{' '}
              <span className="muted">(Service health comes with Marathon.)</span>
            </p>
          )}
          <Link to="/services">All services</Link>
        </section>
        <section className="card wide" aria-labelledby="comp-h">
          <h2 id="comp-h">Component health</h2>
          <table className="plain">
            <tbody>
              {components.map((c) => (
                <tr key={c.name} data-testid={`component-${c.name}`}>
                  <th scope="row">{c.name}</th>
                  <td>
                    <Badge shown={c.shown} />
                  </td>
                  <td className="muted">{c.detail}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      </div>
    </Page>
  );
}
