import * as packet from 'dns-packet';
import type { Answer, ZoneRr } from '../../core/dns/index.js';

/** DNS header flags (RFC 1035 §4.1.1); the rcode is the low 4 bits of the flags word. */
export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_RA = 0x0080;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** The one question of a query, read without a full decode (the hot path). */
export interface Question {
  id: number;
  flags: number;
  /** Lowercase, no trailing dot; "" for the root. */
  name: string;
  type: number;
  cls: number;
  /** Offset just past the question section. */
  end: number;
  /** EDNS UDP payload size when the query carried an OPT record. */
  ednsSize: number | undefined;
}

export function parseQuestion(msg: Buffer): Question | undefined {
  if (msg.length < 12) return undefined;
  const flags = msg.readUInt16BE(2);
  if (flags & FLAG_QR) return undefined;
  if (msg.readUInt16BE(4) !== 1) return undefined;
  let off = 12;
  const labels: string[] = [];
  for (let hops = 0; hops < 128; hops++) {
    if (off >= msg.length) return undefined;
    const len = msg[off] as number;
    if (len === 0) {
      off++;
      break;
    }
    if (len > 63 || off + 1 + len > msg.length) return undefined; // compression is not valid in a lone question
    labels.push(msg.toString('latin1', off + 1, off + 1 + len).toLowerCase());
    off += 1 + len;
  }
  if (off + 4 > msg.length) return undefined;
  const type = msg.readUInt16BE(off);
  const cls = msg.readUInt16BE(off + 2);
  off += 4;
  let ednsSize: number | undefined;
  // An OPT record (root name, type 41) right after the question when ARCOUNT says so.
  if (
    msg.readUInt16BE(10) >= 1 &&
    msg.readUInt16BE(6) === 0 &&
    msg.readUInt16BE(8) === 0 &&
    off + 11 <= msg.length &&
    msg[off] === 0 &&
    msg.readUInt16BE(off + 1) === 41
  ) {
    ednsSize = msg.readUInt16BE(off + 3);
  }
  return { id: msg.readUInt16BE(0), flags, name: labels.join('.'), type, cls, end: off, ednsSize };
}

const TYPE_NAMES: Record<number, packet.RecordType> = {
  1: 'A',
  2: 'NS',
  5: 'CNAME',
  6: 'SOA',
  12: 'PTR',
  15: 'MX',
  16: 'TXT',
  28: 'AAAA',
  33: 'SRV',
  255: 'ANY' as packet.RecordType,
};

function toAnswer(rr: ZoneRr, ttl: number): packet.Answer {
  switch (rr.type) {
    case 'A':
    case 'AAAA':
      return { name: rr.name, type: rr.type, ttl, class: 'IN', data: rr.ip };
    case 'SRV':
      return { name: rr.name, type: 'SRV', ttl, class: 'IN', data: { priority: rr.priority, weight: rr.weight, port: rr.port, target: rr.target } };
    case 'NS':
      return { name: rr.name, type: 'NS', ttl, class: 'IN', data: rr.ns };
    case 'SOA':
      return {
        name: rr.name,
        type: 'SOA',
        ttl,
        class: 'IN',
        data: { mname: rr.mname, rname: rr.rname, serial: rr.serial, refresh: rr.refresh, retry: rr.retry, expire: rr.expire, minimum: rr.minimum },
      };
  }
}

/** The UDP size limit of a reply: 512 without EDNS, else the client's size within [512, 4096]. */
export function udpLimit(ednsSize: number | undefined): number {
  return ednsSize === undefined ? 512 : Math.min(4096, Math.max(512, ednsSize));
}

/**
 * Encodes the reply to a question answered from the zone. With `limitBytes`, an answer that
 * does not fit is replaced by an empty one with TC set, so the client asks again over TCP.
 */
export function encodeAnswer(
  q: Question,
  ans: Extract<Answer, { kind: 'answer' }>,
  ttl: number,
  limitBytes: number | undefined,
): { buf: Buffer; truncated: boolean } {
  const flags = FLAG_AA | FLAG_RA | (q.flags & FLAG_RD) | ans.rcode;
  const question: packet.Question = { name: q.name, type: TYPE_NAMES[q.type] ?? (`UNKNOWN_${q.type}` as packet.RecordType), class: 'IN' };
  const opt: packet.Answer[] =
    q.ednsSize === undefined
      ? []
      : [{ name: '.', type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, options: [] } as unknown as packet.Answer];
  const soaTtl = (rr: ZoneRr) => (rr.type === 'SOA' ? rr.minimum : ttl);
  const full = packet.encode({
    type: 'response',
    id: q.id,
    flags,
    questions: [question],
    answers: ans.answers.map((rr) => toAnswer(rr, ttl)),
    authorities: ans.authority.map((rr) => toAnswer(rr, soaTtl(rr))),
    additionals: [...ans.additional.map((rr) => toAnswer(rr, ttl)), ...opt],
  });
  if (limitBytes === undefined || full.length <= limitBytes) return { buf: full, truncated: false };
  const buf = packet.encode({ type: 'response', id: q.id, flags: flags | FLAG_TC, questions: [question], answers: [], authorities: [], additionals: opt });
  return { buf, truncated: true };
}

/** A reply with only a header and the question: errors (FORMERR, SERVFAIL, REFUSED, NOTIMP). */
export function errorReply(msg: Buffer, rcode: number): Buffer {
  const q = parseQuestion(msg);
  const id = msg.length >= 2 ? msg.readUInt16BE(0) : 0;
  const rd = msg.length >= 4 ? msg.readUInt16BE(2) & FLAG_RD : 0;
  if (!q) {
    const b = Buffer.alloc(12);
    b.writeUInt16BE(id, 0);
    b.writeUInt16BE(FLAG_QR | rd | rcode, 2);
    return b;
  }
  const b = Buffer.alloc(q.end);
  msg.copy(b, 0, 0, q.end);
  b.writeUInt16BE(FLAG_QR | rd | FLAG_RA | rcode, 2);
  b.writeUInt16BE(1, 4);
  b.writeUInt16BE(0, 6);
  b.writeUInt16BE(0, 8);
  b.writeUInt16BE(0, 10);
  return b;
}
