import { parseFlags } from '../base/flags.js';
import { ClusterClient } from './client.js';
import type { CommandSpec } from './commands.js';
import { CliError, printJson, table } from './output.js';

interface LookupRr {
  name: string;
  type: string;
  ip?: string;
  target?: string;
  port?: number;
  ns?: string;
  mname?: string;
}

interface Lookup {
  name: string;
  type: string;
  status: 'NOERROR' | 'NXDOMAIN' | 'FORWARDED';
  answers: LookupRr[];
  additional: LookupRr[];
}

const TYPES = ['A', 'AAAA', 'SRV', 'SOA', 'NS', 'ANY'];

/** `dcos node dns <name>`: what the cluster DNS answers for a name (through the gateway). */
export const nodeDns: CommandSpec = {
  summary: 'Show what the cluster DNS answers for a name',
  usage: 'dcos node dns <name> [--type=A|AAAA|SRV|SOA|NS|ANY] [--json]',
  booleans: ['json'],
  async run(args) {
    const { flags, positionals } = parseFlags(args, new Set(['json']));
    const name = positionals[0];
    if (!name) throw new CliError('Missing a name.', `${nodeDns.usage}\nExamples: dcos node dns web.marathon.mesos; dcos node dns _web._tcp.marathon.mesos`);
    const type = (flags.get('type') ?? (name.startsWith('_') ? 'SRV' : 'ANY')).toUpperCase();
    if (!TYPES.includes(type)) throw new CliError(`Unknown record type '${type}'.`, `Use one of ${TYPES.join(', ')}.`);
    const c = new ClusterClient();
    const r = await c.getJson<Lookup>(`/mesos_dns/v1/lookup/${encodeURIComponent(name)}?type=${type}`);
    if (flags.has('json')) {
      printJson(r);
      return r.status === 'NXDOMAIN' ? 1 : 0;
    }
    if (r.status === 'FORWARDED') {
      console.log(`${r.name} is not a cluster name: the cluster DNS forwards it to its upstream resolvers.`);
      return 0;
    }
    if (r.status === 'NXDOMAIN')
      throw new CliError(`The cluster DNS has no records for ${r.name} (NXDOMAIN).`, "Only running tasks get names; see 'dcos task list'.");
    if (r.answers.length === 0) {
      console.log(`${r.name} exists but has no ${type} records.`);
      return 0;
    }
    const data = (x: LookupRr) => x.ip ?? (x.target !== undefined ? `${x.target}.:${x.port}` : (x.ns ?? x.mname ?? ''));
    const rows = r.answers.map((x) => [`${x.name}.`, x.type, data(x)]);
    for (const x of r.additional) rows.push([`${x.name}.`, x.type, data(x)]);
    console.log(table(['NAME', 'TYPE', 'ANSWER'], rows));
    return 0;
  },
};
