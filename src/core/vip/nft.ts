/**
 * The nftables ruleset of a VIP table, as one `nft -f` script that replaces the whole table in a
 * single transaction (create-if-missing, delete, define). Pure text; the adapter runs it.
 *
 * - output (locally generated) and prerouting (arriving from other namespaces/hosts) jump into a
 *   verdict map keyed by address . protocol . port, one chain per VIP;
 * - each VIP chain DNATs new connections to `numgen inc|random mod N` over its backends (only
 *   the first packet of a flow sees NAT chains; conntrack keeps the rest on the same backend);
 * - an input filter refuses new connections that still aim at the range after NAT (a VIP with no
 *   backend, or no VIP at all), so nothing local listening on 0.0.0.0 answers for a VIP;
 * - connections DNATed from a VIP to a container-network backend are masqueraded (postrouting) to
 *   the address of the interface they leave by (the bridge's gateway): a local client's source is
 *   in 127/8, which a container cannot answer (its own lo), and a client in another container on
 *   the same bridge would otherwise get the reply straight from the backend, not from the VIP.
 */
import type { Vip } from './table.js';
import type { VipRange } from './range.js';

export interface NftOptions {
  table: string;
  range: VipRange;
  /** `inc` spreads new connections round-robin, `random` at random. */
  spread: 'inc' | 'random';
}

export function renderNft(vips: readonly Vip[], opts: NftOptions): string {
  const t = opts.table;
  if (!/^[a-z][a-z0-9_]*$/.test(t)) throw new Error(`nft table name '${t}' must be [a-z][a-z0-9_]*`);
  const lines: string[] = [`table ip ${t}`, `delete table ip ${t}`, `table ip ${t} {`];
  const entries: string[] = [];
  vips.forEach((v, i) => {
    if (v.backends.length === 0) return;
    const chain = `vip_${i}`;
    const targets = v.backends.map((b, j) => `${j} : ${b.ip} . ${b.port}`).join(', ');
    lines.push(`  chain ${chain} {`);
    lines.push(`    meta l4proto ${v.protocol} dnat ip to numgen ${opts.spread} mod ${v.backends.length} map { ${targets} }`);
    lines.push('  }');
    entries.push(`${v.ip} . ${v.protocol} . ${v.port} : jump ${chain}`);
  });
  lines.push('  chain vips {');
  if (entries.length > 0) lines.push(`    ip daddr . meta l4proto . th dport vmap { ${entries.join(', ')} }`);
  lines.push('  }');
  for (const [name, hook] of [
    ['output', 'output'],
    ['prerouting', 'prerouting'],
  ] as const) {
    lines.push(`  chain ${name} {`, `    type nat hook ${hook} priority -100; policy accept;`, `    ip daddr ${opts.range.cidr} jump vips`, '  }');
  }
  const containerBackends = [...new Set(vips.flatMap((v) => v.backends.filter((b) => b.network !== undefined).map((b) => b.ip)))].sort();
  if (containerBackends.length > 0) {
    lines.push(
      '  chain postrouting {',
      '    type nat hook postrouting priority 100; policy accept;',
      `    ct original ip daddr ${opts.range.cidr} ip daddr { ${containerBackends.join(', ')} } masquerade`,
      '  }',
    );
  }
  lines.push(
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    `    ip daddr ${opts.range.cidr} ct state new meta l4proto tcp reject with tcp reset`,
    `    ip daddr ${opts.range.cidr} ct state new reject`,
    '  }',
    '}',
  );
  return `${lines.join('\n')}\n`;
}

/** Removes the table (nothing else: the range's local route stays as the guard). */
export const nftDeleteScript = (table: string): string => `table ip ${table}\ndelete table ip ${table}\n`;
