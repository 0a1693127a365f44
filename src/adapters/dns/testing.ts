import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface DigResult {
  status: string;
  flags: string[];
  answers: { name: string; ttl: number; type: string; data: string }[];
  raw: string;
}

/** Runs Debian's dig against 127.0.0.1:port and parses status, flags and the answer section. */
export async function dig(port: number, name: string, type = 'A', extra: string[] = []): Promise<DigResult> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), name, type, '+time=2', '+tries=1', ...extra]);
  const status = /status: (\w+)/.exec(stdout)?.[1] ?? 'NONE';
  const flags = (/;; flags: ([^;]*);/.exec(stdout)?.[1] ?? '').trim().split(/\s+/);
  const sec = /;; ANSWER SECTION:\n([\s\S]*?)(\n\n|$)/.exec(stdout)?.[1] ?? '';
  const answers = sec
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [n, ttl, , t, ...data] = l.split(/\s+/);
      return { name: n ?? '', ttl: Number(ttl), type: t ?? '', data: data.join(' ') };
    });
  return { status, flags, answers, raw: stdout };
}
