import type { NodeState, Shown } from './status.js';

/**
 * The health of each cluster component as the dashboard shows it, derived from what the page
 * itself saw: the outcomes of its own requests through the gateway, the operator event stream,
 * and small probes of each component's own endpoint through the gateway.
 */

/** One request through the gateway: answered (any HTTP status) or not (the fetch itself failed). */
export interface GatewayOutcome {
  answered: boolean;
  atMs: number;
  what: string;
}

/** The last outcomes of requests through the gateway, bounded (a ring of `max`). */
export class GatewayLog {
  private readonly ring: GatewayOutcome[] = [];
  /** Bumped on each record, so a view can tell something changed. */
  version = 0;
  constructor(readonly max = 20) {}

  record(answered: boolean, atMs: number, what: string): void {
    this.ring.push({ answered, atMs, what });
    if (this.ring.length > this.max) this.ring.splice(0, this.ring.length - this.max);
    this.version++;
  }

  outcomes(): readonly GatewayOutcome[] {
    return this.ring;
  }
}

/** A probe of one endpoint: the HTTP status, or undefined when nothing answered. */
export interface Probe {
  status?: number;
  /** The body, when it says something worth showing (a version). */
  text?: string;
}

export interface ComponentRow {
  name: string;
  shown: Shown;
  detail: string;
}

export interface ComponentInputs {
  gateway: readonly GatewayOutcome[];
  /** The operator event stream from the master. */
  link: { kind: 'live' } | { kind: 'connecting' } | { kind: 'down'; error: string };
  /** GET /mesos/master/health */
  master?: Probe;
  nodes: Record<NodeState, number>;
  /** GET /service/marathon/ping */
  marathon?: Probe;
  /** GET /mesos_dns/v1/version */
  dns?: Probe;
  /** The cluster version (from /dcos-metadata/dcos-version.json). */
  version?: string;
}

const CHECKING: Shown = { label: 'Checking', tone: 'busy' };

export function gatewayRow(outcomes: readonly GatewayOutcome[], version?: string): ComponentRow {
  const name = 'Gateway';
  const last = outcomes[outcomes.length - 1];
  if (!last) return { name, shown: CHECKING, detail: 'no request answered yet' };
  const failed = outcomes.filter((o) => !o.answered);
  if (!last.answered)
    return {
      name,
      shown: { label: 'Unreachable', tone: 'bad' },
      detail: `no answer to ${last.what}; check that the cluster is up (\`dcos up\` prints its URL)`,
    };
  const suffix = version ? `; version ${version}` : '';
  if (failed.length > 0)
    return {
      name,
      shown: { label: 'Degraded', tone: 'warn' },
      detail: `${failed.length} of the last ${outcomes.length} requests got no answer (last: ${failed[failed.length - 1]?.what})${suffix}`,
    };
  return { name, shown: { label: 'Healthy', tone: 'ok' }, detail: `answered the last ${outcomes.length} requests${suffix}` };
}

/** A component served through the gateway at its own path: 200 healthy, 404 not there, else failing. */
function probeRow(name: string, p: Probe | undefined, ok: (p: Probe) => string, absent: string): ComponentRow {
  if (!p) return { name, shown: CHECKING, detail: '' };
  if (p.status === undefined) return { name, shown: { label: 'Unknown', tone: 'warn' }, detail: 'the gateway did not answer' };
  if (p.status >= 200 && p.status < 300) return { name, shown: { label: 'Healthy', tone: 'ok' }, detail: ok(p) };
  if (p.status === 404) return { name, shown: { label: 'Not running', tone: 'idle' }, detail: absent };
  return {
    name,
    shown: { label: 'Failing', tone: 'bad' },
    detail: `HTTP ${p.status} through the gateway; it may be restarting. If it lasts, look at the master log.`,
  };
}

export function componentHealth(i: ComponentInputs): ComponentRow[] {
  const master: ComponentRow =
    i.link.kind === 'down'
      ? { name: 'Mesos master', shown: { label: 'Unreachable', tone: 'bad' }, detail: i.link.error }
      : i.master?.status !== undefined && i.master.status !== 200
        ? { name: 'Mesos master', shown: { label: 'Failing', tone: 'bad' }, detail: `its health endpoint answered HTTP ${i.master.status}` }
        : i.link.kind === 'connecting' || !i.master
          ? { name: 'Mesos master', shown: CHECKING, detail: 'opening the event stream' }
          : { name: 'Mesos master', shown: { label: 'Healthy', tone: 'ok' }, detail: 'health check passes; event stream open' };
  const { active, unreachable } = i.nodes;
  const agents: ComponentRow = {
    name: 'Mesos agents',
    shown:
      active > 0 && unreachable === 0
        ? { label: 'Healthy', tone: 'ok' }
        : active > 0
          ? { label: 'Degraded', tone: 'warn' }
          : unreachable > 0
            ? { label: 'Unreachable', tone: 'bad' }
            : { label: 'None', tone: 'bad' },
    detail:
      active + unreachable === 0
        ? 'no agent has registered; start one with `dcos up --agents=1`'
        : `${active} active, ${unreachable} unreachable${i.nodes.removed ? `, ${i.nodes.removed} removed` : ''}`,
  };
  return [
    gatewayRow(i.gateway, i.version),
    master,
    agents,
    probeRow('Marathon', i.marathon, () => 'answers ping', 'not installed: services fall back to the frameworks the master knows'),
    probeRow(
      'DNS',
      i.dns,
      (p) => {
        const v = readDnsVersion(p.text);
        return v ? `Mesos-DNS API answers (version ${v})` : 'Mesos-DNS API answers';
      },
      'the Mesos-DNS API is not served by this cluster',
    ),
  ];
}

function readDnsVersion(text: string | undefined): string | undefined {
  if (!text) return undefined;
  try {
    const v = (JSON.parse(text) as { Version?: unknown }).Version;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}
