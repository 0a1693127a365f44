import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/**
 * One long-lived shell that starts the task supervisors for the process runtime, so that the
 * agent does not fork itself per container: Node's spawn() forks the whole agent (its cost grows
 * with the agent's memory, about 2-3 ms of the event loop per launch measured in bench:launch),
 * while the launcher is a small shell whose fork is cheap.
 *
 * Protocol, one line each way per event:
 *   agent → launcher   `<id> <command>`   the launcher evals <command> in a background subshell
 *                                         (export the task's environment, set the supervisor's
 *                                         arguments, run the supervisor script in that same
 *                                         subshell: no exec of a new shell) and answers
 *                                         `<id> spawned <pid>`; <command> is usually
 *                                         `. '<file>'`, the command written to a file, since the
 *                                         launcher's `read` takes a byte per system call;
 *   supervisor → agent `<id> pid <pid>` and later `<id> exit <status>`, on the launcher's stdout,
 *                      a pipe every supervisor inherits and keeps open itself.
 * If the launcher dies, the supervisors it started run on, still waiting on their tasks and still
 * writing their exit statuses to their files and to that pipe; the next launch starts a new
 * launcher. Supervisors that die without a word are found by the process runtime's liveness
 * sweep. A command with a newline, or an environment name that is not a shell name, cannot be
 * carried on one line: canCarry() says so and the runtime spawns that supervisor directly.
 */

/**
 * The supervisor script and other long scripts of the runtime are the launcher's arguments, kept
 * in the variables __s1 (the supervisor), __s2, ...: a command refers to them as "$__s2" (one copy
 * in the launcher, not one per command). Each process start costs about 0.8 ms of CPU on this
 * kind of VM (the C library's start-up runs `cpuid`, a trap to the hypervisor, some twenty
 * times), so the supervisor is the launcher's forked subshell itself rather than a new shell.
 */
const LAUNCHER_SCRIPT = [
  '__k=0; for __a; do __k=$((__k + 1)); eval "__s$__k=\\$__a"; done; set --',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions, not a template
  'while IFS= read -r __l; do __i="${__l%% *}"; eval "${__l#* }" & echo "$__i spawned $!"; done',
].join('; ');

/** What one line from a supervisor or the launcher says about a container. */
export type LauncherEvent = { kind: 'spawned' | 'pid'; pid: number } | { kind: 'exit'; text: string };

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** Bound on a partial line kept between reads (lines are short: an id, a word, a number). */
const MAX_LINE = 4096;

export class Launcher {
  private child: ChildProcess | undefined;
  private readonly routes = new Map<string, (e: LauncherEvent) => void>();
  /** Pipes still open (a dead launcher's stays while its supervisors live). */
  private readonly pipes = new Set<{ ref?: () => void; unref?: () => void }>();
  private unrefd = false;
  private retired = false;
  /** Launchers started so far (for tests and logs). */
  starts = 0;

  constructor(
    /** The shell argv (e.g. ['/bin/busybox', 'sh']), the supervisor script ($1) and others ($2, ...). */
    private readonly shell: readonly string[],
    private readonly scripts: readonly string[],
    private readonly log?: (level: 'info' | 'warn' | 'error', message: string) => void,
    /** Run once by the launcher before its loop (e.g. dropping a mount in its own namespace). */
    private readonly prelude = '',
  ) {}

  /** Whether this launch can go through the launcher (everything fits one shell line). */
  static canCarry(id: string, sandboxDir: string, env: Record<string, string>, args: readonly string[]): boolean {
    if (!ID.test(id) || sandboxDir.includes('\n')) return false;
    for (const [k, v] of Object.entries(env)) if (!ENV_NAME.test(k) || v.includes('\n')) return false;
    return args.every((a) => !a.includes('\n'));
  }

  /**
   * Starts a supervisor: the environment exported, the supervisor's arguments set, then the
   * supervisor script run by the launcher's subshell (it changes to the sandbox itself). With
   * `commandFile` the command is written there and the line only sources it (one read of a
   * file instead of a system call per byte). Events about `id` go to onEvent until forget(id).
   */
  start(id: string, sandboxDir: string, env: Record<string, string>, args: readonly string[], onEvent: (e: LauncherEvent) => void, commandFile?: string): void {
    if (!Launcher.canCarry(id, sandboxDir, env, args)) throw new Error(`launch of ${id} cannot go through the launcher`);
    const child = this.ensure();
    this.routes.set(id, onEvent);
    this.holdLoop();
    const exports = Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`);
    const word = (a: string): string => {
      const k = this.scripts.indexOf(a);
      return k >= 0 ? `"$__s${k + 1}"` : quote(a);
    };
    const cmd = [
      // (`export` with no names would print every exported variable on the shared pipe.)
      ...(exports.length > 0 ? [`export ${exports.join(' ')};`] : []),
      `set -- ${args.map(word).join(' ')}; eval "$__s1"`,
    ].join(' ');
    let line = `${id} ${cmd}`;
    if (commandFile && !commandFile.includes("'") && !commandFile.includes('\n')) {
      try {
        // Synchronous: a few hundred bytes to a file in the container's fresh state dir.
        writeFileSync(commandFile, `${cmd}\n`, { mode: 0o600 });
        line = `${id} . '${commandFile}'`;
      } catch {
        // carried on the line instead
      }
    }
    child.stdin?.write(`${line}\n`);
  }

  /** Stops routing events of a container (its supervisor ended, or it was given up). */
  forget(id: string): void {
    this.routes.delete(id);
    this.holdLoop();
  }

  /** The launcher's pid (tests), or undefined when none runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Lets the agent exit while supervisors run (an agent restart); running ones keep reporting. */
  unref(): void {
    this.unrefd = true;
    this.holdLoop();
  }

  /**
   * The launcher and its pipes keep the process alive only while a container of it is starting or
   * running (a waiting caller must not see its process exit), never after unref().
   */
  private holdLoop(): void {
    const hold = !this.unrefd && this.routes.size > 0;
    const child = this.child;
    if (child) {
      if (hold) child.ref();
      else child.unref();
      const stdin = child.stdin as { ref?: () => void; unref?: () => void } | null;
      if (hold) stdin?.ref?.();
      else stdin?.unref?.();
    }
    for (const p of this.pipes) {
      if (hold) p.ref?.();
      else p.unref?.();
    }
  }

  /**
   * Lets the launcher end (its stdin closes once the lines written so far are read): no more
   * launches through it, while the supervisors it started keep reporting through it.
   */
  retire(): void {
    this.retired = true;
    this.child?.stdin?.end();
  }

  /** Whether no container of this launcher is starting or running any more. */
  get idle(): boolean {
    return this.routes.size === 0;
  }

  /** Ends the launcher (its stdin closes; the supervisors it started are not touched). */
  close(): void {
    this.unref();
    this.child?.stdin?.end();
  }

  private ensure(): ChildProcess {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null && this.child.stdin?.writable) return this.child;
    const [bin, ...pre] = this.shell as [string, ...string[]];
    // Its own session (a terminal's signals to the agent do not reach it or the supervisors), an
    // empty environment (each task's comes on its line), stderr ignored.
    const script = this.prelude ? `${this.prelude}; ${LAUNCHER_SCRIPT}` : LAUNCHER_SCRIPT;
    const child = spawn(bin, [...pre, '-c', script, 'dcos-launcher', ...this.scripts], {
      detached: true,
      env: {},
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    this.starts++;
    this.child = child;
    child.stdin?.on('error', (e) => this.log?.('warn', `task launcher: ${e.message}`));
    child.once('error', (e) => this.log?.('error', `task launcher: ${e.message}`));
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (!this.retired) this.log?.('warn', `task launcher ${child.pid} exited (${signal ?? `status ${code}`}); the next launch starts another`);
    });
    const pipe = child.stdout as unknown as { ref?: () => void; unref?: () => void };
    if (child.stdout) {
      this.pipes.add(pipe);
      child.stdout.once('close', () => this.pipes.delete(pipe));
    }
    child.stdout?.setEncoding('utf8');
    // Supervisors keep this pipe after the launcher is gone: their lines are read to the end
    // (each pipe with its own partial line).
    let buf = '';
    child.stdout?.on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        this.route(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      if (buf.length > MAX_LINE) buf = '';
    });
    this.holdLoop();
    return child;
  }

  private route(line: string): void {
    const [id = '', kind, value = ''] = line.trim().split(' ');
    const to = this.routes.get(id);
    if (!to) return;
    if (kind === 'exit') to({ kind, text: `${value}\n` });
    else if (kind === 'spawned' || kind === 'pid') {
      const pid = Number(value);
      if (Number.isInteger(pid) && pid > 1) to({ kind, pid });
    }
  }
}

/** One shell word: single quotes, each ' as '\'' . */
function quote(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}
