// What the platform holds, read from outside (/proc and the cgroup tree) so that reading it costs Kiln
// nothing: its resident memory and open descriptors, its process tree, and its sandboxes' cgroups.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcessEntry {
  readonly pid: number;
  readonly ppid: number;
  /** Clock ticks since boot when it started: with the pid, identifies a process across pid reuse. */
  readonly start: string;
}

const readOr = (file: string, fallback: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback; // the process or cgroup went away between listing and reading
  }
};

/** Every process on the host, from /proc/<pid>/stat. */
export function processTable(): Map<number, ProcessEntry> {
  const table = new Map<number, ProcessEntry>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readOr(`/proc/${name}/stat`, '');
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    const start = fields[19];
    if (stat === '' || !Number.isInteger(ppid) || start === undefined) continue;
    table.set(Number(name), { pid: Number(name), ppid, start });
  }
  return table;
}

/** `root` and everything below it. */
export function processTree(root: number, table = processTable()): ProcessEntry[] {
  const children = new Map<number, ProcessEntry[]>();
  for (const p of table.values()) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const self = table.get(root);
  const out: ProcessEntry[] = self ? [self] : [];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]?.pid ?? -1) ?? []));
  return out;
}

/** The cgroup hierarchy that counts processes: v1's pids controller, or the v2 unified tree. */
export const cgroupRoots = (): string[] =>
  existsSync('/sys/fs/cgroup/pids')
    ? readdirSync('/sys/fs/cgroup')
        .map((c) => join('/sys/fs/cgroup', c))
        .filter((d) => existsSync(join(d, 'cgroup.procs')))
    : ['/sys/fs/cgroup'];

const pidsRoot = (): string => (existsSync('/sys/fs/cgroup/pids') ? '/sys/fs/cgroup/pids' : '/sys/fs/cgroup');

/** The ids of the sandboxes' cgroups under the instance's parent. */
export function sandboxCgroupNames(parent: string): string[] {
  const dir = join(pidsRoot(), parent);
  return existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
    : [];
}

/** A sandbox cgroup's freezer state (v1), or `-` where there is none. */
export const freezerState = (parent: string, id: string): string =>
  readOr(join('/sys/fs/cgroup/freezer', parent, id, 'freezer.state'), '-').trim();

/** The sandboxes' cgroups under the instance's parent, and the processes in them. */
export function sandboxCgroups(parent: string): { cgroups: number; pids: Set<number> } {
  const names = sandboxCgroupNames(parent);
  const pids = new Set<number>();
  for (const name of names) {
    for (const line of readOr(join(pidsRoot(), parent, name, 'cgroup.procs'), '').split('\n')) {
      if (line !== '') pids.add(Number(line));
    }
  }
  return { cgroups: names.length, pids };
}

export interface Footprint {
  readonly rssMb: number;
  readonly fds: number;
  /** Kiln and everything it started. */
  readonly processes: number;
  /** Of those, the ones outside any sandbox: Kiln itself and its helpers. */
  readonly platformProcesses: number;
  readonly sandboxCgroups: number;
  readonly sandboxProcesses: number;
}

export function footprint(pid: number, cgroupParent: string): Footprint {
  const rssKb = /VmRSS:\s+(\d+) kB/.exec(readOr(`/proc/${pid}/status`, ''))?.[1];
  const tree = processTree(pid);
  const sandboxes = sandboxCgroups(cgroupParent);
  return {
    rssMb: Number(rssKb ?? NaN) / 1024,
    fds: readdirSync(`/proc/${pid}/fd`).length,
    processes: tree.length,
    platformProcesses: tree.filter((p) => !sandboxes.pids.has(p.pid)).length,
    sandboxCgroups: sandboxes.cgroups,
    sandboxProcesses: sandboxes.pids.size,
  };
}
