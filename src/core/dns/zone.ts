import { normName } from './names.js';
import type { DnsConfig, Rr } from './records.js';

/**
 * The records the server answers from, kept per source (a task, an agent, a framework, the
 * masters) so that one event replaces only that source's records: no full rebuild per change.
 * `version` moves on every change; answer caches key on it.
 */
export class Zone {
  private readonly byName = new Map<string, Rr[]>();
  private readonly bySource = new Map<string, Rr[]>();
  version = 0;

  /** Replaces the records of a source; an empty list removes it. */
  put(source: string, rrs: Rr[]): void {
    const old = this.bySource.get(source);
    if (!old && rrs.length === 0) return;
    if (old) {
      for (const rr of old) {
        const list = this.byName.get(rr.name);
        if (!list) continue;
        const i = list.indexOf(rr);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.byName.delete(rr.name);
      }
    }
    if (rrs.length === 0) this.bySource.delete(source);
    else {
      this.bySource.set(source, rrs);
      for (const rr of rrs) {
        const list = this.byName.get(rr.name);
        if (list) list.push(rr);
        else this.byName.set(rr.name, [rr]);
      }
    }
    this.version++;
  }

  get(source: string): readonly Rr[] {
    return this.bySource.get(source) ?? [];
  }

  /** All records of a name, duplicates (same data from two sources) removed. */
  records(name: string): Rr[] {
    const list = this.byName.get(normName(name));
    if (!list) return [];
    const seen = new Set<string>();
    const out: Rr[] = [];
    for (const rr of list) {
      const k = rr.type === 'SRV' ? `S${rr.target}:${rr.port}` : `${rr.type}${rr.ip}`;
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(rr);
    }
    return out;
  }

  has(name: string): boolean {
    return this.byName.has(normName(name));
  }

  names(): IterableIterator<string> {
    return this.byName.keys();
  }

  get size(): number {
    return this.byName.size;
  }
}

export const QTYPE = { A: 1, NS: 2, SOA: 6, AAAA: 28, SRV: 33, ANY: 255 } as const;

export type Answer =
  | { kind: 'forward' }
  | {
      kind: 'answer';
      /** 0 NOERROR, 3 NXDOMAIN. NOERROR with no answers is NODATA. */
      rcode: 0 | 3;
      answers: ZoneRr[];
      authority: ZoneRr[];
      additional: ZoneRr[];
    };

export type ZoneRr =
  | Rr
  | { name: string; type: 'NS'; ns: string }
  | {
      name: string;
      type: 'SOA';
      mname: string;
      rname: string;
      serial: number;
      refresh: number;
      retry: number;
      expire: number;
      minimum: number;
    };

/** The zone apex a name falls in, or undefined when the name is not ours (it is forwarded). */
export function zoneOf(name: string, cfg: DnsConfig): string | undefined {
  const n = normName(name);
  for (const z of [cfg.domain, cfg.dcosDomain]) if (n === z || n.endsWith(`.${z}`)) return z;
  return undefined;
}

function soa(apex: string, cfg: DnsConfig): ZoneRr {
  const s = cfg.soa;
  return {
    name: apex,
    type: 'SOA',
    mname: s.mname,
    rname: s.rname,
    serial: s.serial,
    refresh: s.refreshSecs,
    retry: s.retrySecs,
    expire: s.expireSecs,
    minimum: s.minTtlSecs,
  };
}

/**
 * What the server answers for (name, type): records of our zones, SOA/NS at the apex, NXDOMAIN
 * for names with no records, NODATA (NOERROR, no answers, SOA in authority) for names that exist
 * with other types; everything outside our zones is forwarded.
 */
export function lookup(zone: Zone, qname: string, qtype: number, cfg: DnsConfig): Answer {
  const apex = zoneOf(qname, cfg);
  if (apex === undefined) return { kind: 'forward' };
  const n = normName(qname);
  const nsName = `ns1.${cfg.domain}`;
  const answers: ZoneRr[] = [];
  const additional: ZoneRr[] = [];
  const isApex = n === apex;
  if (isApex) {
    if (qtype === QTYPE.SOA || qtype === QTYPE.ANY) answers.push(soa(apex, cfg));
    if (qtype === QTYPE.NS || qtype === QTYPE.ANY) {
      answers.push({ name: apex, type: 'NS', ns: nsName });
      additional.push(...zone.records(nsName));
    }
  }
  const rrs = zone.records(n);
  for (const rr of rrs) {
    if (
      qtype === QTYPE.ANY ||
      (rr.type === 'A' && qtype === QTYPE.A) ||
      (rr.type === 'AAAA' && qtype === QTYPE.AAAA) ||
      (rr.type === 'SRV' && qtype === QTYPE.SRV)
    ) {
      answers.push(rr);
    }
  }
  if (qtype === QTYPE.SRV || qtype === QTYPE.ANY) {
    const targets = new Set<string>();
    for (const rr of answers) if (rr.type === 'SRV') targets.add(rr.target);
    for (const t of targets) for (const rr of zone.records(t)) if (rr.type === 'A' || rr.type === 'AAAA') additional.push(rr);
  }
  const exists = isApex || rrs.length > 0;
  return { kind: 'answer', rcode: exists ? 0 : 3, answers, authority: answers.length ? [] : [soa(apex, cfg)], additional };
}
