/**
 * Container networks through the CNI plugins (Debian's containernetworking-plugins, installed in
 * /usr/lib/cni), as Mesos' network/cni isolator does it: one network namespace per container
 * (`ip netns add dcos-<containerId>`), then each network's plugin chain run with CNI_COMMAND=ADD,
 * every plugin's result handed to the next as prevResult; DEL runs the chain backwards with the
 * last result. There is no cnitool on Debian: the plugins are invoked here directly.
 *
 * What an attachment made is recorded under `<stateDir>/<containerId>/attach.json` before the
 * first plugin runs and after each network, so DEL gets exactly the configuration ADD got (as the
 * CNI spec requires), also after an agent restart, and a half-made attachment is found and undone.
 *
 * Networks: every `*.conflist` / `*.conf` / `*.json` in the config directory (a single-plugin
 * `.conf` counts as a one-plugin list), plus the default `mesos-bridge`: a Linux bridge with
 * host-local addresses from a private subnet whose gateway address sits on the bridge, so the
 * subnet is routed to the bridge and traffic to container addresses never leaves the machine;
 * portmap is chained for port_mappings. ipMasq stays off (it needs outbound NAT, and containers
 * have no business reaching outside this machine in this project's tests).
 */
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { AttachedNetwork, ContainerNetworks, NetworkRequest, NetworkSetup, PortMapping } from '../../ports/network.js';

type Json = Record<string, unknown>;
type LogFn = (level: 'info' | 'warn' | 'error', message: string) => void;

export const DEFAULT_CNI_PLUGINS_DIR = '/usr/lib/cni';
export const DEFAULT_BRIDGE_NETWORK = 'mesos-bridge';
export const DEFAULT_BRIDGE_DEVICE = 'mesos-cni0';
export const DEFAULT_BRIDGE_SUBNET = '172.31.254.0/24';

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const PLUGIN_TYPE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_NETWORKS_PER_CONTAINER = 8;
const MAX_PORT_MAPPINGS = 1000;
const MAX_PLUGIN_OUTPUT_BYTES = 1024 * 1024;
/** `ip` and the iptables that portmap runs live in sbin, which a non-login PATH may lack. */
const TOOL_PATH = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/bin', '/sbin', '/bin']
  .filter((d, i, all) => all.indexOf(d) === i)
  .join(':');

/** A network: its name, CNI version and plugin chain (as in a .conflist). */
export interface CniNetworkConfig {
  name: string;
  cniVersion: string;
  plugins: Json[];
  /** Where it came from (a file, or 'default'). */
  source: string;
}

/** Makes and removes network namespaces. The default uses `ip netns`; tests may use files. */
export interface NetnsOps {
  /** Creates the namespace; resolves with the path a process can setns to. */
  create(name: string): Promise<string>;
  /** Removes it; quiet when it does not exist. */
  remove(name: string): Promise<void>;
}

export interface CniOptions {
  /** Where the plugin executables are (CNI_PATH). */
  pluginsDir?: string;
  /** A directory of .conflist / .conf files (Mesos' --network_cni_config_dir); none: only the default. */
  configDir?: string;
  /** Absolute directory for this adapter's records (one directory per container). */
  stateDir: string;
  /** The default bridge network; `false` leaves it out. */
  defaultBridge?: { name?: string; device?: string; subnet?: string } | false;
  log?: LogFn;
  /** Per plugin invocation. */
  timeoutMs?: number;
  netns?: NetnsOps;
}

interface AttachRecord {
  containerId: string;
  netnsName: string;
  netnsPath: string;
  networks: { name: string; ifName: string; conf: CniNetworkConfig; portMappings: PortMapping[]; result?: Json }[];
}

/** `ip netns add/del`: /run/netns/<name>, visible to `ip netns exec` for debugging. */
export const IP_NETNS: NetnsOps = {
  async create(name) {
    const r = await run('ip', ['netns', 'add', name], {}, '', 10_000);
    if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr.trim() || `exit ${r.code}`}`);
    return `/run/netns/${name}`;
  },
  async remove(name) {
    if (!existsSync(`/run/netns/${name}`)) return;
    const r = await run('ip', ['netns', 'del', name], {}, '', 10_000);
    if (r.code !== 0 && existsSync(`/run/netns/${name}`)) throw new Error(`ip netns del ${name}: ${r.stderr.trim() || `exit ${r.code}`}`);
  },
};

/** The default bridge network's configuration. */
export function defaultBridgeConfig(o: { name?: string; device?: string; subnet?: string } = {}): CniNetworkConfig {
  const subnet = o.subnet ?? DEFAULT_BRIDGE_SUBNET;
  if (!isIpv4Cidr(subnet)) throw new Error(`the bridge subnet must be an IPv4 CIDR like ${DEFAULT_BRIDGE_SUBNET}, got '${subnet}'`);
  const device = o.device ?? DEFAULT_BRIDGE_DEVICE;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(device)) throw new Error(`the bridge device name must be 1-15 letters, digits, '.', '_' or '-', got '${device}'`);
  return {
    name: o.name ?? DEFAULT_BRIDGE_NETWORK,
    cniVersion: '0.4.0',
    source: 'default',
    plugins: [
      {
        type: 'bridge',
        bridge: device,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: { type: 'host-local', subnet, routes: [{ dst: '0.0.0.0/0' }] },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}

/**
 * Reads the networks of a config directory (plus the default bridge unless a file defines a
 * network of the same name). Throws with the file and the problem for anything unusable.
 */
export async function loadCniNetworks(opts: Pick<CniOptions, 'configDir' | 'pluginsDir' | 'defaultBridge' | 'log'>): Promise<Map<string, CniNetworkConfig>> {
  const pluginsDir = opts.pluginsDir ?? DEFAULT_CNI_PLUGINS_DIR;
  const out = new Map<string, CniNetworkConfig>();
  if (opts.configDir) {
    let files: string[];
    try {
      files = (await fs.readdir(opts.configDir)).filter((f) => /\.(conflist|conf|json)$/.test(f)).sort();
    } catch (e) {
      throw new Error(`cannot read the CNI config directory ${opts.configDir}: ${(e as Error).message}`);
    }
    for (const f of files) {
      const path = join(opts.configDir, f);
      const conf = parseNetworkConfig(await fs.readFile(path, 'utf8'), path);
      const seen = out.get(conf.name);
      if (seen) throw new Error(`${path}: network '${conf.name}' is also defined in ${seen.source}`);
      out.set(conf.name, conf);
    }
  }
  if (opts.defaultBridge !== false) {
    const d = defaultBridgeConfig(opts.defaultBridge ?? {});
    const missing = d.plugins.map((p) => String(p.type)).filter((t) => !existsSync(join(pluginsDir, t)));
    // The default network is offered only where its plugins are installed; configured ones must be.
    if (missing.length > 0)
      opts.log?.(
        'info',
        `no '${d.name}' network: the CNI plugins ${missing.join(', ')} are not in ${pluginsDir} (apt-get install containernetworking-plugins)`,
      );
    else if (!out.has(d.name)) out.set(d.name, d);
  }
  for (const conf of out.values()) {
    for (const p of conf.plugins) {
      const bin = join(pluginsDir, String(p.type));
      if (!existsSync(bin)) throw new Error(`${conf.source}: network '${conf.name}' needs the CNI plugin '${p.type}', which is not in ${pluginsDir}`);
    }
  }
  return out;
}

/** One .conflist (or single-plugin .conf) text, checked. */
export function parseNetworkConfig(text: string, source: string): CniNetworkConfig {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${source}: expected a JSON object`);
  const o = v as Json;
  if (typeof o.name !== 'string' || !NETWORK_NAME.test(o.name)) throw new Error(`${source}: 'name' must be a network name (letters, digits, '.', '_', '-')`);
  const cniVersion = typeof o.cniVersion === 'string' ? o.cniVersion : '0.4.0';
  let plugins: Json[];
  if (Array.isArray(o.plugins)) plugins = o.plugins as Json[];
  else if (typeof o.type === 'string') {
    const { name: _n, cniVersion: _v, ...plugin } = o;
    plugins = [plugin];
  } else throw new Error(`${source}: needs 'plugins' (a .conflist) or 'type' (a .conf)`);
  if (plugins.length === 0) throw new Error(`${source}: 'plugins' is empty`);
  plugins.forEach((p, i) => {
    if (typeof p !== 'object' || p === null || typeof p.type !== 'string' || !PLUGIN_TYPE.test(p.type))
      throw new Error(`${source}: plugins[${i}] needs a 'type' naming a plugin executable`);
  });
  return { name: o.name, cniVersion, plugins, source };
}

export class CniNetworks implements ContainerNetworks {
  private readonly pluginsDir: string;
  private readonly netns: NetnsOps;
  private readonly log: LogFn;
  /** Plugin runs one at a time: concurrent first ADDs would race to create the same bridge. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly opts: CniOptions,
    private readonly networks: Map<string, CniNetworkConfig>,
  ) {
    this.pluginsDir = opts.pluginsDir ?? DEFAULT_CNI_PLUGINS_DIR;
    this.netns = opts.netns ?? IP_NETNS;
    this.log = opts.log ?? (() => {});
  }

  /** Loads the configured networks (throws for a bad config directory or a missing plugin). */
  static async create(opts: CniOptions): Promise<CniNetworks> {
    if (!opts.stateDir.startsWith('/')) throw new Error(`stateDir must be absolute: ${opts.stateDir}`);
    return new CniNetworks(opts, await loadCniNetworks(opts));
  }

  names(): string[] {
    return [...this.networks.keys()];
  }

  config(name: string): CniNetworkConfig | undefined {
    return this.networks.get(name);
  }

  async attach(containerId: string, requests: readonly NetworkRequest[]): Promise<NetworkSetup> {
    if (!CONTAINER_ID.test(containerId)) throw new Error(`invalid container id '${containerId}'`);
    if (requests.length === 0) throw new Error('no network requested');
    if (requests.length > MAX_NETWORKS_PER_CONTAINER) throw new Error(`at most ${MAX_NETWORKS_PER_CONTAINER} networks per container`);
    const seen = new Set<string>();
    for (const r of requests) {
      const conf = this.networks.get(r.name);
      if (!conf) throw new Error(`unknown network '${r.name}' (this agent has: ${this.names().join(', ') || 'none'})`);
      if (seen.has(r.name)) throw new Error(`network '${r.name}' is named twice`);
      seen.add(r.name);
      if (r.portMappings.length > MAX_PORT_MAPPINGS) throw new Error(`at most ${MAX_PORT_MAPPINGS} port mappings per network`);
      for (const pm of r.portMappings) {
        if (!validPort(pm.hostPort) || !validPort(pm.containerPort)) throw new Error(`port mapping ${pm.hostPort}->${pm.containerPort}: ports must be 1-65535`);
        if (pm.protocol !== 'tcp' && pm.protocol !== 'udp') throw new Error(`port mapping ${pm.hostPort}->${pm.containerPort}: protocol must be tcp or udp`);
      }
      if (r.portMappings.length > 0 && !conf.plugins.some((p) => hasPortMappings(p)))
        throw new Error(`network '${r.name}' has no plugin with the portMappings capability (portmap): its port_mappings cannot be honoured`);
    }
    const dir = this.dirOf(containerId);
    if (existsSync(join(dir, 'attach.json'))) throw new Error(`container ${containerId} is already attached`);
    const netnsName = `dcos-${containerId}`;
    const rec: AttachRecord = {
      containerId,
      netnsName,
      netnsPath: '',
      networks: requests.map((r, i) => ({
        name: r.name,
        ifName: `eth${i}`,
        conf: this.networks.get(r.name) as CniNetworkConfig,
        portMappings: r.portMappings,
      })),
    };
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    // Recorded before anything is made: a crash from here on leaves something detach() can undo.
    await this.save(rec);
    try {
      rec.netnsPath = await this.netns.create(netnsName);
      await this.save(rec);
      await this.serial(async () => {
        if (existsSync(join(this.pluginsDir, 'loopback'))) {
          const lo = { cniVersion: '0.4.0', name: 'lo', type: 'loopback' };
          await this.invoke('loopback', 'ADD', lo, { containerId, netns: rec.netnsPath, ifName: 'lo' });
        }
        for (const n of rec.networks) {
          n.result = await this.chain('ADD', n.conf, n.portMappings, { containerId, netns: rec.netnsPath, ifName: n.ifName });
          await this.save(rec);
        }
      });
    } catch (e) {
      await this.detach(containerId).catch((d: Error) => this.log('warn', `undoing the networks of ${containerId}: ${d.message}`));
      throw e;
    }
    return setupOf(rec);
  }

  async detach(containerId: string): Promise<void> {
    if (!CONTAINER_ID.test(containerId)) return;
    const dir = this.dirOf(containerId);
    const rec = await this.load(containerId);
    if (!rec) {
      await fs.rm(dir, { recursive: true, force: true });
      return;
    }
    const problems: string[] = [];
    if (rec.netnsPath) {
      await this.serial(async () => {
        for (const n of [...rec.networks].reverse()) {
          try {
            await this.chain('DEL', n.conf, n.portMappings, { containerId, netns: rec.netnsPath, ifName: n.ifName }, n.result);
          } catch (e) {
            problems.push((e as Error).message);
          }
        }
      });
    }
    try {
      await this.netns.remove(rec.netnsName);
    } catch (e) {
      problems.push((e as Error).message);
    }
    await fs.rm(dir, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(`detaching ${containerId}: ${problems.join('; ')}`);
  }

  async inspect(containerId: string): Promise<NetworkSetup | undefined> {
    if (!CONTAINER_ID.test(containerId)) return undefined;
    const rec = await this.load(containerId);
    if (!rec || !rec.netnsPath || rec.networks.some((n) => !n.result)) return undefined;
    return setupOf(rec);
  }

  async list(): Promise<string[]> {
    try {
      return (await fs.readdir(this.opts.stateDir)).filter((d) => CONTAINER_ID.test(d));
    } catch {
      return [];
    }
  }

  // --- Internals --------------------------------------------------------------------------------

  private dirOf(containerId: string): string {
    return join(this.opts.stateDir, containerId);
  }

  private async save(rec: AttachRecord): Promise<void> {
    const dir = this.dirOf(rec.containerId);
    const tmp = join(dir, 'attach.json.tmp');
    await fs.writeFile(tmp, JSON.stringify(rec));
    await fs.rename(tmp, join(dir, 'attach.json'));
  }

  private async load(containerId: string): Promise<AttachRecord | undefined> {
    try {
      return JSON.parse(await fs.readFile(join(this.dirOf(containerId), 'attach.json'), 'utf8')) as AttachRecord;
    } catch {
      return undefined;
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  /**
   * Runs a network's plugins: ADD in order, each given the previous result; DEL in reverse, each
   * given the final ADD result (CNI 0.4.0+). Returns the last ADD result.
   */
  private async chain(
    command: 'ADD' | 'DEL',
    conf: CniNetworkConfig,
    portMappings: readonly PortMapping[],
    where: { containerId: string; netns: string; ifName: string },
    addResult?: Json,
  ): Promise<Json | undefined> {
    const plugins = command === 'ADD' ? conf.plugins : [...conf.plugins].reverse();
    const passPrev = !/^0\.[0-3]\./.test(conf.cniVersion);
    let prev: Json | undefined = command === 'DEL' ? addResult : undefined;
    const delErrors: string[] = [];
    for (const p of plugins) {
      const stdin: Json = { ...p, cniVersion: conf.cniVersion, name: conf.name };
      if (hasPortMappings(p) && portMappings.length > 0) {
        stdin.runtimeConfig = { ...((p.runtimeConfig as Json | undefined) ?? {}), portMappings: portMappings.map((m) => ({ ...m })) };
      }
      if (prev && (command === 'ADD' || passPrev)) stdin.prevResult = prev;
      if (command === 'ADD') {
        prev = (await this.invoke(String(p.type), command, stdin, where)) ?? prev;
        continue;
      }
      // DEL goes on past a failing plugin: the others still free what they hold.
      await this.invoke(String(p.type), command, stdin, where).catch((e: Error) => delErrors.push(e.message));
    }
    if (delErrors.length > 0) throw new Error(delErrors.join('; '));
    return prev;
  }

  private async invoke(
    type: string,
    command: 'ADD' | 'DEL',
    stdin: Json,
    where: { containerId: string; netns: string; ifName: string },
  ): Promise<Json | undefined> {
    const env = {
      CNI_COMMAND: command,
      CNI_CONTAINERID: where.containerId,
      CNI_NETNS: where.netns,
      CNI_IFNAME: where.ifName,
      CNI_PATH: this.pluginsDir,
      PATH: TOOL_PATH,
    };
    const r = await run(join(this.pluginsDir, type), [], env, JSON.stringify(stdin), this.opts.timeoutMs ?? 30_000);
    const what = `CNI plugin ${type} ${command} on network '${String(stdin.name)}'`;
    let parsed: Json | undefined;
    if (r.stdout.trim() !== '') {
      try {
        parsed = JSON.parse(r.stdout) as Json;
      } catch {
        if (r.code === 0) throw new Error(`${what}: output is not JSON: ${r.stdout.slice(0, 200)}`);
      }
    }
    if (r.code !== 0) {
      const msg =
        parsed && typeof parsed.msg === 'string' ? `${parsed.msg}${parsed.details ? ` (${String(parsed.details)})` : ''}` : r.stderr.trim() || `exit ${r.code}`;
      throw new Error(`${what} failed: ${msg}`);
    }
    return parsed;
  }
}

/** IPv4 addresses of a CNI result (0.3.0+ `ips[].address`, 0.2.0 `ip4.ip`), without prefix length. */
export function resultIps(result: Json | undefined): string[] {
  if (!result) return [];
  const out: string[] = [];
  const ips = result.ips;
  if (Array.isArray(ips)) {
    for (const ip of ips as Json[]) {
      const a = typeof ip?.address === 'string' ? ip.address.split('/')[0] : undefined;
      if (a && !a.includes(':')) out.push(a);
    }
  }
  const ip4 = result.ip4 as Json | undefined;
  if (out.length === 0 && typeof ip4?.ip === 'string') out.push(ip4.ip.split('/')[0] as string);
  return out;
}

function setupOf(rec: AttachRecord): NetworkSetup {
  const networks: AttachedNetwork[] = rec.networks.map((n) => ({ name: n.name, ifName: n.ifName, ips: resultIps(n.result), portMappings: n.portMappings }));
  return { netnsPath: rec.netnsPath, networks };
}

function hasPortMappings(p: Json): boolean {
  const caps = p.capabilities as Json | undefined;
  return caps?.portMappings === true;
}

function validPort(p: unknown): boolean {
  return Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535;
}

function isIpv4Cidr(s: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s);
  if (!m) return false;
  const parts = m.slice(1, 5).map(Number);
  const len = Number(m[5]);
  return parts.every((x) => x <= 255) && len >= 8 && len <= 30;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: Record<string, string>, input: string, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(cmd, args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        timeout: timeoutMs,
        env: Object.keys(env).length > 0 ? env : { ...process.env, PATH: TOOL_PATH },
      });
    } catch (e) {
      resolve({ code: 127, stdout: '', stderr: (e as Error).message });
      return;
    }
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      if (stdout.length < MAX_PLUGIN_OUTPUT_BYTES) stdout += d;
    });
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < MAX_PLUGIN_OUTPUT_BYTES) stderr += d;
    });
    child.on('error', (e) => resolve({ code: 127, stdout, stderr: stderr || e.message }));
    child.on('close', (code, signal) =>
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr: signal ? `${stderr}killed by ${signal} (timeout ${timeoutMs} ms?)` : stderr }),
    );
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
  });
}
