/**
 * The cluster DNS for containers on the agent's bridge: a task in a network namespace of its own
 * cannot reach the cluster DNS at a 127/8 address (that is its own lo), but it reaches the
 * bridge's gateway address (the host's side of its default route). So the agent relays DNS on
 * `<gateway>:53` (UDP and TCP) to the cluster DNS, and such tasks' resolv.conf names the gateway.
 *
 * The gateway address exists only once the bridge does (the CNI bridge plugin makes it with the
 * first container), so the forwarder is (re)tried at start and after every attach, before the
 * task runs. Several agents on one machine share the bridge: the first one binds, the others
 * find the address in use and leave it (it relays to the same cluster DNS).
 */
import type { ContainerNetworks, NetworkRequest, NetworkSetup } from '../../ports/network.js';
import { intToIp, ipToInt } from '../../core/vip/range.js';
import { DnsForwarder } from '../dns/forwarder.js';

type LogFn = (level: 'info' | 'warn' | 'error', message: string) => void;

/** The gateway host-local gives a subnet by default: its first address (`172.31.254.0/24` → `.1`). */
export function subnetGateway(cidr: string): string | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr);
  const base = m ? ipToInt(m[1] as string) : undefined;
  const bits = m ? Number(m[2]) : NaN;
  if (base === undefined || !(bits >= 0 && bits <= 30)) return undefined;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return intToIp(((base & mask) >>> 0) + 1);
}

export interface BridgeDnsOptions {
  gateway: string;
  /** The cluster DNS (port 53 of --container_dns's first address). */
  upstream: { host: string; port: number };
  log?: LogFn;
  /** Port to listen on (53; tests may choose another). */
  port?: number;
}

export class BridgeDns {
  private forwarder: DnsForwarder | undefined;
  private inUseLogged = false;
  private trying: Promise<void> | undefined;

  constructor(readonly opts: BridgeDnsOptions) {}

  /** Whether this agent relays DNS on the gateway now. */
  get listening(): boolean {
    return this.forwarder?.listening === true;
  }

  /** Binds `<gateway>:53` unless done already; quiet while the gateway address does not exist. */
  ensure(): Promise<void> {
    if (this.forwarder) return Promise.resolve();
    this.trying ??= this.tryStart().finally(() => {
      this.trying = undefined;
    });
    return this.trying;
  }

  private async tryStart(): Promise<void> {
    const { gateway, upstream, log } = this.opts;
    const f = new DnsForwarder({ host: gateway, port: this.opts.port ?? 53, upstream, ...(log ? { log } : {}) });
    try {
      await f.start();
      this.forwarder = f;
      log?.('info', `DNS for containers on ${gateway}:${f.port} (udp, tcp), relayed to ${upstream.host}:${upstream.port}`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') {
        if (!this.inUseLogged) log?.('info', `DNS for containers: ${gateway}:53 is served already (another agent on this machine?)`);
        this.inUseLogged = true;
      } else if (code !== 'EADDRNOTAVAIL') {
        log?.('warn', `DNS for containers on ${gateway}:53: ${(e as Error).message}`);
      }
    }
  }

  /** The same networks, with ensure() after every attach (before the task starts). */
  wrap(inner: ContainerNetworks): ContainerNetworks {
    return {
      names: () => inner.names(),
      attach: async (containerId: string, requests: readonly NetworkRequest[]): Promise<NetworkSetup> => {
        const setup = await inner.attach(containerId, requests);
        await this.ensure();
        return setup;
      },
      detach: (containerId) => inner.detach(containerId),
      inspect: (containerId) => inner.inspect(containerId),
      list: () => inner.list(),
    };
  }

  async stop(): Promise<void> {
    await this.trying;
    await this.forwarder?.stop();
    this.forwarder = undefined;
  }
}
