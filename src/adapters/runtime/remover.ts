import { rmSync } from 'node:fs';
import { parentPort, Worker, workerData } from 'node:worker_threads';

/**
 * Removes directory trees on a thread of its own, one after another, with blocking calls.
 *
 * A container's cleanup removes a dozen small files and directories (its runtime state, bundle
 * and overlay dirs). Each unlink or rmdir is a metadata change on the agent's file system, and on
 * ext4 such a change waits whenever a journal commit is being closed; with the agent's own fsyncs
 * (checkpoints, status updates) committing hundreds of times a second at concurrency 8, these
 * calls blocked the event loop about 4 ms per container (40 % of it), which then launched nothing.
 * Through libuv's pool (fs.rm) each entry is a round trip of its own and they queued with the
 * checkpoints' fsyncs (more CPU, slower). Here one message goes out and one comes back per call.
 */
export async function removeTrees(paths: readonly string[]): Promise<void> {
  if (paths.length === 0) return;
  await RemoverThread.shared().run([...paths]);
}

interface Job {
  id: number;
  paths: string[];
}
interface Reply {
  id: number;
  error?: string;
}

class RemoverThread {
  private static instance: RemoverThread | undefined;
  static shared(): RemoverThread {
    RemoverThread.instance ??= new RemoverThread();
    return RemoverThread.instance;
  }

  private worker: Worker | undefined;
  private seq = 0;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  run(paths: string[]): Promise<void> {
    const id = ++this.seq;
    const w = this.thread();
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Held open only while something waits on it (an awaited cleanup must finish first).
      if (this.pending.size === 1) w.ref();
      w.postMessage({ id, paths } satisfies Job);
    });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    // No execArgv: the agent's own node flags are not all allowed in a worker.
    const w = new Worker(new URL(import.meta.url), { workerData: { dcosRemover: true }, execArgv: [] });
    w.unref();
    w.on('message', (r: Reply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (this.pending.size === 0) w.unref();
      if (r.error) p.reject(new Error(r.error));
      else p.resolve();
    });
    const lost = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = undefined;
      const failed = [...this.pending.values()];
      this.pending.clear();
      for (const p of failed) p.reject(new Error(`the remover thread ${why}`));
    };
    w.on('error', (e) => lost(`failed: ${e.message}`));
    w.on('exit', (code) => lost(`exited with code ${code}`));
    this.worker = w;
    return w;
  }
}

// On the remover thread: take jobs in order, answer each.
if (parentPort && (workerData as { dcosRemover?: boolean } | null)?.dcosRemover === true) {
  const port = parentPort;
  port.on('message', (job: Job) => {
    const reply: Reply = { id: job.id };
    const errors: string[] = [];
    for (const p of job.paths) {
      try {
        rmSync(p, { recursive: true, force: true, maxRetries: 2 });
      } catch (e) {
        errors.push(`${p}: ${(e as Error).message}`);
      }
    }
    if (errors.length > 0) reply.error = `cannot remove ${errors.join('; ')}`;
    port.postMessage(reply);
  });
}
