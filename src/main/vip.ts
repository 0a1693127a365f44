import type { IncomingMessage, ServerResponse } from 'node:http';
import { RealClock } from '../adapters/clock-real.js';
import { followMasterEvents, masterBaseUrl } from '../adapters/net/master-events.js';
import { addLocalRoute, isLocalAddress, localRouteSource, NftDataPath, runCmd } from '../adapters/net/nft.js';
import { ProxyDataPath } from '../adapters/net/proxy.js';
import { Router, sendJson } from '../api/http.js';
import { vipRoutes } from '../api/vips.js';
import { intToIp, parseRange, type VipRange } from '../core/vip/index.js';
import { DEFAULT_DNS_CONFIG } from '../core/dns/index.js';
import { DnsService, type GetState } from '../services/dns/index.js';
import { type VipDataPath, VipService } from '../services/vip/index.js';

export type VipMode = 'auto' | 'nftables' | 'proxy';

export interface VipOptions {
  mode: VipMode;
  /** Default 11.0.0.0/8, as dcos-net. */
  range?: string;
  /** nft table name, unique per cluster on a machine. */
  table: string;
  spread?: 'inc' | 'random';
  /**
   * Preferred source address of the range's local route, so local clients of a VIP get it as
   * source instead of the VIP itself (127.0.0.1 on a one-machine cluster, the node's address in a
   * real one). Undefined = no preferred source (the kernel then uses the VIP).
   */
  src?: string;
  log: (level: string, msg: string) => void;
}

export interface RunningVips {
  service: VipService;
  router: Router;
  mode: 'nftables' | 'proxy';
  stop(): Promise<void>;
}

export const DEFAULT_VIP_RANGE = '11.0.0.0/8';

/**
 * Picks the data path: nftables when `nft` can program this kernel, else (or when asked) the
 * userspace proxy, with the reason logged. Either way the range must be local first (a route on
 * lo, or inside 127/8): if it cannot be made local, VIPs are refused rather than risk traffic to
 * them leaving the machine.
 */
export async function startVips(dns: DnsService, opts: VipOptions): Promise<RunningVips> {
  const range = parseRange(opts.range ?? DEFAULT_VIP_RANGE);
  if (typeof range === 'string') throw new Error(range);
  await ensureLocal(range, opts.src, opts.log);
  let dataPath: VipDataPath;
  let mode: 'nftables' | 'proxy' = 'proxy';
  const why = opts.mode === 'proxy' ? 'asked for (--vip_mode=proxy)' : await NftDataPath.unusable(range);
  if (why === undefined) {
    dataPath = new NftDataPath({ range, table: opts.table, ...(opts.spread ? { spread: opts.spread } : {}), ...(opts.src ? { src: opts.src } : {}) });
    mode = 'nftables';
  } else {
    if (opts.mode === 'nftables') throw new Error(`--vip_mode=nftables: ${why}`);
    opts.log('warn', `VIP data path: userspace proxy, because ${why}`);
    dataPath = new ProxyDataPath(opts.log);
  }
  const service = new VipService({ clock: new RealClock(), range, dataPath, dcosDomain: dns.config.dcosDomain, log: opts.log });
  await service.start(dns);
  const router = new Router();
  vipRoutes(router, service, dns.config.dcosDomain);
  return { service, router, mode, stop: () => service.stop() };
}

async function ensureLocal(range: VipRange, src: string | undefined, log: VipOptions['log']): Promise<void> {
  const probe = intToIp(range.first);
  // Inside 127/8 the kernel's own route (src 127.0.0.1) already covers the range.
  if (range.cidr.startsWith('127.') && (await isLocalAddress(probe))) return;
  // Already as wanted (e.g. set by root before a non-root master): nothing to change.
  if ((await localRouteSource(range)) === (src ?? '')) return;
  const e = await addLocalRoute(range, src);
  if (e && (await isLocalAddress(probe))) {
    log(
      'warn',
      `VIP range ${range.cidr} is local, but its route could not be given the preferred source ${src ?? '(none)'} (${e}); local clients of a VIP keep the source it has now`,
    );
    return;
  }
  if (e || !(await isLocalAddress(probe))) {
    throw new Error(
      `VIP range ${range.cidr} cannot be made local (${e ?? 'route missing'}); VIPs are off so that no VIP traffic leaves the machine (run as root, or use a 127.x range such as --vip_range=127.64.0.0/16)`,
    );
  }
}

/** /net/ in the gateway: the VIP API (as DC/OS serves dcos-net's API). */
export function mountVips(gateway: Router, router: Router): void {
  gateway.on('*', '/net/*', async (req: IncomingMessage, res: ServerResponse, ctx) => {
    const qs = ctx.query.toString();
    req.url = `/${ctx.params.rest ?? ''}${qs ? `?${qs}` : ''}`;
    if (!(await router.handle(req, res))) sendJson(res, 404, { code: 404, message: `No route for ${req.url}` });
  });
}

export type NodeVipMode = 'auto' | 'nft' | 'proxy' | 'none';

export interface NodeVipOptions {
  /** The master, "host:port" (the agent's --master). */
  master: string;
  mode: Exclude<NodeVipMode, 'none'>;
  range?: string;
  /** nft table of this node's data path; distinct from every master's (`dcos_vip_<port>`). */
  table: string;
  /** The local route's preferred source (the node's address). */
  src?: string;
  log: (level: string, msg: string) => void;
}

export interface RunningNodeVips extends RunningVips {
  /** Resolves on the master's first snapshot. */
  ready: Promise<void>;
}

/**
 * The VIP data path of one node, outside the master: the same VipService (and DnsService as its
 * task state) as in the master, fed by the master's operator SUBSCRIBE stream over HTTP instead
 * of in-process. Each node programs its own kernel for its own local clients.
 */
export async function startNodeVips(opts: NodeVipOptions): Promise<RunningNodeVips> {
  const base = masterBaseUrl(opts.master);
  const leader = { ip: base.hostname, port: Number(base.port || 5050) };
  const dns = new DnsService(DEFAULT_DNS_CONFIG);
  if (opts.mode !== 'proxy') {
    // Another VIP table in this kernel (a master's, or another agent's) would DNAT the same
    // addresses too: it works (the first DNAT wins) but say so, since it is rarely meant.
    const tables = await runCmd('nft', ['list', 'tables']);
    const others = [...tables.stdout.matchAll(/table ip (dcos_vip_\w+)/g)].map((m) => m[1]).filter((t) => t !== opts.table);
    if (others.length > 0)
      opts.log('warn', `another VIP data path programs this kernel too (${others.join(', ')}); run one per node (--vip_mode=none on a master that shares it)`);
  }
  const vips = await startVips(dns, {
    mode: opts.mode === 'nft' ? 'nftables' : opts.mode,
    table: opts.table,
    ...(opts.range ? { range: opts.range } : {}),
    ...(opts.src ? { src: opts.src } : {}),
    log: opts.log,
  });
  const events = followMasterEvents({
    master: opts.master,
    onSnapshot: (state) => {
      // A fresh snapshot replaces everything (tasks that ended while disconnected go away).
      dns.tasks.clear();
      dns.agents.clear();
      dns.frameworks.clear();
      dns.load(state as GetState, leader, [leader]);
    },
    onEvent: (ev) => dns.apply(ev),
    log: opts.log,
  });
  return {
    ...vips,
    ready: events.ready,
    async stop() {
      events.stop();
      await vips.stop();
    },
  };
}

/** `dcos agent --vip_data_path=auto|nft|proxy|none --vip_range=CIDR --vip_src=IP|none`. */
export async function startAgentVips(
  flags: Map<string, string>,
  where: { master: string; ip: string; port: number },
  agentLog: (level: 'info' | 'warn' | 'error', msg: string) => void,
): Promise<RunningNodeVips | undefined> {
  const log = (level: string, msg: string) => agentLog(level === 'error' || level === 'warn' ? level : 'info', msg);
  const mode = flags.get('vip-data-path') ?? 'none';
  if (mode !== 'auto' && mode !== 'nft' && mode !== 'proxy' && mode !== 'none')
    throw new Error(`--vip_data_path must be auto, nft, proxy or none, got '${mode}'`);
  if (mode === 'none') return undefined;
  const srcFlag = flags.get('vip-src');
  const src = srcFlag === 'none' ? undefined : (srcFlag ?? (where.ip === '0.0.0.0' ? undefined : where.ip));
  const range = flags.get('vip-range');
  const vips = await startNodeVips({
    master: where.master,
    mode,
    table: `dcos_vip_node_${where.port}`,
    ...(range ? { range } : {}),
    ...(src ? { src } : {}),
    log,
  });
  log('info', `VIP data path for this node: ${vips.mode}, range ${vips.service.status.range}, following ${where.master}`);
  return vips;
}
