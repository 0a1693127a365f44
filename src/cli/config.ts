import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from './output.js';

/** The CLI's list of clusters (`dcos cluster setup/list/attach/remove`). */
export interface ClusterEntry {
  name: string;
  url: string;
  /** Work dir of a local `dcos up` cluster, if it is one. */
  workDir?: string;
}

interface ConfigFile {
  attached?: string;
  clusters: Record<string, ClusterEntry>;
}

export function configPath(): string {
  const dir = process.env.DCOS_TS_CONFIG_DIR ?? join(homedir(), '.dcos-ts');
  return join(dir, 'clusters.json');
}

export function loadConfig(): ConfigFile {
  try {
    const c = JSON.parse(readFileSync(configPath(), 'utf8')) as ConfigFile;
    return { clusters: c.clusters ?? {}, ...(c.attached ? { attached: c.attached } : {}) };
  } catch {
    return { clusters: {} };
  }
}

export function saveConfig(c: ConfigFile): void {
  const p = configPath();
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(`${p}.tmp`, `${JSON.stringify(c, null, 2)}\n`);
  renameSync(`${p}.tmp`, p);
}

export function addCluster(entry: ClusterEntry, attach = true): void {
  const c = loadConfig();
  c.clusters[entry.name] = entry;
  if (attach) c.attached = entry.name;
  saveConfig(c);
}

/** The cluster URL to talk to: $DCOS_URL, else the attached cluster. */
export function clusterUrl(): string {
  const env = process.env.DCOS_URL;
  if (env) return env.replace(/\/$/, '');
  const c = loadConfig();
  const entry = c.attached ? c.clusters[c.attached] : undefined;
  if (!entry) {
    throw new CliError('No cluster is attached.', "Run 'dcos up' for a local cluster, or 'dcos cluster setup <url>' for an existing one.");
  }
  return entry.url.replace(/\/$/, '');
}
