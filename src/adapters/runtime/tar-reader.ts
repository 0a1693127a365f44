import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

/**
 * Reads members of a tar archive in place, without extracting it: image archives are hostile
 * input, so nothing of them is ever written where its names say. Names are normalised lexically
 * (no leading `./` or `/`); symlinks are followed inside the archive's own namespace only; `..`
 * that would leave the archive, hard links, devices and fifos are refused when read.
 * Understands ustar, GNU long names (`L`/`K`) and pax headers (`path`, `linkpath`, `size`).
 */

export interface TarMember {
  name: string;
  /** '0' file, '2' symlink, '5' directory, '1' hard link, others. */
  type: string;
  linkname: string;
  size: number;
  /** Byte offset of the member's data in the archive. */
  offset: number;
}

const BLOCK = 512;
const MEMBERS_MAX = 1_000_000;
const LINK_HOPS_MAX = 16;

export class TarArchive {
  private constructor(
    readonly path: string,
    readonly members: Map<string, TarMember>,
  ) {}

  /** Indexes an archive (gzip-compressed archives are decompressed to `path + '.tar'` first). */
  static async open(path: string): Promise<TarArchive> {
    let tarPath = path;
    const fh = await fs.open(path, 'r');
    const magic = Buffer.alloc(2);
    await fh.read(magic, 0, 2, 0);
    await fh.close();
    if (magic[0] === 0x1f && magic[1] === 0x8b) {
      tarPath = `${path}.tar`;
      try {
        await pipeline(createReadStream(path), createGunzip(), createWriteStream(tarPath));
      } catch (e) {
        throw new Error(`the archive is not a readable gzip file: ${(e as Error).message}`);
      }
    }
    return new TarArchive(tarPath, await index(tarPath));
  }

  /** The regular file a name denotes (symlinks followed inside the archive), or undefined. */
  resolve(name: string): TarMember | undefined {
    let n = normalise(name);
    for (let hop = 0; hop < LINK_HOPS_MAX; hop++) {
      if (n === undefined) return undefined;
      const m = this.members.get(n);
      if (!m) return undefined;
      if (m.type === '0' || m.type === '\0' || m.type === '7') return m;
      if (m.type !== '2') return undefined;
      n = m.linkname.startsWith('/') ? normalise(m.linkname) : normalise(posix.join(posix.dirname(n), m.linkname));
    }
    return undefined;
  }

  has(name: string): boolean {
    return this.resolve(name) !== undefined;
  }

  async readText(name: string, maxBytes = 16 * 1024 * 1024): Promise<string> {
    const m = this.resolve(name);
    if (!m) throw new Error(`the archive has no file ${name}`);
    if (m.size > maxBytes) throw new Error(`${name} in the archive is too large (${m.size} bytes)`);
    const fh = await fs.open(this.path, 'r');
    try {
      const buf = Buffer.alloc(m.size);
      await fh.read(buf, 0, m.size, m.offset);
      return buf.toString('utf8');
    } finally {
      await fh.close();
    }
  }

  /** Copies a member to `target` and returns the sha256 of its bytes (`sha256:<hex>`). */
  async copyOut(name: string, target: string): Promise<string> {
    const m = this.resolve(name);
    if (!m) throw new Error(`the archive has no file ${name}`);
    const hash = createHash('sha256');
    const src = createReadStream(this.path, { start: m.offset, end: m.offset + m.size - 1 });
    if (m.size === 0) {
      src.destroy();
      await fs.writeFile(target, '');
    } else {
      src.on('data', (d) => hash.update(d as Buffer));
      await pipeline(src, createWriteStream(target, { mode: 0o644 }));
    }
    return `sha256:${hash.digest('hex')}`;
  }
}

/** `a/./b/` → `a/b`; undefined for names that climb out with `..`. */
export function normalise(name: string): string | undefined {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(part);
  }
  return out.join('/');
}

async function index(path: string): Promise<Map<string, TarMember>> {
  const out = new Map<string, TarMember>();
  const fh = await fs.open(path, 'r');
  try {
    const total = (await fh.stat()).size;
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax: Record<string, string> = {};
    let zeroBlocks = 0;
    let count = 0;
    while (pos + BLOCK <= total) {
      const { bytesRead } = await fh.read(header, 0, BLOCK, pos);
      if (bytesRead < BLOCK) throw new Error('the archive is truncated');
      if (header.every((b) => b === 0)) {
        if (++zeroBlocks === 2) return out;
        pos += BLOCK;
        continue;
      }
      zeroBlocks = 0;
      if (!checksumOk(header)) throw new Error(`not a tar archive (bad header checksum at byte ${pos})`);
      if (++count > MEMBERS_MAX) throw new Error('the archive has too many members');
      const type = String.fromCharCode(header[156] as number);
      const size = pax.size !== undefined ? Number(pax.size) : octal(header.subarray(124, 136));
      if (!Number.isSafeInteger(size) || size < 0) throw new Error(`bad member size at byte ${pos}`);
      const dataAt = pos + BLOCK;
      if (dataAt + size > total) throw new Error('the archive is truncated');
      const next = dataAt + Math.ceil(size / BLOCK) * BLOCK;
      if (type === 'L' || type === 'K' || type === 'x' || type === 'g') {
        const buf = Buffer.alloc(size);
        await fh.read(buf, 0, size, dataAt);
        if (type === 'L') longName = cstr(buf);
        else if (type === 'K') longLink = cstr(buf);
        else if (type === 'x') pax = parsePax(buf);
        pos = next;
        continue;
      }
      const prefix = cstr(header.subarray(345, 500));
      const rawName = pax.path ?? longName ?? (prefix ? `${prefix}/${cstr(header.subarray(0, 100))}` : cstr(header.subarray(0, 100)));
      const linkname = pax.linkpath ?? longLink ?? cstr(header.subarray(157, 257));
      longName = undefined;
      longLink = undefined;
      pax = {};
      const name = normalise(rawName);
      if (name !== undefined && name !== '') out.set(name, { name, type, linkname, size, offset: dataAt });
      pos = next;
    }
    if (out.size === 0) throw new Error('not a tar archive (no members)');
    return out;
  } finally {
    await fh.close();
  }
}

function cstr(b: Buffer): string {
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('utf8');
}

function octal(b: Buffer): number {
  // GNU base-256 for large sizes: high bit of the first byte set.
  if (((b[0] as number) & 0x80) !== 0) {
    let n = 0;
    for (let i = 1; i < b.length; i++) n = n * 256 + (b[i] as number);
    return n;
  }
  const s = cstr(b).trim();
  return s === '' ? 0 : Number.parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (h[i] as number);
  return sum === octal(h.subarray(148, 156));
}

function parsePax(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < buf.length) {
    const sp = buf.indexOf(32, pos);
    if (sp < 0) break;
    const len = Number(buf.subarray(pos, sp).toString());
    if (!Number.isInteger(len) || len <= 0) break;
    const rec = buf.subarray(sp + 1, pos + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    pos += len;
  }
  return out;
}
