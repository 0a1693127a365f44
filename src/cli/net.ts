import { parseFlags } from '../base/flags.js';
import { ClusterClient } from './client.js';
import type { CommandSpec } from './commands.js';
import { printJson, table } from './output.js';

interface VipJson {
  vip: string;
  protocol: string;
  name: string;
  dns: string[];
  backend: { ip: string; port: number; task_id: string }[];
}

/** `dcos net vips`: the VIP table (address, name, backends), from /net/v1/vips. */
export const netVips: CommandSpec = {
  summary: 'List VIPs and their backends',
  usage: 'dcos net vips [--json]',
  booleans: ['json'],
  async run(args) {
    const { flags } = parseFlags(args, new Set(['json']));
    const c = new ClusterClient();
    const vips = await c.getJson<VipJson[]>('/net/v1/vips');
    if (flags.has('json')) {
      printJson(vips);
      return 0;
    }
    if (vips.length === 0) {
      console.log('No VIPs. Add a label VIP_0="/name:port" to a port of an app (portDefinitions[0].labels).');
      return 0;
    }
    const rows = vips.map((v) => [
      v.name,
      `${v.vip}/${v.protocol}`,
      v.dns[0] ?? '-',
      v.backend.length ? v.backend.map((b) => `${b.ip}:${b.port}`).join(' ') : '(none)',
    ]);
    console.log(table(['NAME', 'VIP', 'DNS', 'BACKENDS'], rows));
    return 0;
  },
};

export const NET_GROUP = {
  summary: 'Networking: VIPs (layer-4 load balancing)',
  commands: { vips: netVips },
};
