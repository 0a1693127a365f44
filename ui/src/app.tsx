import { Badge } from './components.js';
import { useLive } from './live.js';
import { Link, usePath } from './router.js';
import { Dashboard } from './screens/dashboard.js';
import { Frameworks } from './screens/frameworks.js';
import { NodePage, Nodes } from './screens/nodes.js';
import { ServiceEditPage, ServiceEditor, ServicePage } from './screens/service.js';
import { Services } from './screens/services.js';
import { TaskPage } from './screens/task.js';
import { Tasks } from './screens/tasks.js';

/** Screens in the navigation. Features that have not landed (jobs, catalog, networking, users) are not listed. */
const NAV = [
  { to: '/dashboard', label: 'Dashboard' },
  { to: '/services', label: 'Services' },
  { to: '/nodes', label: 'Nodes' },
  { to: '/tasks', label: 'Tasks' },
  { to: '/frameworks', label: 'Frameworks' },
];

function route(path: string) {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case undefined:
    case 'dashboard':
      return <Dashboard />;
    case 'services':
      if (parts[1] === 'new') return <ServiceEditor />;
      if (parts[1] === 'app' && parts[2]) return <ServicePage key={parts[2]} id={parts[2]} />;
      if (parts[1] === 'edit' && parts[2]) return <ServiceEditPage key={parts[2]} id={parts[2]} />;
      return <Services />;
    case 'nodes':
      return parts[1] ? <NodePage agentId={parts[1]} /> : <Nodes />;
    case 'tasks':
      return parts[1] && parts[2] ? <TaskPage frameworkId={parts[1]} taskId={parts[2]} /> : <Tasks />;
    case 'frameworks':
      return <Frameworks />;
    default:
      return (
        <>
          <h1 tabIndex={-1}>Page not found</h1>
          <p>
            There is no screen at <code>{path}</code>. Go to the <Link to="/dashboard">dashboard</Link>.
          </p>
        </>
      );
  }
}

function LinkStatus() {
  const l = useLive().link;
  const shown =
    l.kind === 'live'
      ? { label: 'Live', tone: 'ok' as const }
      : l.kind === 'connecting'
        ? { label: 'Connecting…', tone: 'busy' as const }
        : { label: 'Disconnected', tone: 'bad' as const };
  return (
    <div className="link-status" role="status" aria-live="polite">
      <Badge shown={shown} />
    </div>
  );
}

function StreamError() {
  const l = useLive().link;
  if (l.kind !== 'down') return null;
  return (
    <div className="error banner" role="alert">
      <strong>{l.error.title}</strong> <span>{l.error.hint}</span> <span className="muted">Retrying in {Math.round(l.retryInMs / 1000)} s.</span>
    </div>
  );
}

export function App() {
  const { path } = usePath();
  const top = `/${path.split('/')[1] || 'dashboard'}`;
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/dashboard" className="brand" label="dcos-ts, go to the dashboard">
          dcos-ts
        </Link>
        <LinkStatus />
      </header>
      <nav className="sidenav" aria-label="Main">
        <ul>
          {NAV.map((n) => (
            <li key={n.to}>
              <Link to={n.to} current={top === n.to}>
                {n.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <StreamError />
        {route(path)}
      </main>
    </div>
  );
}
