/** IPv4 ranges for VIP addresses: parsing, membership, and a stable address per name. */
import { sha1 } from '../dns/names.js';

export interface VipRange {
  /** As given, e.g. `11.0.0.0/8`. */
  cidr: string;
  /** First and last usable address as unsigned 32-bit integers (network and broadcast left out). */
  first: number;
  last: number;
}

export function ipToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const b = Number(m[i]);
    if (b > 255) return undefined;
    n = n * 256 + b;
  }
  return n;
}

export const intToIp = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

export function parseRange(cidr: string): VipRange | string {
  const [addr, bitsText] = cidr.split('/');
  const base = ipToInt(addr ?? '');
  const bits = Number(bitsText);
  if (base === undefined || !Number.isInteger(bits) || bits < 8 || bits > 30) {
    return `VIP range '${cidr}': expected an IPv4 CIDR with a prefix of /8 to /30, e.g. 11.0.0.0/8`;
  }
  const size = 2 ** (32 - bits);
  const network = base - (base % size);
  if (network !== base) return `VIP range '${cidr}': host bits set (did you mean ${intToIp(network)}/${bits}?)`;
  return { cidr, first: network + 1, last: network + size - 2 };
}

export const inRange = (range: VipRange, ip: string): boolean => {
  const n = ipToInt(ip);
  return n !== undefined && n >= range.first && n <= range.last;
};

/**
 * Addresses for named VIPs. Names that had an address keep it (while it is in the range and not
 * taken by an explicit IP VIP); new names, in sorted order, start at a hash of the name and probe
 * linearly past taken addresses. So an address never moves while its name exists.
 */
export function assignAddresses(
  names: readonly string[],
  taken: ReadonlySet<string>,
  previous: ReadonlyMap<string, string>,
  range: VipRange,
): Map<string, string> {
  const out = new Map<string, string>();
  const used = new Set(taken);
  const size = range.last - range.first + 1;
  const fresh: string[] = [];
  for (const name of names) {
    const ip = previous.get(name);
    if (ip !== undefined && inRange(range, ip) && !used.has(ip)) {
      out.set(name, ip);
      used.add(ip);
    } else fresh.push(name);
  }
  fresh.sort();
  for (const name of fresh) {
    if (used.size >= size) break; // range full: the name stays without an address
    const h = sha1(name);
    const start = ((h[0] ?? 0) * 2 ** 24 + (h[1] ?? 0) * 2 ** 16 + (h[2] ?? 0) * 256 + (h[3] ?? 0)) % size;
    for (let i = 0; i < size; i++) {
      const ip = intToIp(range.first + ((start + i) % size));
      if (used.has(ip)) continue;
      out.set(name, ip);
      used.add(ip);
      break;
    }
  }
  return out;
}
