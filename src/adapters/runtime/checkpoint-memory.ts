import type { Checkpointer } from '../../ports/runtime.js';

/**
 * A Checkpointer in memory, for tests and the simulator. It behaves like the file system one
 * (directories are implied by file paths) and can outlive an Agent to model a restart.
 */
export class MemoryCheckpointer implements Checkpointer {
  readonly files = new Map<string, string>();

  async read(path: string): Promise<string | undefined> {
    return this.files.get(path);
  }

  async write(path: string, data: string): Promise<void> {
    this.files.set(path, data);
  }

  async append(path: string, data: string, _options?: { sync?: boolean }): Promise<void> {
    this.files.set(path, (this.files.get(path) ?? '') + data);
  }

  async list(dir: string): Promise<string[]> {
    const prefix = dir.endsWith('/') ? dir : `${dir}/`;
    const names = new Set<string>();
    for (const p of this.files.keys()) {
      if (!p.startsWith(prefix)) continue;
      const name = p.slice(prefix.length).split('/')[0];
      if (name) names.add(name);
    }
    return [...names].sort();
  }

  async remove(path: string): Promise<void> {
    const prefix = `${path}/`;
    for (const p of [...this.files.keys()]) if (p === path || p.startsWith(prefix)) this.files.delete(p);
  }
}
