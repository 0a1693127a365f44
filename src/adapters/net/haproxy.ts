/**
 * Runs Debian's HAProxy in master-worker mode for the edge load balancer. A new configuration is
 * checked with `haproxy -c` first and only then put in place and loaded with SIGUSR2 to the master,
 * which starts new workers on the same listening sockets (passed over the admin socket) and lets
 * the old workers finish their connections: a bad config never replaces a good one, and a reload
 * drops nothing in flight.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCmd } from './nft.js';

export interface HaproxyOptions {
  dir: string;
  bin?: string;
  log: (level: string, msg: string) => void;
}

export class Haproxy {
  private child: ChildProcess | undefined;
  private output = '';
  private running = '';
  readonly counters = { reloads: 0, rejected: 0, failedLoads: 0 };
  readonly bin: string;

  constructor(readonly opts: HaproxyOptions) {
    this.bin = opts.bin ?? '/usr/sbin/haproxy';
  }

  get configPath(): string {
    return join(this.opts.dir, 'haproxy.cfg');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The configuration HAProxy runs now. */
  get current(): string {
    return this.running;
  }

  /** `haproxy -c`: undefined when valid, else HAProxy's own message. */
  async check(text: string): Promise<string | undefined> {
    const path = join(this.opts.dir, 'haproxy.cfg.check');
    writeFileSync(path, text);
    const r = await runCmd(this.bin, ['-c', '-q', '-f', path]);
    if (r.code === 0) return undefined;
    return (
      (r.stderr || r.stdout)
        .trim()
        .split('\n')
        .filter((l) => /ALERT|error/i.test(l))
        .slice(0, 5)
        .join('; ') || `exit ${r.code}`
    );
  }

  /** Validates, installs and (re)loads. Returns an error text when the config was not taken. */
  async load(text: string): Promise<string | undefined> {
    if (text === this.running && this.child) return undefined;
    const bad = await this.check(text);
    if (bad) {
      this.counters.rejected++;
      return `new HAProxy config rejected (the running one stays): ${bad}`;
    }
    const tmp = `${this.configPath}.new`;
    writeFileSync(tmp, text);
    renameSync(tmp, this.configPath);
    if (!this.child) return this.spawn(text);
    const mark = this.output.length;
    this.child.kill('SIGUSR2');
    const outcome = await this.waitFor(mark, /Loading (success|failure)/, 10_000);
    if (outcome !== 'success') {
      this.counters.failedLoads++;
      return `HAProxy could not load the new config (${outcome}); the old workers keep serving`;
    }
    this.counters.reloads++;
    this.running = text;
    return undefined;
  }

  private async spawn(text: string): Promise<string | undefined> {
    const child = spawn(this.bin, ['-W', '-db', '-f', this.configPath, '-p', join(this.opts.dir, 'haproxy.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const take = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-64_000);
    };
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
    child.on('exit', (code, sig) => {
      if (this.child === child) {
        this.child = undefined;
        this.running = '';
        this.opts.log('error', `haproxy exited (${sig ?? code}): ${this.output.trim().split('\n').slice(-3).join(' | ')}`);
      }
    });
    const outcome = await this.waitFor(0, /Loading (success|failure)|exited with code/, 10_000);
    if (outcome !== 'success') return `HAProxy did not start (${outcome}): ${this.output.trim().split('\n').slice(-3).join(' | ')}`;
    this.running = text;
    return undefined;
  }

  private async waitFor(from: number, re: RegExp, timeoutMs: number): Promise<string> {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      const m = re.exec(this.output.slice(from));
      if (m) return m[1] ?? m[0];
      if (!this.child) return 'process exited';
      await new Promise((r) => setTimeout(r, 10));
    }
    return 'timeout';
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
}
