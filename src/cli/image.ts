import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { ClusterClient, httpError } from './client.js';
import { type CommandSpec, parse, state } from './commands.js';
import { CliError, ago, printJson, table } from './output.js';

/**
 * `dcos image load|list|gc|prune`: each agent keeps its own image cache, so these talk to agents
 * through the gateway's `/agent/<id>/` proxy: `POST /images/load` (the archive is the body),
 * `GET /images`, `POST /images/gc` (the agent's own size and age bounds) and the v1 operator
 * call PRUNE_IMAGES (every unused image). `--agent=<id>` picks one agent; the default is all.
 */

interface ImageRow {
  reference: string;
  manifestDigest: string;
  sizeBytes: number;
  layers: string[];
  lastUsedMs: number;
  inUse: number;
  source: string;
}

async function agents(c: ClusterClient, only: string | undefined): Promise<{ id: string; hostname: string }[]> {
  const s = await state(c);
  const all = s.slaves.map((a) => ({ id: a.id, hostname: a.hostname }));
  if (!only) {
    if (all.length === 0) throw new CliError('The cluster has no agents.', "See 'dcos node list'.");
    return all;
  }
  const pick = all.filter((a) => a.id === only || a.hostname === only);
  if (pick.length === 0) throw new CliError(`No agent '${only}'.`, "See 'dcos node list'.");
  return pick;
}

const size = (b: number): string => (b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(1)} MB` : `${(b / 1024).toFixed(1)} kB`);

const imageLoad: CommandSpec = {
  summary: 'Load a `docker save` tarball or an OCI image-layout archive into the agents',
  usage: 'dcos image load <archive> [--agent=<id>] [--json]',
  async run(args) {
    const { flags, positionals } = parse(args);
    const file = positionals[0];
    if (!file) throw new CliError('Missing the archive.', imageLoad.usage);
    let bytes: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a regular file');
      bytes = st.size;
    } catch (e) {
      throw new CliError(`Cannot read ${file}: ${(e as Error).message}`);
    }
    const c = new ClusterClient();
    const out: { agent: string; images: ImageRow[] }[] = [];
    for (const a of await agents(c, flags.get('agent'))) {
      const res = await fetch(`${c.baseUrl}/agent/${encodeURIComponent(a.id)}/images/load`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes) },
        body: Readable.toWeb(createReadStream(file)) as ReadableStream,
        duplex: 'half',
      } as RequestInit).catch((e: Error) => {
        throw new CliError(`Cannot reach the cluster at ${c.baseUrl} (${e.message}).`);
      });
      if (!res.ok) throw await httpError(res, `image load on ${a.hostname}`);
      out.push({ agent: a.id, images: (await res.json()) as ImageRow[] });
    }
    if (flags.has('json')) {
      printJson(out);
      return 0;
    }
    for (const o of out) for (const i of o.images) console.log(`Loaded ${i.reference} (${i.manifestDigest.slice(0, 19)}, ${size(i.sizeBytes)}) on ${o.agent}`);
    return 0;
  },
};

const imageList: CommandSpec = {
  summary: "The images in the agents' caches",
  usage: 'dcos image list [--agent=<id>] [--json]',
  async run(args) {
    const { flags } = parse(args);
    const c = new ClusterClient();
    const rows: (ImageRow & { agent: string })[] = [];
    for (const a of await agents(c, flags.get('agent'))) {
      for (const i of await c.getJson<ImageRow[]>(`/agent/${encodeURIComponent(a.id)}/images`)) rows.push({ ...i, agent: a.id });
    }
    if (flags.has('json')) {
      printJson(rows);
      return 0;
    }
    const now = Date.now() / 1000;
    console.log(
      table(
        ['REFERENCE', 'DIGEST', 'SIZE', 'LAST USED', 'IN USE', 'SOURCE', 'AGENT'],
        rows.map((r) => [r.reference, r.manifestDigest.slice(0, 19), size(r.sizeBytes), `${ago(r.lastUsedMs / 1000, now)} ago`, r.inUse, r.source, r.agent]),
      ),
    );
    return 0;
  },
};

const imageGc: CommandSpec = {
  summary: "Collect unused images now, within each agent's --image_gc_* bounds",
  usage: 'dcos image gc [--agent=<id>] [--json]',
  async run(args) {
    const { flags } = parse(args);
    const c = new ClusterClient();
    const out = [];
    for (const a of await agents(c, flags.get('agent'))) {
      const res = await c.request('POST', `/agent/${encodeURIComponent(a.id)}/images/gc`);
      if (!res.ok) throw await httpError(res, `image gc on ${a.hostname}`);
      out.push({ agent: a.id, ...((await res.json()) as { removed: string[]; freedBytes: number; keptBytes: number }) });
    }
    if (flags.has('json')) printJson(out);
    else
      for (const o of out)
        console.log(`${o.agent}: removed ${o.removed.length ? o.removed.join(', ') : 'nothing'}; ${size(o.freedBytes)} freed, ${size(o.keptBytes)} kept`);
    return 0;
  },
};

const imagePrune: CommandSpec = {
  summary: 'Remove every image no container uses (PRUNE_IMAGES)',
  usage: 'dcos image prune [--agent=<id>] [--keep=<ref>,...]',
  async run(args) {
    const { flags } = parse(args);
    const c = new ClusterClient();
    const keep = (flags.get('keep') ?? '').split(',').filter(Boolean);
    for (const a of await agents(c, flags.get('agent'))) {
      const res = await c.request('POST', `/agent/${encodeURIComponent(a.id)}/api/v1`, {
        type: 'PRUNE_IMAGES',
        prune_images: { excluded_images: keep.map((name) => ({ type: 'DOCKER', docker: { name } })) },
      });
      if (!res.ok) throw await httpError(res, `PRUNE_IMAGES on ${a.hostname}`);
      console.log(`Pruned the unused images of ${a.id}.`);
    }
    return 0;
  },
};

export const IMAGE_GROUP = {
  summary: "Container images in the agents' caches",
  commands: { load: imageLoad, list: imageList, gc: imageGc, prune: imagePrune },
};
