/**
 * `dcos marathon app|deployment|task|debug ...`: Marathon through the gateway at
 * /service/marathon/v2/..., with Marathon's own error messages and --json everywhere.
 */
import { readFileSync } from 'node:fs';
import { parseFlags } from '../base/flags.js';
import { ClusterClient, httpError } from './client.js';
import type { CommandSpec } from './commands.js';
import { CliError, printJson, table } from './output.js';

type Json = Record<string, any>;
const BASE = '/service/marathon/v2';

async function call(c: ClusterClient, method: string, path: string, body?: unknown): Promise<{ json: Json; headers: Headers }> {
  const res = await c.request(method, `${BASE}${path}`, body);
  if (!res.ok) {
    if (res.status === 422) {
      const j = (await res.json()) as Json;
      const details = (j.details ?? []).map((d: Json) => `  ${d.path}: ${(d.errors ?? []).join('; ')}`).join('\n');
      throw new CliError(`${j.message}\n${details}`, 'Fix the app definition and try again.');
    }
    throw await httpError(res, `${method} ${path}`);
  }
  const text = await res.text();
  return { json: text ? (JSON.parse(text) as Json) : {}, headers: res.headers };
}

const out = (v: unknown): number => {
  printJson(v);
  return 0;
};
const id = (x: string): string => (x.startsWith('/') ? x : `/${x}`);
const p = (args: string[]) => parseFlags(args, new Set(['json', 'help', 'force']));

function readDefinition(file: string | undefined): unknown {
  let text: string;
  try {
    text = file && file !== '-' ? readFileSync(file, 'utf8') : readFileSync(0, 'utf8');
  } catch (e) {
    throw new CliError(`Cannot read ${file ?? 'stdin'}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CliError(`${file ?? 'stdin'} is not valid JSON: ${(e as Error).message}`);
  }
}

function deployed(json: boolean, r: Json, what: string): number {
  if (json) printJson(r);
  else console.log(`${what}; deployment ${r.deploymentId ?? r.deployments?.[0]?.id ?? ''}`.trim());
  return 0;
}

const APP_USAGE = `dcos marathon app <add <file>|list|show <id>|update <id> [field=value ...|--file=F]|restart <id>|stop <id>|start <id> [instances]|remove <id>|kill <id>|version list <id>> [--force] [--json]`;

export const marathonApp: CommandSpec = {
  summary: 'Marathon apps: add, list, show, update, restart, stop, start, remove, kill, version list',
  usage: APP_USAGE,
  booleans: ['force'],
  async run(args) {
    const [sub, ...rest] = args;
    const { flags, positionals } = p(rest);
    const json = flags.has('json');
    const force = flags.has('force') ? '?force=true' : '';
    const c = new ClusterClient();
    const need = () => {
      const x = positionals[0];
      if (!x) throw new CliError('Missing app id.', `Usage: ${APP_USAGE}`);
      return id(x);
    };
    switch (sub) {
      case 'add': {
        const { json: r } = await call(c, 'POST', `/apps${force}`, readDefinition(positionals[0]));
        return deployed(json, r, `Created app ${r.id}`);
      }
      case 'list': {
        const { json: r } = await call(c, 'GET', '/apps?embed=apps.deployments&embed=apps.lastTaskFailure');
        if (json) return out(r.apps);
        console.log(
          table(
            ['ID', 'MEM', 'CPUS', 'TASKS', 'HEALTH', 'DEPLOYMENT', 'WAITING', 'CMD'],
            r.apps.map((a: Json) => [
              a.id,
              a.mem,
              a.cpus,
              `${a.tasksRunning}/${a.instances}`,
              a.healthChecks?.length ? `${a.tasksHealthy}/${a.instances}` : '---',
              a.deployments.length ? 'yes' : '---',
              a.placementStatus ? 'UNPLACEABLE' : a.deployments.length && a.tasksRunning < a.instances ? 'True' : 'False',
              (a.cmd ?? a.container?.docker?.image ?? '').slice(0, 50),
            ]),
          ),
        );
        return 0;
      }
      case 'show': {
        const v = flags.get('app-version');
        const { json: r } = v ? await call(c, 'GET', `/apps${need()}/versions/${v}`) : await call(c, 'GET', `/apps${need()}?embed=app.tasks`);
        printJson(r.app ?? r);
        return 0;
      }
      case 'update': {
        const appId = need();
        let body: Json = {};
        if (flags.has('file')) body = readDefinition(flags.get('file')) as Json;
        for (const kv of positionals.slice(1)) {
          const i = kv.indexOf('=');
          if (i < 0) throw new CliError(`Expected field=value, got '${kv}'.`);
          const v = kv.slice(i + 1);
          try {
            body[kv.slice(0, i)] = JSON.parse(v);
          } catch {
            body[kv.slice(0, i)] = v;
          }
        }
        const { json: r } = await call(c, 'PUT', `/apps${appId}${force}`, body);
        return deployed(json, r, `Updated ${appId}`);
      }
      case 'restart': {
        const { json: r } = await call(c, 'POST', `/apps${need()}/restart${force}`);
        return deployed(json, r, `Restarting ${need()}`);
      }
      case 'stop':
      case 'start': {
        const instances = sub === 'stop' ? 0 : Number(positionals[1] ?? 1);
        const { json: r } = await call(c, 'PUT', `/apps${need()}${force}`, { instances });
        return deployed(json, r, `Scaling ${need()} to ${instances}`);
      }
      case 'remove': {
        const { json: r } = await call(c, 'DELETE', `/apps${need()}${force}`);
        return deployed(json, r, `Removing ${need()}`);
      }
      case 'kill': {
        const { json: r } = await call(c, 'DELETE', `/apps${need()}/tasks`);
        if (json) return out(r);
        console.log(`Killed tasks: ${r.tasks.length}`);
        return 0;
      }
      case 'version': {
        if (positionals[0] !== 'list') throw new CliError(`Usage: ${APP_USAGE}`);
        const x = positionals[1];
        if (!x) throw new CliError('Missing app id.');
        const { json: r } = await call(c, 'GET', `/apps${id(x)}/versions`);
        if (json) return out(r.versions);
        console.log(r.versions.join('\n'));
        return 0;
      }
      default:
        throw new CliError(`Unknown command 'dcos marathon app ${sub ?? ''}'.`, `Usage: ${APP_USAGE}`);
    }
  },
};

export const marathonDeployment: CommandSpec = {
  summary: 'Marathon deployments: list, watch, rollback, stop',
  usage: 'dcos marathon deployment <list|watch <id> [--max-count=N] [--interval=S]|rollback <id>|stop <id>> [--json]',
  async run(args) {
    const [sub, ...rest] = args;
    const { flags, positionals } = p(rest);
    const c = new ClusterClient();
    if (sub === 'list') {
      const { json: r } = await call(c, 'GET', '/deployments');
      if (flags.has('json')) return out(r);
      const list = r as unknown as Json[];
      if (list.length === 0) {
        console.log('There are no deployments');
        return 0;
      }
      console.log(
        table(
          ['APP', 'POD', 'ACTION', 'PROGRESS', 'ID'],
          list.map((d) => [
            d.affectedApps.join(','),
            '-',
            (d.currentActions ?? []).map((a: Json) => a.action).join(','),
            `${d.currentStep}/${d.totalSteps}`,
            d.id,
          ]),
        ),
      );
      return 0;
    }
    if (sub === 'watch') {
      // As the dcos CLI: print the deployment every interval until it is gone (or max-count).
      const x = positionals[0];
      if (!x) throw new CliError('Missing deployment id.', `Usage: ${marathonDeployment.usage}`);
      const maxCount = flags.has('max-count') ? Number(flags.get('max-count')) : Number.POSITIVE_INFINITY;
      const intervalS = flags.has('interval') ? Number(flags.get('interval')) : 1;
      if (!(maxCount > 0) || !(intervalS >= 0)) throw new CliError('--max-count needs a positive number and --interval a number of seconds.');
      for (let n = 0; n < maxCount; n++) {
        const { json: r } = await call(c, 'GET', '/deployments');
        const d = (r as unknown as Json[]).find((y) => y.id === x);
        if (!d) {
          if (flags.has('json')) printJson({ id: x, finished: true });
          else console.log(n === 0 ? `Deployment ${x} is not running (finished, or unknown).` : `Deployment ${x} finished.`);
          return 0;
        }
        if (flags.has('json')) printJson(d);
        else {
          const actions = (d.currentActions ?? []).map((a: Json) => {
            const ready = (a.readinessCheckResults ?? []) as Json[];
            return `${a.action} ${a.app}${ready.length ? ` (${ready.filter((z) => z.ready).length}/${ready.length} ready)` : ''}`;
          });
          console.log(`${d.id} step ${d.currentStep}/${d.totalSteps}: ${actions.join(', ') || '-'}`);
        }
        if (n + 1 < maxCount) await new Promise((res) => setTimeout(res, intervalS * 1000));
      }
      return 0;
    }
    if (sub === 'rollback' || sub === 'stop') {
      const x = positionals[0];
      if (!x) throw new CliError('Missing deployment id.');
      const { json: r } = await call(c, 'DELETE', `/deployments/${x}${sub === 'stop' ? '?force=true' : ''}`);
      if (flags.has('json')) return out(r);
      console.log(sub === 'stop' ? `Stopped deployment ${x}` : `Rolling back with deployment ${r.deploymentId}`);
      return 0;
    }
    throw new CliError(`Unknown command 'dcos marathon deployment ${sub ?? ''}'.`, `Usage: ${marathonDeployment.usage}`);
  },
};

export const marathonTask: CommandSpec = {
  summary: 'Marathon tasks: list, show, stop',
  usage: 'dcos marathon task <list [app-id]|show <task-id>|stop <task-id>> [--json]',
  async run(args) {
    const [sub, ...rest] = args;
    const { flags, positionals } = p(rest);
    const c = new ClusterClient();
    const { json: r } = await call(c, 'GET', '/tasks');
    const tasks = (r.tasks as Json[]).filter((t) => !positionals[0] || sub !== 'list' || t.appId === id(positionals[0]));
    if (sub === 'list') {
      if (flags.has('json')) return out(tasks);
      console.log(
        table(
          ['APP', 'HEALTHY', 'STARTED', 'HOST', 'PORTS', 'STATE', 'ID'],
          tasks.map((t) => [t.appId, t.healthCheckResults?.[0]?.alive ?? '-', t.startedAt ?? 'N/A', t.host, t.ports.join(','), t.state, t.id]),
        ),
      );
      return 0;
    }
    const x = positionals[0];
    const t = tasks.find((y) => y.id === x);
    if (!x || !t) throw new CliError(`No Marathon task '${x ?? ''}'.`, "See 'dcos marathon task list'.");
    if (sub === 'show') return out(t);
    if (sub === 'stop') {
      const { json: k } = await call(c, 'DELETE', `/apps${t.appId}/tasks/${t.id}`);
      if (flags.has('json')) return out(k);
      console.log(`Stopping ${t.id}`);
      return 0;
    }
    throw new CliError(`Unknown command 'dcos marathon task ${sub ?? ''}'.`, `Usage: ${marathonTask.usage}`);
  },
};

export const marathonDebug: CommandSpec = {
  summary: 'Why an app is waiting: offers seen and the reasons they were declined',
  usage: 'dcos marathon debug <summary|details> <app-id> [--json]',
  async run(args) {
    const [sub, ...rest] = args;
    const { flags, positionals } = p(rest);
    const x = positionals[0];
    if ((sub !== 'summary' && sub !== 'details') || !x) throw new CliError(`Usage: ${marathonDebug.usage}`);
    const c = new ClusterClient();
    const { json: q } = await call(c, 'GET', '/queue?embed=lastUnusedOffers');
    const item = (q.queue as Json[]).find((i) => i.app.id === id(x));
    if (!item) {
      await call(c, 'GET', `/apps${id(x)}`); // 404 for an unknown app
      if (flags.has('json')) return out({ app: id(x), waiting: false });
      console.log(`${id(x)} is not waiting for offers: every instance it wants is launched.`);
      return 0;
    }
    if (flags.has('json')) return out(item);
    const s = item.processedOffersSummary;
    console.log(
      `App ${id(x)} waits for ${item.count} more instance(s) since ${item.since}; ${s.processedOffersCount} offers processed, ${s.unusedOffersCount} unused.`,
    );
    if (item.delay?.timeLeftSeconds > 0) console.log(`Launches are delayed by backoff for ${item.delay.timeLeftSeconds}s more.`);
    if (item.unplaceable) console.log(`\n${item.unplaceable}`);
    console.log('');
    console.log(
      table(
        ['RESOURCE REQUIREMENT', 'DECLINED', 'PROCESSED'],
        (s.rejectSummaryLastOffers as Json[]).map((r) => [r.reason, r.declined, r.processed]),
      ),
    );
    if (item.lastUnusedOfferDetail) console.log(`\nLast declined offer: ${item.lastUnusedOfferDetail}`);
    if (sub === 'details') {
      // Per recent offer, which requirement it met (ok) or failed (-), as `dcos marathon debug details`.
      const checks: [string, string][] = [
        ['ROLE', 'UnfulfilledRole'],
        ['CONSTRAINTS', 'UnfulfilledConstraint'],
        ['CPUS', 'InsufficientCpus'],
        ['MEM', 'InsufficientMemory'],
        ['DISK', 'InsufficientDisk'],
        ['PORTS', 'InsufficientPorts'],
      ];
      const offers = (item.lastUnusedOffers ?? []) as Json[];
      console.log('');
      if (offers.length === 0) console.log('No declined offers recorded yet.');
      else
        console.log(
          table(
            ['HOSTNAME', ...checks.map(([h]) => h), 'RECEIVED'],
            offers.map((o) => [o.offer.hostname, ...checks.map(([, r]) => ((o.reason as string[]).includes(r) ? '-' : 'ok')), o.timestamp]),
          ),
        );
    }
    return 0;
  },
};

export const marathonGroup: CommandSpec = {
  summary: 'Marathon groups: add, list, show, scale, update, rollback, remove, version list',
  usage:
    'dcos marathon group <add <file>|list|show <id> [--version=V]|scale <id> <factor>|update <id> <file>|rollback <id> <version>|remove <id>|version list <id>> [--force] [--json]',
  async run(args) {
    const [sub, ...rest] = args;
    const { flags, positionals } = p(rest);
    const json = flags.has('json');
    const force = flags.has('force') ? '?force=true' : '';
    const c = new ClusterClient();
    const gid = () => {
      const x = positionals[0];
      if (!x) throw new CliError('Missing group id.', `Usage: ${marathonGroup.usage}`);
      return id(x);
    };
    switch (sub) {
      case 'add': {
        const { json: r } = await call(c, 'POST', `/groups${force}`, readDefinition(positionals[0]));
        return deployed(json, r, 'Created group');
      }
      case 'list': {
        const { json: g } = await call(c, 'GET', '/groups?embed=group.groups&embed=group.apps');
        const rows: (string | number)[][] = [];
        const walk = (x: Json) => {
          if (x.id !== '/') rows.push([x.id, x.apps.length]);
          for (const sub of x.groups ?? []) walk(sub);
        };
        walk(g);
        if (json) return out(g);
        console.log(table(['ID', 'APPS'], rows));
        return 0;
      }
      case 'show': {
        const v = flags.get('version') ?? flags.get('group-version');
        if (v === 'true') throw new CliError('--version needs a value (see `dcos marathon group version list <id>`).');
        const path = v ? `/groups${gid()}/versions/${encodeURIComponent(v)}` : `/groups${gid()}`;
        return out((await call(c, 'GET', `${path}?embed=group.apps&embed=group.groups`)).json);
      }
      case 'version': {
        if (positionals[0] !== 'list')
          throw new CliError(`Unknown command 'dcos marathon group version ${positionals[0] ?? ''}'.`, `Usage: ${marathonGroup.usage}`);
        const x = positionals[1];
        if (!x) throw new CliError('Missing group id.', `Usage: ${marathonGroup.usage}`);
        const { json: vs } = await call(c, 'GET', `/groups${id(x)}/versions`);
        if (json) return out(vs);
        console.log((vs as string[]).join('\n'));
        return 0;
      }
      case 'rollback': {
        const v = positionals[1];
        if (!v) throw new CliError('Missing version.', `Usage: ${marathonGroup.usage}`);
        const { json: r } = await call(c, 'PUT', `/groups${gid()}${force}`, { version: v });
        return deployed(json, r, `Rolling ${gid()} back to ${v}`);
      }
      case 'scale': {
        const factor = Number(positionals[1]);
        if (!Number.isFinite(factor) || factor < 0) throw new CliError('The scale factor must be a non-negative number.');
        const { json: r } = await call(c, 'PUT', `/groups${gid()}${force}`, { scaleBy: factor });
        return deployed(json, r, `Scaling ${gid()} by ${factor}`);
      }
      case 'update': {
        const { json: r } = await call(c, 'PUT', `/groups${gid()}${force}`, readDefinition(positionals[1]));
        return deployed(json, r, `Updated ${gid()}`);
      }
      case 'remove': {
        const { json: r } = await call(c, 'DELETE', `/groups${gid()}${force}`);
        return deployed(json, r, `Removing ${gid()}`);
      }
      default:
        throw new CliError(`Unknown command 'dcos marathon group ${sub ?? ''}'.`, `Usage: ${marathonGroup.usage}`);
    }
  },
};

export const MARATHON_GROUP = {
  summary: 'Long-running services (Marathon)',
  commands: { app: marathonApp, group: marathonGroup, deployment: marathonDeployment, task: marathonTask, debug: marathonDebug },
};
