/**
 * Helpers for end-to-end tests that drive a local cluster from outside: the real `dcos` CLI,
 * curl as an HTTP client, and finding files in the agents' sandboxes.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './http.js';
import { REPO_ROOT } from './proc.js';

const run = promisify(execFile);
const DCOS = resolve(REPO_ROOT, 'dist/src/main/dcos.js');

/** Runs `dcos <args>` (the built CLI) with `env` added; its exit code and output, never throws. */
export async function dcos(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [DCOS, ...args], { env: { ...process.env, ...env }, timeout: timeoutMs });
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: x.code ?? 1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

/** curl as the client (3 s limit); `ns` runs it inside a network namespace. Returns the body or "ERR <code>". */
export async function curl(url: string, ns?: string): Promise<string> {
  const args = ['-s', '-m', '3', url];
  try {
    const r = ns ? await run('ip', ['netns', 'exec', ns, 'curl', ...args]) : await run('curl', args);
    return r.stdout.trim();
  } catch (e) {
    return `ERR ${(e as { code?: number }).code}`;
  }
}

/** Every file named `name` under dir, at most 12 levels down (sandboxes: the stdout of each task run). */
export function findFiles(dir: string, name: string, out: string[] = [], depth = 0): string[] {
  if (depth > 12 || !existsSync(dir)) return out;
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) findFiles(p, name, out, depth + 1);
    else if (e === name) out.push(p);
  }
  return out;
}

/** Waits (checking every 300 ms) for a task stdout under `dir` that holds every one of `marks`; returns its text. */
export function waitForTaskOutput(what: string, dir: string, marks: string[], timeoutMs: number): Promise<string> {
  return waitFor(
    what,
    () => {
      for (const f of findFiles(dir, 'stdout')) {
        const text = readFileSync(f, 'utf8');
        if (marks.every((m) => text.includes(m))) return text;
      }
      return undefined;
    },
    timeoutMs,
    300,
  );
}
