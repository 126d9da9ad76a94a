// What a Kiln instance runs on the host: its sandbox cgroups and the processes in them.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The instance's sandbox cgroups (under the pids controller on v1, in the unified tree on v2). */
export function sandboxCgroups(parent: string): { root: string; names: string[] } {
  const roots = ['/sys/fs/cgroup/pids', '/sys/fs/cgroup'].map((r) => join(r, parent));
  const root = roots.find((r) => existsSync(r));
  if (!root) return { root: '', names: [] };
  const names = readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
  return { root, names };
}

/** Host pids of every process in the instance's sandboxes. */
export function sandboxPids(parent: string): number[] {
  const { root, names } = sandboxCgroups(parent);
  return names.flatMap((name) => {
    try {
      return readFileSync(join(root, name, 'cgroup.procs'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map(Number);
    } catch {
      return [];
    }
  });
}
