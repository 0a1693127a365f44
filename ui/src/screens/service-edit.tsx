import { type ReactNode, useId, useRef, useState } from 'react';
import { Page } from '../components.js';
import {
  type AppForm,
  type FieldError,
  type Json,
  type KeyValue,
  emptyForm,
  errorsByField,
  formFromJson,
  humanError,
  jsonFromForm,
  parseDefinition,
  validateDefinition,
} from '../logic/app-form.js';
import { marathonSend } from '../marathon.js';
import { navigate, usePageTitle } from '../router.js';

/** Fields Marathon adds to an app it returns; an edit sends the definition without them. */
const SERVER_FIELDS = [
  'version',
  'versionInfo',
  'tasksRunning',
  'tasksStaged',
  'tasksHealthy',
  'tasksUnhealthy',
  'deployments',
  'lastTaskFailure',
  'tasks',
  'taskStats',
  'readinessCheckResults',
  'placementStatus',
];

export function definitionOf(app: Json): Json {
  const out = { ...app };
  for (const k of SERVER_FIELDS) delete out[k];
  return out;
}

export const servicePath = (id: string): string => `/services/app/${encodeURIComponent(id)}`;

function Field({
  label,
  name,
  errors,
  hint,
  children,
}: {
  label: string;
  name: string;
  errors: Map<string, string[]>;
  hint?: string;
  children: (props: { id: string; 'aria-invalid': boolean; 'aria-describedby'?: string }) => ReactNode;
}) {
  const id = `f-${name.replace(/\./g, '-')}`;
  const errs = errors.get(name);
  const describedBy = [hint ? `${id}-hint` : '', errs ? `${id}-err` : ''].filter(Boolean).join(' ');
  return (
    <div className={`field${errs ? ' invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-invalid': Boolean(errs), ...(describedBy ? { 'aria-describedby': describedBy } : {}) })}
      {hint ? (
        <span className="hint" id={`${id}-hint`}>
          {hint}
        </span>
      ) : null}
      {errs ? (
        <span className="field-error" id={`${id}-err`} data-testid={`error-${name}`}>
          {errs.join(' ')}
        </span>
      ) : null}
    </div>
  );
}

function Rows({
  title,
  rows,
  kind,
  errors,
  onChange,
  keyLabel,
}: {
  title: string;
  rows: KeyValue[];
  kind: 'env' | 'labels';
  errors: Map<string, string[]>;
  onChange: (rows: KeyValue[]) => void;
  keyLabel: string;
}) {
  const set = (i: number, r: KeyValue) => onChange(rows.map((x, j) => (j === i ? r : x)));
  return (
    <fieldset>
      <legend>{title}</legend>
      {errors.get(kind) ? <p className="field-error">{errors.get(kind)?.join(' ')}</p> : null}
      {rows.map((r, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their place
        <div className="kv" key={i}>
          <Field label={`${keyLabel} ${i + 1}`} name={`${kind}.${i}.key`} errors={errors}>
            {(p) => <input {...p} value={r.key} onChange={(e) => set(i, { ...r, key: e.target.value })} />}
          </Field>
          <Field label={`Value ${i + 1}`} name={`${kind}.${i}.value`} errors={errors}>
            {(p) => <input {...p} value={r.value} onChange={(e) => set(i, { ...r, value: e.target.value })} />}
          </Field>
          <button
            type="button"
            className="secondary"
            aria-label={`Remove ${keyLabel.toLowerCase()} ${i + 1}`}
            onClick={() => onChange(rows.filter((_, j) => j !== i))}
          >
            Remove
          </button>
        </div>
      ))}
      <button type="button" className="secondary" onClick={() => onChange([...rows, { key: '', value: '' }])}>
        Add {keyLabel.toLowerCase()}
      </button>
    </fieldset>
  );
}

function FormView({ form, setForm, errors }: { form: AppForm; setForm: (f: AppForm) => void; errors: Map<string, string[]> }) {
  const text = (k: 'id' | 'cmd' | 'instances' | 'cpus' | 'mem' | 'disk' | 'image') => (p: { id: string }) => (
    <input {...p} value={form[k]} onChange={(e) => setForm({ ...form, [k]: e.target.value })} />
  );
  const h = form.health;
  const setH = (patch: Partial<AppForm['health']>) => setForm({ ...form, health: { ...h, ...patch } });
  return (
    <div className="form-grid">
      <fieldset>
        <legend>Service</legend>
        <Field label="Service ID" name="id" errors={errors} hint="A path such as /my-group/my-app: lowercase letters, digits, hyphens.">
          {text('id')}
        </Field>
        <Field label="Command" name="cmd" errors={errors} hint="Run by /bin/sh in the sandbox. $PORT0 holds the first port.">
          {(p) => <textarea {...p} rows={3} value={form.cmd} onChange={(e) => setForm({ ...form, cmd: e.target.value })} />}
        </Field>
        <Field label="Container image" name="image" errors={errors} hint="Optional, a Docker image such as busybox:1.36.">
          {text('image')}
        </Field>
      </fieldset>
      <fieldset>
        <legend>Resources</legend>
        <div className="row4">
          <Field label="Instances" name="instances" errors={errors}>
            {(p) => <input {...p} inputMode="numeric" value={form.instances} onChange={(e) => setForm({ ...form, instances: e.target.value })} />}
          </Field>
          <Field label="CPUs" name="cpus" errors={errors}>
            {(p) => <input {...p} inputMode="decimal" value={form.cpus} onChange={(e) => setForm({ ...form, cpus: e.target.value })} />}
          </Field>
          <Field label="Memory (MiB)" name="mem" errors={errors}>
            {(p) => <input {...p} inputMode="numeric" value={form.mem} onChange={(e) => setForm({ ...form, mem: e.target.value })} />}
          </Field>
          <Field label="Disk (MiB)" name="disk" errors={errors}>
            {(p) => <input {...p} inputMode="numeric" value={form.disk} onChange={(e) => setForm({ ...form, disk: e.target.value })} />}
          </Field>
        </div>
      </fieldset>
      <Rows title="Environment variables" kind="env" keyLabel="Variable" rows={form.env} errors={errors} onChange={(env) => setForm({ ...form, env })} />
      <Rows title="Labels" kind="labels" keyLabel="Label" rows={form.labels} errors={errors} onChange={(labels) => setForm({ ...form, labels })} />
      <fieldset>
        <legend>Ports</legend>
        {errors.get('ports') ? <p className="field-error">{errors.get('ports')?.join(' ')}</p> : null}
        {form.ports.map((r, i) => {
          const set = (patch: Partial<typeof r>) => setForm({ ...form, ports: form.ports.map((x, j) => (j === i ? { ...x, ...patch } : x)) });
          return (
            // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their place
            <div className="kv" key={i}>
              <Field label={`Port ${i + 1}`} name={`ports.${i}.port`} errors={errors} hint="0 = any free port">
                {(p) => <input {...p} inputMode="numeric" value={r.port} onChange={(e) => set({ port: e.target.value })} />}
              </Field>
              <Field label={`Port ${i + 1} name`} name={`ports.${i}.name`} errors={errors}>
                {(p) => <input {...p} value={r.name} onChange={(e) => set({ name: e.target.value })} />}
              </Field>
              <Field label={`Port ${i + 1} protocol`} name={`ports.${i}.protocol`} errors={errors}>
                {(p) => (
                  <select {...p} value={r.protocol} onChange={(e) => set({ protocol: e.target.value })}>
                    <option value="">tcp (default)</option>
                    <option value="tcp">tcp</option>
                    <option value="udp">udp</option>
                    <option value="udp,tcp">udp,tcp</option>
                  </select>
                )}
              </Field>
              <button
                type="button"
                className="secondary"
                aria-label={`Remove port ${i + 1}`}
                onClick={() => setForm({ ...form, ports: form.ports.filter((_, j) => j !== i) })}
              >
                Remove
              </button>
            </div>
          );
        })}
        <button type="button" className="secondary" onClick={() => setForm({ ...form, ports: [...form.ports, { port: '0', name: '', protocol: '' }] })}>
          Add port
        </button>
      </fieldset>
      <fieldset>
        <legend>Health check</legend>
        <Field label="Protocol" name="health.protocol" errors={errors}>
          {(p) => (
            <select {...p} value={h.protocol} onChange={(e) => setH({ protocol: e.target.value })}>
              <option value="">None</option>
              <option value="HTTP">HTTP</option>
              <option value="TCP">TCP</option>
              <option value="COMMAND">Command</option>
            </select>
          )}
        </Field>
        {h.protocol === 'HTTP' ? (
          <Field label="Path" name="health.path" errors={errors}>
            {(p) => <input {...p} value={h.path} placeholder="/" onChange={(e) => setH({ path: e.target.value })} />}
          </Field>
        ) : null}
        {h.protocol === 'HTTP' || h.protocol === 'TCP' ? (
          <Field label="Port index" name="health.portIndex" errors={errors}>
            {(p) => <input {...p} inputMode="numeric" value={h.portIndex} placeholder="0" onChange={(e) => setH({ portIndex: e.target.value })} />}
          </Field>
        ) : null}
        {h.protocol === 'COMMAND' ? (
          <Field label="Health command" name="health.command" errors={errors}>
            {(p) => <input {...p} value={h.command} onChange={(e) => setH({ command: e.target.value })} />}
          </Field>
        ) : null}
        {h.protocol !== '' ? (
          <div className="row4">
            <Field label="Grace period (s)" name="health.gracePeriodSeconds" errors={errors}>
              {(p) => (
                <input
                  {...p}
                  inputMode="numeric"
                  value={h.gracePeriodSeconds}
                  placeholder="300"
                  onChange={(e) => setH({ gracePeriodSeconds: e.target.value })}
                />
              )}
            </Field>
            <Field label="Interval (s)" name="health.intervalSeconds" errors={errors}>
              {(p) => (
                <input {...p} inputMode="numeric" value={h.intervalSeconds} placeholder="60" onChange={(e) => setH({ intervalSeconds: e.target.value })} />
              )}
            </Field>
            <Field label="Timeout (s)" name="health.timeoutSeconds" errors={errors}>
              {(p) => <input {...p} inputMode="numeric" value={h.timeoutSeconds} placeholder="20" onChange={(e) => setH({ timeoutSeconds: e.target.value })} />}
            </Field>
            <Field label="Failures before kill" name="health.maxConsecutiveFailures" errors={errors}>
              {(p) => (
                <input
                  {...p}
                  inputMode="numeric"
                  value={h.maxConsecutiveFailures}
                  placeholder="3"
                  onChange={(e) => setH({ maxConsecutiveFailures: e.target.value })}
                />
              )}
            </Field>
          </div>
        ) : null}
      </fieldset>
    </div>
  );
}

/** A textarea with line numbers beside it (scrolled together); the line with a JSON error is marked. */
function JsonEditor({ text, setText, badLine, describedBy }: { text: string; setText: (t: string) => void; badLine?: number; describedBy?: string }) {
  const gutter = useRef<HTMLDivElement>(null);
  const lines = text.split('\n').length;
  const id = useId();
  return (
    <div className="json-editor">
      <label htmlFor={id} className="visually-hidden">
        App definition (JSON)
      </label>
      <div className="gutter" ref={gutter} aria-hidden="true">
        {Array.from({ length: lines }, (_, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: line numbers
          <div key={i} className={badLine === i + 1 ? 'bad' : undefined}>
            {i + 1}
          </div>
        ))}
      </div>
      <textarea
        id={id}
        spellCheck={false}
        value={text}
        aria-describedby={describedBy}
        onChange={(e) => setText(e.target.value)}
        onScroll={(e) => {
          if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop;
        }}
        rows={24}
      />
    </div>
  );
}

/**
 * Create (POST /v2/apps) or edit (PUT /v2/apps/{id}) a service, by form or JSON. Both views edit
 * one definition: the form's fields plus the JSON it does not show, so switching keeps everything.
 */
export function ServiceEditor({ initial, editId }: { initial?: Json; editId?: string }) {
  usePageTitle(editId ? `Edit ${editId}` : 'Create a service');
  const start = formFromJson(initial ? definitionOf(initial) : jsonFromForm(emptyForm(), {}));
  const [form, setForm] = useState<AppForm>(start.form);
  const [extra, setExtra] = useState<Json>(start.extra);
  const [view, setView] = useState<'form' | 'json'>('form');
  const [text, setText] = useState('');
  const [jsonError, setJsonError] = useState<{ message: string; line?: number }>();
  const [details, setDetails] = useState<FieldError[]>([]);
  const [serverMessage, setServerMessage] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [conflict, setConflict] = useState<string[]>();
  const errId = useId();

  const toJson = (): boolean => {
    setText(JSON.stringify(jsonFromForm(form, extra), null, 2));
    setJsonError(undefined);
    setView('json');
    return true;
  };
  const toForm = (): boolean => {
    const r = parseDefinition(text);
    if (!r.ok) {
      setJsonError(r);
      return false;
    }
    const s = formFromJson(r.def);
    setForm(s.form);
    setExtra(s.extra);
    setJsonError(undefined);
    setView('form');
    return true;
  };

  const submit = async (force = false) => {
    let def: Json;
    let formNow = form;
    if (view === 'json') {
      const r = parseDefinition(text);
      if (!r.ok) return setJsonError(r);
      def = r.def;
      formNow = formFromJson(def).form;
    } else def = jsonFromForm(form, extra);
    const local = validateDefinition(def);
    setServerMessage(undefined);
    setConflict(undefined);
    if (local.length > 0) {
      setDetails(local);
      focusFirstError(local, formNow);
      return;
    }
    setBusy(true);
    const r = editId
      ? await marathonSend('PUT', `/v2/apps${editId}${force ? '?force=true' : ''}`, def, editId)
      : await marathonSend('POST', `/v2/apps${force ? '?force=true' : ''}`, def, 'the new service');
    setBusy(false);
    if (r.ok) {
      setDetails([]);
      navigate(servicePath(editId ?? String((r.value as Json).id ?? def.id)));
      return;
    }
    if (r.status === 409 && r.deployments.length > 0) setConflict(r.deployments);
    setDetails(r.details);
    setServerMessage(
      r.status === 422 || r.status === 400
        ? `Marathon refused the definition: ${r.message}. The fields it named are marked below.`
        : `${r.explained.title} ${r.message || r.explained.hint}`,
    );
    focusFirstError(r.details, formNow);
  };

  const focusFirstError = (ds: FieldError[], f: AppForm) => {
    if (view !== 'form') return;
    const by = errorsByField(ds, f);
    const first = [...by.keys()].find((k) => k !== 'general');
    requestAnimationFrame(() => document.getElementById(`f-${(first ?? '').replace(/\./g, '-')}`)?.focus());
  };

  const byField = errorsByField(details, form);
  const general = view === 'json' ? details.flatMap((d) => d.errors.map((e) => `${d.path || '/'}: ${humanError(e)}`)) : (byField.get('general') ?? []);
  return (
    <Page title={editId ? `Edit ${editId}` : 'Create a service'}>
      <div
        role="tablist"
        aria-label="Edit as"
        className="tabs"
        onKeyDown={(e) => {
          if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
          const ok = view === 'form' ? toJson() : toForm();
          if (ok) requestAnimationFrame(() => document.getElementById(`edit-tab-${view === 'form' ? 'json' : 'form'}`)?.focus());
        }}
      >
        {(['form', 'json'] as const).map((v) => (
          <button
            key={v}
            type="button"
            role="tab"
            id={`edit-tab-${v}`}
            aria-controls="editor-panel"
            aria-selected={view === v}
            tabIndex={view === v ? 0 : -1}
            onClick={() => (view === v ? undefined : v === 'form' ? toForm() : toJson())}
          >
            {v === 'form' ? 'Form' : 'JSON'}
          </button>
        ))}
      </div>
      <form
        id="editor-panel"
        role="tabpanel"
        aria-labelledby={`edit-tab-${view}`}
        className="panel"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        {serverMessage || general.length > 0 || details.length > 0 ? (
          <div className="error" role="alert" id={errId} data-testid="form-errors">
            <strong>{serverMessage ?? 'Some fields need attention before this can be sent.'}</strong>
            {general.length > 0 ? (
              <ul>
                {general.map((g) => (
                  <li key={g}>{g}</li>
                ))}
              </ul>
            ) : null}
            {conflict ? (
              <p>
                A deployment ({conflict.join(', ')}) is still changing this service. Wait for it to finish, or{' '}
                <button type="button" className="danger" onClick={() => void submit(true)}>
                  Force: cancel it and apply this
                </button>
              </p>
            ) : null}
          </div>
        ) : null}
        {view === 'form' ? (
          <FormView form={form} setForm={setForm} errors={byField} />
        ) : (
          <>
            {jsonError ? (
              <p className="field-error" role="alert">
                {jsonError.message} Fix it to switch back to the form or to send.
              </p>
            ) : null}
            <JsonEditor
              text={text}
              setText={setText}
              {...(jsonError?.line ? { badLine: jsonError.line } : {})}
              {...(details.length ? { describedBy: errId } : {})}
            />
          </>
        )}
        <div className="form-actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Sending…' : editId ? 'Save and deploy' : 'Create service'}
          </button>
          <button type="button" className="secondary" onClick={() => history.back()}>
            Cancel
          </button>
        </div>
      </form>
    </Page>
  );
}
