import { utf8Length } from './bytes.js';

/**
 * RecordIO framing as Mesos streams it: `<byte length>\n<record>` back to back, no separators.
 * One record is written with one write call so naive clients (mesos-framework) see one per chunk.
 */
export function encodeRecord(json: string): string {
  return `${utf8Length(json)}\n${json}`;
}

/**
 * Incremental decoder over bytes. Feed chunks; get whole records back as strings.
 * Bounded: a record announcing more than maxRecordBytes is an error.
 */
export class RecordIODecoder {
  private buf: Uint8Array = new Uint8Array(0);
  private readonly decoder = new TextDecoder();

  constructor(private readonly maxRecordBytes = 64 * 1024 * 1024) {}

  push(chunk: Uint8Array): string[] {
    const merged = new Uint8Array(this.buf.length + chunk.length);
    merged.set(this.buf, 0);
    merged.set(chunk, this.buf.length);
    this.buf = merged;
    const out: string[] = [];
    let pos = 0;
    for (;;) {
      let nl = -1;
      for (let i = pos; i < this.buf.length && i < pos + 21; i++) {
        if (this.buf[i] === 10) {
          nl = i;
          break;
        }
      }
      if (nl < 0) {
        if (this.buf.length - pos > 21) throw new Error('recordio: record length header too long');
        break;
      }
      const header = this.decoder.decode(this.buf.subarray(pos, nl)).trim();
      if (!/^\d+$/.test(header)) throw new Error(`recordio: bad record length ${JSON.stringify(header)}`);
      const len = Number(header);
      if (len > this.maxRecordBytes) throw new Error(`recordio: record of ${len} bytes exceeds the limit`);
      if (this.buf.length < nl + 1 + len) break;
      out.push(this.decoder.decode(this.buf.subarray(nl + 1, nl + 1 + len)));
      pos = nl + 1 + len;
    }
    this.buf = this.buf.slice(pos);
    return out;
  }
}
