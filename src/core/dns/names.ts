/**
 * DNS labels the way Mesos-DNS makes them (records/labels/labels.go): pure functions.
 *
 * RFC 1123 (the default): lowercase; `.` and `_` become `-`; any other character outside
 * [a-z0-9-] is dropped; leading and trailing `-` trimmed; at most 63 characters.
 * RFC 952 (`EnforceRFC952`): the same, but leading digits are trimmed too and at most 24 characters.
 */
export type LabelSpec = (name: string) => string;

const MAX_1123 = 63;
const MAX_952 = 24;

function mapChars(name: string): string {
  let out = '';
  for (const ch of name.toLowerCase()) {
    if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch === '-') out += ch;
    else if (ch === '.' || ch === '_') out += '-';
  }
  return out;
}

export const rfc1123: LabelSpec = (name) => {
  const s = mapChars(name).replace(/^-+/, '');
  return s.slice(0, MAX_1123).replace(/-+$/, '');
};

export const rfc952: LabelSpec = (name) => {
  const s = mapChars(name).replace(/^[-0-9]+/, '');
  return s.slice(0, MAX_952).replace(/-+$/, '');
};

/** A framework name as a domain fragment: each dot-separated label sanitised, empty ones dropped. */
export function domainFrag(name: string, spec: LabelSpec = rfc1123): string {
  return name
    .split('.')
    .map((l) => spec(l))
    .filter((l) => l !== '')
    .join('.');
}

/** The last `-` field of an agent id, lowercased: `<master-id>-S1` gives `s1`. */
export function agentIdTail(agentId: string): string {
  const i = agentId.lastIndexOf('-');
  return rfc1123(i >= 0 ? agentId.slice(i + 1) : agentId);
}

const ZBASE32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';

/** Base32 with the z-base-32 alphabet, most significant bits first, no padding (Go's base32 with that alphabet). */
export function zbase32(bytes: Uint8Array): string {
  let out = '';
  let buf = 0;
  let bits = 0;
  for (const b of bytes) {
    buf = (buf << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ZBASE32[(buf >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buf &= (1 << bits) - 1;
  }
  if (bits > 0) out += ZBASE32[(buf << (5 - bits)) & 31];
  return out;
}

/** SHA-1 of a UTF-8 string (FIPS 180-4), pure so that core stays free of node:crypto. */
export function sha1(text: string): Uint8Array {
  const msg = new TextEncoder().encode(text);
  const len = msg.length;
  const total = (((len + 9 + 63) >> 6) << 6) >>> 0;
  const m = new Uint8Array(total);
  m.set(msg);
  m[len] = 0x80;
  const bitLen = len * 8;
  const dv = new DataView(m.buffer);
  dv.setUint32(total - 8, Math.floor(bitLen / 2 ** 32));
  dv.setUint32(total - 4, bitLen >>> 0);
  let h0 = 0x67452301;
  let h1 = 0xefcdab89;
  let h2 = 0x98badcfe;
  let h3 = 0x10325476;
  let h4 = 0xc3d2e1f0;
  const w = new Uint32Array(80);
  for (let off = 0; off < total; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = dv.getUint32(off + i * 4);
    for (let i = 16; i < 80; i++) {
      const x = (w[i - 3] as number) ^ (w[i - 8] as number) ^ (w[i - 14] as number) ^ (w[i - 16] as number);
      w[i] = (x << 1) | (x >>> 31);
    }
    let a = h0;
    let b = h1;
    let c = h2;
    let d = h3;
    let e = h4;
    for (let i = 0; i < 80; i++) {
      let f: number;
      let k: number;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5a827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8f1bbcdc;
      } else {
        f = b ^ c ^ d;
        k = 0xca62c1d6;
      }
      const t = (((a << 5) | (a >>> 27)) + f + e + k + (w[i] as number)) >>> 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    h0 = (h0 + a) >>> 0;
    h1 = (h1 + b) >>> 0;
    h2 = (h2 + c) >>> 0;
    h3 = (h3 + d) >>> 0;
    h4 = (h4 + e) >>> 0;
  }
  const out = new Uint8Array(20);
  const ov = new DataView(out.buffer);
  for (const [i, h] of [h0, h1, h2, h3, h4].entries()) ov.setUint32(i * 4, h);
  return out;
}

/** The first 5 characters of zbase32(sha1(taskId)): the per-instance part of a canonical name. */
export function hash5(taskId: string): string {
  return zbase32(sha1(taskId)).slice(0, 5);
}

/** A query name as the zone keys it: lowercase, no trailing dot. */
export function normName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}
