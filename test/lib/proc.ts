/** Runs the master as a real child process (`dcos master`), for crash and restart tests. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/...). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface MasterProcess {
  proc: ChildProcess;
  port: number;
  base: string;
  ready: Record<string, unknown>;
  /** Everything the process wrote to stderr so far (for failure messages). */
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL unless already exited; resolves when it is gone. */
  kill(): Promise<void>;
}

/** The command line for `dcos master`; falls back to calling runMaster directly if dcos.js is not built. */
function masterCommand(args: string[]): string[] {
  const dcos = resolve(REPO_ROOT, 'dist/src/main/dcos.js');
  if (existsSync(dcos)) return [dcos, 'master', ...args];
  const master = resolve(REPO_ROOT, 'dist/src/main/master.js');
  return ['-e', `import(${JSON.stringify(master)}).then((m) => m.runMaster(process.argv.slice(1)))`, '--', ...args];
}

export function spawnMaster(workDir: string, extraArgs: string[] = [], timeoutMs = 15_000): Promise<MasterProcess> {
  const args = masterCommand(['--port=0', `--work_dir=${workDir}`, ...extraArgs]);
  const proc = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  proc.stderr?.on('data', (c: Buffer) => {
    err += c.toString('utf8');
    if (err.length > 200_000) err = err.slice(-100_000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`master did not print ready within ${timeoutMs} ms; stdout=${out} stderr=${err.slice(-2000)}`));
    }, timeoutMs);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`master exited before ready (code ${code}, signal ${signal}); stdout=${out} stderr=${err.slice(-2000)}`));
    });
    proc.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      for (const line of out.split('\n')) {
        if (!line.trim().startsWith('{')) continue;
        let ready: Record<string, unknown>;
        try {
          ready = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (ready.event !== 'ready') continue;
        clearTimeout(timer);
        const port = Number(ready.port);
        resolveReady({
          proc,
          port,
          base: `http://127.0.0.1:${port}`,
          ready,
          stderr: () => err,
          exited,
          async kill() {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
            await exited;
          },
        });
        return;
      }
    });
  });
}

export interface AgentProcess {
  proc: ChildProcess;
  agentId: string;
  /** The agent's HTTP port, from its registration line. */
  port: number;
  /** The last 50 kB the process wrote to stderr (for failure messages). */
  stderr: () => string;
  exited: Promise<void>;
}

/** `dcos agent` as a child process; resolves once it printed its registration (within 20 s). */
export function spawnAgent(args: string[]): Promise<AgentProcess> {
  const proc = spawn(process.execPath, [resolve(REPO_ROOT, 'dist/src/main/dcos.js'), 'agent', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  proc.stderr?.on('data', (c: Buffer) => {
    err = (err + c.toString('utf8')).slice(-50_000);
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return new Promise((res, rej) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      rej(new Error(`the agent did not register within 20 s: ${err.slice(-2000)}`));
    }, 20_000);
    void exited.then(() => {
      clearTimeout(timer);
      rej(new Error(`the agent exited before registering: ${err.slice(-2000)}`));
    });
    proc.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        const e = JSON.parse(line) as { event?: string; agent_id?: string; port?: number };
        if (e.event !== 'registered') continue;
        clearTimeout(timer);
        res({ proc, agentId: e.agent_id as string, port: e.port as number, stderr: () => err, exited });
        return;
      }
    });
  });
}
