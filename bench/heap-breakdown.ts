/**
 * B10: where the master's heap goes, by object shape, from a heap snapshot.
 *
 *   node --expose-gc dist/bench/scale.js --footprint-point 2000,20000 --heap-snapshot /tmp/m.heapsnapshot [--views]
 *   node dist/bench/heap-breakdown.js /tmp/m.heapsnapshot [--class Master] [--per 20000] [--top 40]
 *
 * The master's share is what it dominates: the objects that stop being reachable from the GC
 * roots once the Master object is taken away (weak edges do not count). Objects the master shares
 * with the simulated agents and scheduler in the same process (the task ids and TaskInfos the
 * simulator passes by reference) are reachable without it and are not counted, as the bench's
 * "drop the master" measurement does not count them either.
 *
 * Each such object is labelled by the path it is first reached by from the master (breadth
 * first), with array indices and map keys folded, so e.g. every status's uuid string lands on one
 * line; the lines are sorted by the bytes they hold.
 */
import { readFileSync } from 'node:fs';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const file = process.argv[2];
if (!file || file.startsWith('--')) {
  console.error('usage: heap-breakdown.js FILE.heapsnapshot [--class Master] [--per N] [--top 40]');
  process.exit(2);
}
const CLASS = arg('--class') ?? 'Master';
const PER = Number(arg('--per') ?? 0);
const TOP = Number(arg('--top') ?? 40);

// --- parsing: the node and edge arrays are too big for JSON.parse as one string --------------------

const buf = readFileSync(file);

function sectionStart(key: string, from = 0): number {
  const i = buf.indexOf(`"${key}":`, from, 'latin1');
  if (i < 0) throw new Error(`no "${key}" in the snapshot`);
  return buf.indexOf('[', i, 'latin1') + 1;
}

function numbers(key: string, count: number): Float64Array {
  const out = new Float64Array(count);
  let p = sectionStart(key);
  let n = 0;
  while (n < count) {
    let c = buf[p]!;
    while (c === 0x2c || c === 0x0a || c === 0x20 || c === 0x0d) c = buf[++p]!;
    let v = 0;
    while (c >= 0x30 && c <= 0x39) {
      v = v * 10 + (c - 0x30);
      c = buf[++p]!;
    }
    out[n++] = v;
  }
  return out;
}

const head = JSON.parse(`${buf.toString('utf8', buf.indexOf('{'), buf.indexOf('"nodes":')).replace(/,\s*$/, '')}}`) as {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] };
    node_count: number;
    edge_count: number;
  };
};
const meta = head.snapshot.meta;
const NF = meta.node_fields.length;
const EF = meta.edge_fields.length;
const nodeCount = head.snapshot.node_count;
const edgeCount = head.snapshot.edge_count;
const nodes = numbers('nodes', nodeCount * NF);
const edges = numbers('edges', edgeCount * EF);
const stringsStart = sectionStart('strings') - 1;
// The strings array runs to the end of the file but for a closing brace.
const stringsEnd = buf.lastIndexOf(']') + 1;
const strings = JSON.parse(buf.toString('utf8', stringsStart, stringsEnd)) as string[];

const nType = meta.node_fields.indexOf('type');
const nName = meta.node_fields.indexOf('name');
const nSize = meta.node_fields.indexOf('self_size');
const nEdges = meta.node_fields.indexOf('edge_count');
const eType = meta.edge_fields.indexOf('type');
const eName = meta.edge_fields.indexOf('name_or_index');
const eTo = meta.edge_fields.indexOf('to_node');
const nodeTypes = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const WEAK = edgeTypes.indexOf('weak');
const SHORTCUT = edgeTypes.indexOf('shortcut');

const firstEdge = new Uint32Array(nodeCount + 1);
for (let i = 0; i < nodeCount; i++) firstEdge[i + 1] = firstEdge[i]! + nodes[i * NF + nEdges]!;

const typeOf = (n: number): string => nodeTypes[nodes[n * NF + nType]!] ?? '?';
const nameOf = (n: number): string => strings[nodes[n * NF + nName]!] ?? '';
const sizeOf = (n: number): number => nodes[n * NF + nSize]!;

function edgeLabel(e: number): string {
  const t = edgeTypes[edges[e * EF + eType]!];
  const v = edges[e * EF + eName]!;
  if (t === 'element' || t === 'hidden') return '[]';
  const s = strings[v] ?? String(v);
  if (t === 'internal' && s.startsWith('part of key')) return '(weak map value)';
  if (/^\d+$/.test(s)) return '[]';
  return t === 'internal' || t === 'context' ? `(${s.length > 24 ? `${s.slice(0, 24)}…` : s})` : s;
}

// --- the master's share -----------------------------------------------------------------------

let master = -1;
for (let i = 0; i < nodeCount; i++) {
  if (typeOf(i) === 'object' && nameOf(i) === CLASS) {
    if (master >= 0) throw new Error(`more than one ${CLASS} object`);
    master = i;
  }
}
if (master < 0) throw new Error(`no ${CLASS} object in the snapshot`);

/** Breadth-first over strong edges from `start`, not entering `skip`; calls `visit` on each new node. */
function walk(start: number, seen: Uint8Array, skip: Uint8Array | undefined, visit?: (node: number, from: number, edge: number) => void): void {
  const queue = new Uint32Array(nodeCount);
  let qh = 0;
  let qt = 0;
  seen[start] = 1;
  queue[qt++] = start;
  while (qh < qt) {
    const n = queue[qh++]!;
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e++) {
      const t = edges[e * EF + eType]!;
      if (t === WEAK || t === SHORTCUT) continue;
      const to = edges[e * EF + eTo]! / NF;
      if (seen[to] || skip?.[to]) continue;
      seen[to] = 1;
      visit?.(to, n, e);
      queue[qt++] = to;
    }
  }
}

// The master's own closures (timers, sinks, store callbacks) hold its records too, and are
// reachable from the simulated clock's queue: they count as the master's, like the Master object.
const OWNER = arg('--owner-scripts') ?? 'services/master/';
function edgeTo(n: number, name: string): number {
  for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e++) if (strings[edges[e * EF + eName]!] === name) return edges[e * EF + eTo]! / NF;
  return -1;
}
const owned = new Uint8Array(nodeCount);
const ownedList: number[] = [];
owned[master] = 1;
for (let i = 0; i < nodeCount; i++) {
  if (typeOf(i) !== 'closure') continue;
  const sfi = edgeTo(i, 'shared');
  const script = sfi >= 0 ? edgeTo(sfi, 'script_or_debug_info') : -1;
  if (script >= 0 && nameOf(script).includes(OWNER)) {
    owned[i] = 1;
    ownedList.push(i);
  }
}

const fromRoots = new Uint8Array(nodeCount);
const parentEdge = new Int32Array(nodeCount).fill(-1);
const parentNode = new Int32Array(nodeCount).fill(-1);
walk(0, fromRoots, owned, (node, from, edge) => {
  parentEdge[node] = edge;
  parentNode[node] = from;
});

/** `--why a.b.c`: how the object at that property path from the master is reachable without it. */
const why = arg('--why');
if (why) {
  let n = master;
  for (const step of why.split('.')) {
    let next = -1;
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e++) {
      const t = edgeTypes[edges[e * EF + eType]!];
      const v = edges[e * EF + eName]!;
      const nm = t === 'element' || t === 'hidden' ? String(v) : (strings[v] ?? '');
      if (nm === step || (step === '*' && (t === 'element' || t === 'internal' || t === 'property'))) {
        next = edges[e * EF + eTo]! / NF;
        if (step !== '*' || typeOf(next) === 'object') break;
      }
    }
    if (next < 0) throw new Error(`no ${step} at ${nameOf(n)}`);
    n = next;
  }
  const chain: string[] = [];
  for (let x = n; x > 0 && parentNode[x]! >= 0; x = parentNode[x]!) chain.push(`${edgeLabel(parentEdge[x]!)} -> ${typeOf(x)} ${nameOf(x).slice(0, 40)}`);
  console.log(chain.reverse().join('\n'));
  process.exit(0);
}

const label = new Array<string | undefined>(nodeCount);
label[master] = CLASS;
const groups = new Map<string, { count: number; bytes: number }>();
let total = 0;
const visit = (node: number, from: number, edge: number): void => {
  const parent = label[from] ?? '';
  // Keep the last four steps of the path: enough to tell a status's uuid from a task's.
  const parts = `${parent}.${edgeLabel(edge)}`.split('.');
  const path = parts.slice(Math.max(0, parts.length - 4)).join('.');
  label[node] = path;
  const key = `${path}  <${typeOf(node)}${typeOf(node) === 'object' || typeOf(node) === 'native' ? ` ${nameOf(node)}` : ''}>`;
  const g = groups.get(key) ?? { count: 0, bytes: 0 };
  g.count++;
  g.bytes += sizeOf(node);
  groups.set(key, g);
  total += sizeOf(node);
};
total += sizeOf(master);
walk(master, fromRoots, undefined, visit);
for (const c of ownedList) {
  if (fromRoots[c]) continue;
  label[c] = `closure ${nameOf(c) || '(anonymous)'}`;
  total += sizeOf(c);
  walk(c, fromRoots, undefined, visit);
}

if (process.argv.includes('--closures')) {
  // Which of the master's closures are alive, how each is reached, and what it holds.
  const byName = new Map<string, { n: number; example: number }>();
  for (const c of ownedList) {
    const ctx = edgeTo(c, 'context');
    const vars: string[] = [];
    for (let e = ctx >= 0 ? firstEdge[ctx]! : 0; ctx >= 0 && e < firstEdge[ctx + 1]!; e++)
      if (edgeTypes[edges[e * EF + eType]!] === 'context') vars.push(strings[edges[e * EF + eName]!] ?? '');
    const key = `${nameOf(c) || '(anonymous)'} [${vars.join(',')}]`;
    const g = byName.get(key) ?? { n: 0, example: c };
    g.n++;
    byName.set(key, g);
  }
  for (const [k, g] of [...byName.entries()].sort((a, b) => b[1].n - a[1].n).slice(0, 10)) {
    const chain: string[] = [];
    for (let x = g.example; x > 0 && parentNode[x]! >= 0; x = parentNode[x]!) chain.push(`${edgeLabel(parentEdge[x]!)}:${typeOf(x)} ${nameOf(x).slice(0, 30)}`);
    const ret: string[] = [];
    for (let n = 0; n < nodeCount && ret.length < 3; n++) {
      for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e++) {
        if (edges[e * EF + eTo]! / NF !== g.example) continue;
        const up: string[] = [];
        for (let x = n; x > 0 && parentNode[x]! >= 0 && up.length < 6; x = parentNode[x]!)
          up.push(`${edgeLabel(parentEdge[x]!)}:${typeOf(x)} ${nameOf(x).slice(0, 30)}`);
        ret.push(`${typeOf(n)} ${nameOf(n).slice(0, 30)} .${edgeLabel(e)} <- ${up.join(' <- ')}`);
      }
    }
    console.log(`${String(g.n).padStart(7)} ${k}\n        held by ${ret.join('\n        held by ')}`);
  }
}

const rows = [...groups.entries()].sort((a, b) => b[1].bytes - a[1].bytes);
console.log(
  `${CLASS} and ${ownedList.length.toLocaleString()} closures of ${OWNER} dominate ${(total / 1048576).toFixed(1)} MB in ${rows.reduce((a, r) => a + r[1].count, 0).toLocaleString()} objects`,
);
console.log(`${'MB'.padStart(8)} ${'objects'.padStart(10)}${PER ? `  ${'B/task'.padStart(7)}` : ''}  path <type>`);
for (const [k, g] of rows.slice(0, TOP)) {
  console.log(
    `${(g.bytes / 1048576).toFixed(2).padStart(8)} ${g.count.toLocaleString().padStart(10)}${PER ? `  ${(g.bytes / PER).toFixed(0).padStart(7)}` : ''}  ${k}`,
  );
}
if (PER) console.log(`total per task (all of the above and the rest): ${(total / PER).toFixed(0)} B`);
