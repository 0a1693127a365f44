import { useEffect, useRef, useState } from 'react';
import { ApiError, agentPath, getJson } from '../api.js';
import { Badge, ErrorBox, Page } from '../components.js';
import { useFetch, useLive } from '../live.js';
import { type AgentStateLike, addScalars, sandboxOf, zero } from '../logic/cluster.js';
import { fmtBytes, fmtMb, fmtNumber, fmtTime } from '../logic/format.js';
import { type FollowState, applyRead, nextRead, startFollow } from '../logic/log-follower.js';
import { taskShown } from '../logic/status.js';
import { Link, usePageTitle } from '../router.js';

interface FileEntry {
  path: string;
  size: number;
  mode: string;
  mtime: number;
}

/** Follows one sandbox file: offset -1 for its size, then pages forward, backing off while idle. */
function useFollow(agentId: string, path: string | undefined): { state: FollowState; error?: ApiError } {
  const [state, setState] = useState<FollowState>(startFollow());
  const [error, setError] = useState<ApiError>();
  useEffect(() => {
    if (!path) return;
    let stop = false;
    let s = startFollow();
    setState(s);
    setError(undefined);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const step = async (): Promise<void> => {
      const r = nextRead(s);
      const q = new URLSearchParams({ path, offset: String(r.offset) });
      if (r.length !== undefined) q.set('length', String(r.length));
      let delayMs = 2000;
      try {
        const reply = await getJson<{ offset: number; data: string }>(agentPath(agentId, `files/read?${q}`), path.split('/').pop() ?? 'the file');
        if (stop) return;
        const next = applyRead(s, reply);
        s = next.state;
        delayMs = next.delayMs;
        setState(s);
        setError(undefined);
      } catch (e) {
        if (stop) return;
        setError(e instanceof ApiError ? e : undefined);
      }
      timer = setTimeout(step, delayMs);
    };
    void step();
    return () => {
      stop = true;
      if (timer) clearTimeout(timer);
    };
  }, [agentId, path]);
  return { state, ...(error ? { error } : {}) };
}

function LogView({ agentId, path, label }: { agentId: string; path: string; label: string }) {
  const { state, error } = useFollow(agentId, path);
  const pre = useRef<HTMLPreElement>(null);
  const [stick, setStick] = useState(true);
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll on new text
  useEffect(() => {
    if (stick && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [state.text, stick]);
  return (
    <div>
      {error ? <ErrorBox error={error} /> : null}
      <pre
        ref={pre}
        className="log"
        role="log"
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable log must take focus so keyboard users can scroll it
        tabIndex={0}
        aria-label={`${label}, following live`}
        data-testid={`log-${label}`}
        onScroll={(e) => {
          const el = e.currentTarget;
          setStick(el.scrollHeight - el.scrollTop - el.clientHeight < 24);
        }}
      >
        {state.truncated ? '[earlier output not shown]\n' : ''}
        {state.text || (state.offset < 0 ? 'Loading…' : '(empty so far)')}
      </pre>
      <p className="muted">{state.offset >= 0 ? `${fmtBytes(state.offset)} read; ${stick ? 'following new output' : 'scroll to the end to follow'}` : ''}</p>
    </div>
  );
}

function Browser({ agentId, root }: { agentId: string; root: string }) {
  const [dir, setDir] = useState(root);
  const [file, setFile] = useState<string>();
  const list = useFetch(`browse:${agentId}:${dir}`, () =>
    getJson<FileEntry[]>(agentPath(agentId, `files/browse?path=${encodeURIComponent(dir)}`), 'the sandbox listing'),
  );
  const rel = dir.slice(root.length) || '/';
  return (
    <div>
      <nav aria-label="Sandbox path" className="crumbs">
        <button type="button" onClick={() => setDir(root)}>
          sandbox
        </button>
        {rel !== '/' ? <span> {rel}</span> : null}
        {dir !== root ? (
          <button type="button" onClick={() => setDir(dir.slice(0, dir.lastIndexOf('/')) || root)}>
            Up one level
          </button>
        ) : null}
      </nav>
      {list.error ? <ErrorBox error={list.error} /> : null}
      <table className="plain files">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Size</th>
            <th scope="col">Mode</th>
            <th scope="col">Modified</th>
          </tr>
        </thead>
        <tbody>
          {(list.data ?? []).map((f) => {
            const name = f.path.split('/').pop() ?? f.path;
            const isDir = f.mode.startsWith('d');
            return (
              <tr key={f.path}>
                <td>
                  <button type="button" className="linklike" onClick={() => (isDir ? setDir(f.path) : setFile(f.path))}>
                    {name}
                    {isDir ? '/' : ''}
                  </button>
                </td>
                <td>{isDir ? '' : fmtBytes(f.size)}</td>
                <td>
                  <code>{f.mode}</code>
                </td>
                <td>{fmtTime(f.mtime)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {file ? (
        <section aria-label={`File ${file.split('/').pop()}`}>
          <h3>{file.slice(root.length)}</h3>
          <LogView agentId={agentId} path={file} label={file.split('/').pop() ?? 'file'} />
        </section>
      ) : null}
    </div>
  );
}

type Tab = 'stdout' | 'stderr' | 'files' | 'history';

export function TaskPage({ frameworkId, taskId }: { frameworkId: string; taskId: string }) {
  usePageTitle(`Task ${taskId}`);
  const { model } = useLive();
  const task = model.tasks.get(`${frameworkId}/${taskId}`);
  const [tab, setTab] = useState<Tab>('stdout');
  const agentId = task?.agent_id.value ?? '';
  const agentState = useFetch(`agent-state:${agentId}:${task?.state}`, () =>
    agentId ? getJson<AgentStateLike>(agentPath(agentId, 'state'), "the node's state") : Promise.resolve({} as AgentStateLike),
  );
  if (!task) {
    return (
      <Page title={`Task ${taskId}`}>
        <p>
          {model.tasks.size === 0 ? 'Loading…' : 'The master does not know this task (it may have completed long ago).'} Go back to the{' '}
          <Link to="/tasks">tasks</Link>.
        </p>
      </Page>
    );
  }
  const sandbox = agentState.data ? sandboxOf(agentState.data, frameworkId, taskId) : undefined;
  const res = addScalars(zero(), task.resources);
  const tabs: { id: Tab; label: string }[] = [
    { id: 'stdout', label: 'Output (stdout)' },
    { id: 'stderr', label: 'Errors (stderr)' },
    { id: 'files', label: 'Files' },
    { id: 'history', label: 'Status history' },
  ];
  return (
    <Page title={`Task ${taskId}`}>
      <dl className="facts">
        <dt>State</dt>
        <dd>
          <Badge shown={taskShown(task.state)} />
        </dd>
        <dt>Name</dt>
        <dd>{task.name}</dd>
        <dt>Framework</dt>
        <dd>{model.frameworks.get(frameworkId)?.view.framework_info.name ?? frameworkId}</dd>
        <dt>Node</dt>
        <dd>
          <Link to={`/nodes/${encodeURIComponent(agentId)}`}>{model.agents.get(agentId)?.view.agent_info.hostname ?? agentId}</Link>
        </dd>
        <dt>Resources</dt>
        <dd>
          {fmtNumber(res.cpus)} CPU, {fmtMb(res.mem)}
        </dd>
      </dl>
      <div role="tablist" aria-label="Task details" className="tabs">
        {tabs.map((t) => (
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
              const i = tabs.findIndex((x) => x.id === tab);
              const d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
              if (!d) return;
              const next = tabs[(i + d + tabs.length) % tabs.length]!;
              setTab(next.id);
              document.getElementById(`tab-${next.id}`)?.focus();
            }}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} className="panel">
        {tab === 'history' ? (
          <table className="plain">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">State</th>
                <th scope="col">Source</th>
                <th scope="col">Reason / message</th>
              </tr>
            </thead>
            <tbody>
              {[...(task.statuses ?? [])].reverse().map((s, i) => (
                <tr key={`${s.timestamp}-${i}`}>
                  <td>{fmtTime(s.timestamp)}</td>
                  <td>
                    <Badge shown={taskShown(s.state)} />
                  </td>
                  <td>{s.source?.replace('SOURCE_', '').toLowerCase() ?? ''}</td>
                  <td>{[s.reason, s.message].filter(Boolean).join(': ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : agentState.error ? (
          <ErrorBox error={agentState.error} />
        ) : !sandbox ? (
          <p className="muted">{agentState.loading ? 'Finding the sandbox…' : 'The node has no sandbox for this task (it may have been cleaned up).'}</p>
        ) : tab === 'files' ? (
          <Browser agentId={agentId} root={sandbox} />
        ) : (
          <LogView key={tab} agentId={agentId} path={`${sandbox}/${tab}`} label={tab} />
        )}
      </div>
    </Page>
  );
}
