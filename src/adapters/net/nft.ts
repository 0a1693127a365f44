/**
 * The kernel VIP data path: the whole VIP range as a local route on lo (so a VIP address never
 * leaves the machine, programmed or not: this kernel has no dummy interface type), and one nft
 * table per cluster replaced atomically by `nft -f -` on every change.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { nftDeleteScript, renderNft, type Vip, type VipRange } from '../../core/vip/index.js';

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCmd(cmd: string, args: string[], input?: string, timeoutMs = 10_000): Promise<CmdResult> {
  return new Promise((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    } catch (e) {
      resolve({ code: 127, stdout: '', stderr: (e as Error).message });
      return;
    }
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    child.on('error', (e) => resolve({ code: 127, stdout, stderr: stderr || e.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin?.on('error', () => {});
    child.stdin?.end(input ?? '');
  });
}

/**
 * Makes every address of the range local (idempotent). Returns an error text, or undefined.
 *
 * `src` is the preferred source address of the route. Without one, the kernel gives a local
 * client of a VIP the VIP itself as source: every socket to one VIP then shares (VIP, VIP:port),
 * and since neither end is in 127/8, `tcp_tw_reuse=2` never reuses their TIME_WAIT ports, so the
 * ephemeral range runs out after ~28k connections. With `src 127.0.0.1` (or the node's address)
 * local clients look like clients of any other local address.
 */
export async function addLocalRoute(range: VipRange, src?: string): Promise<string | undefined> {
  const args = ['route', 'replace', 'local', range.cidr, 'dev', 'lo', 'table', 'local', ...(src ? ['src', src] : [])];
  const r = await runCmd('ip', args);
  return r.code === 0 ? undefined : `ip ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`;
}

/** The preferred source of the range's local route, '' when it has none, undefined when there is no such route. */
export async function localRouteSource(range: VipRange): Promise<string | undefined> {
  const r = await runCmd('ip', ['-o', 'route', 'show', 'table', 'local', 'exact', range.cidr]);
  if (r.code !== 0) return undefined;
  const line = r.stdout.split('\n').find((l) => l.startsWith('local '));
  if (line === undefined) return undefined;
  return / src (\S+)/.exec(line)?.[1] ?? '';
}

export async function removeLocalRoute(range: VipRange): Promise<void> {
  await runCmd('ip', ['route', 'del', 'local', range.cidr, 'dev', 'lo', 'table', 'local']);
}

/** Whether a range's addresses are local on this machine now (`ip route get` says `local`). */
export async function isLocalAddress(ip: string): Promise<boolean> {
  const r = await runCmd('ip', ['route', 'get', ip]);
  return r.code === 0 && /^local /.test(r.stdout.trim());
}

export interface NftDataPathOptions {
  range: VipRange;
  /** Table name, one per cluster on a machine (e.g. `dcos_vip_<master port>`). */
  table: string;
  spread?: 'inc' | 'random';
  /** Preferred source address of the range's local route (see addLocalRoute); none when undefined. */
  src?: string;
}

export class NftDataPath {
  readonly kind = 'nftables';
  private last = '';

  constructor(readonly opts: NftDataPathOptions) {}

  /** Why nft cannot be used here, or undefined when it can (checks a script without applying it). */
  static async unusable(range: VipRange): Promise<string | undefined> {
    const probe = renderNft([], { table: 'dcos_vip_probe', range, spread: 'inc' });
    const r = await runCmd('nft', ['-c', '-f', '-'], probe);
    if (r.code === 127) return 'the nft command is not installed (apt-get install nftables)';
    if (r.code !== 0) return `nft cannot program the kernel: ${r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`}`;
    return undefined;
  }

  async start(): Promise<void> {
    const e = await addLocalRoute(this.opts.range, this.opts.src);
    if (e) throw new Error(e);
    await this.apply([]);
  }

  /** Replaces the table with one for these VIPs, in one transaction. Unchanged tables are skipped. */
  async apply(vips: readonly Vip[]): Promise<void> {
    const script = renderNft(vips, { table: this.opts.table, range: this.opts.range, spread: this.opts.spread ?? 'inc' });
    if (script === this.last) return;
    await this.allowLocalnet(vips);
    const r = await runCmd('nft', ['-f', '-'], script);
    if (r.code !== 0) throw new Error(`nft -f failed: ${r.stderr.trim()}`);
    this.last = script;
  }

  private readonly localnetDone = new Set<string>();

  /**
   * A local client of a VIP has a source in 127/8 (the range's route src). After the DNAT to a
   * container backend the kernel routes that packet out of the bridge, which it refuses for a
   * loopback source (and the un-NATed reply arriving there for a loopback destination) unless the
   * device has route_localnet; the nft postrouting masquerade then gives it the bridge's address.
   */
  private async allowLocalnet(vips: readonly Vip[]): Promise<void> {
    const ips = new Set(vips.flatMap((v) => v.backends.filter((b) => b.network !== undefined).map((b) => b.ip)));
    for (const ip of ips) {
      const r = await runCmd('ip', ['-o', 'route', 'get', ip]);
      const dev = / dev (\S+)/.exec(r.stdout)?.[1];
      if (!dev || dev === 'lo' || this.localnetDone.has(dev) || !/^[A-Za-z0-9_.-]{1,15}$/.test(dev)) continue;
      try {
        await fs.writeFile(`/proc/sys/net/ipv4/conf/${dev}/route_localnet`, '1');
        this.localnetDone.add(dev);
      } catch {
        // Not root, or the device went: local clients with a 127/8 source cannot reach it then.
      }
    }
  }

  /** Deletes the table. The range's local route stays: it keeps VIP traffic on the machine. */
  async stop(): Promise<void> {
    await runCmd('nft', ['-f', '-'], nftDeleteScript(this.opts.table));
    this.last = '';
  }
}
