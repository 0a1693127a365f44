import { statfsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import type { Resource } from '../../model/mesos.js';

/**
 * What this machine offers when --resources does not say: every CPU, the memory minus about
 * 1 GB for the system (at least 256 MB), the free space of the work dir minus 5 GB of headroom
 * (at least 1024 MB), and ports 31000-32000 (the Mesos defaults).
 */
export function detectResources(workDir: string): Resource[] {
  const cpuCount = Math.max(1, cpus().length);
  const memMb = Math.max(256, Math.floor(totalmem() / (1024 * 1024)) - 1024);
  let diskMb = 1024;
  try {
    const s = statfsSync(workDir);
    diskMb = Math.max(1024, Math.floor((Number(s.bavail) * Number(s.bsize)) / (1024 * 1024)) - 5 * 1024);
  } catch {
    // the work dir's file system cannot be asked: keep the minimum
  }
  return [
    { name: 'cpus', type: 'SCALAR', scalar: { value: cpuCount } },
    { name: 'mem', type: 'SCALAR', scalar: { value: memMb } },
    { name: 'disk', type: 'SCALAR', scalar: { value: diskMb } },
    { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 32000 }] } },
  ];
}

/** --resources entries replace the detected ones of the same name; the others stay (as in Mesos). */
export function mergeResources(detected: readonly Resource[], given: readonly Resource[]): Resource[] {
  const named = new Set(given.map((r) => r.name));
  return [...detected.filter((r) => !named.has(r.name)), ...given];
}
