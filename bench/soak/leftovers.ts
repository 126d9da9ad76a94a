// What an instance may leave behind once it has exited: its processes (or any running as its sandbox
// uids), cgroups under its parent, mounts under its data dir, and per-environment state dirs.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupRoots, processTable, type ProcessEntry } from './resources.js';

export interface Instance {
  /** Kiln's process tree as last seen before it was stopped. */
  readonly tree: readonly ProcessEntry[];
  readonly uidBase: number;
  readonly uidCount: number;
  readonly cgroupParent: string;
  readonly dataDir: string;
}

export interface Leftovers {
  readonly processes: string[];
  readonly cgroups: string[];
  readonly mounts: string[];
  readonly dirs: string[];
}

const read = (file: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

/** Pid, command name, state (Z: a zombie) and uid, then the command line (empty once it is exiting). */
function describe(pid: number): string {
  const status = read(`/proc/${pid}/status`);
  const field = (name: string): string => new RegExp(`${name}:\\s+(\\S+)`).exec(status)?.[1] ?? '?';
  const cmdline = read(`/proc/${pid}/cmdline`).replaceAll('\0', ' ').slice(0, 160);
  return `${pid} ${field('Name')} state ${field('State')} uid ${field('Uid')}: ${cmdline}`;
}

function processes(i: Instance): string[] {
  const now = processTable();
  const found = new Set<number>();
  for (const p of i.tree) if (now.get(p.pid)?.start === p.start) found.add(p.pid);
  for (const pid of now.keys()) {
    const uid = Number(/Uid:\s+(\d+)/.exec(read(`/proc/${pid}/status`))?.[1]);
    if (uid >= i.uidBase && uid < i.uidBase + i.uidCount) found.add(pid);
    else if (read(`/proc/${pid}/cmdline`).includes(i.dataDir)) found.add(pid);
  }
  found.delete(process.pid);
  return [...found].map(describe);
}

function cgroups(parent: string): string[] {
  return cgroupRoots().flatMap((root) => {
    const dir = join(root, parent);
    if (!existsSync(dir)) return [];
    const children = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory());
    return [dir, ...children.map((c) => join(dir, c.name))];
  });
}

function mounts(dataDir: string): string[] {
  return read('/proc/self/mountinfo')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point === dataDir || point.startsWith(`${dataDir}/`));
}

function dirs(dataDir: string): string[] {
  return ['environments', 'sandboxes/slots', 'sandboxes/scratch'].flatMap((sub) => {
    const dir = join(dataDir, sub);
    return existsSync(dir) ? readdirSync(dir).map((name) => join(dir, name)) : [];
  });
}

export function leftovers(i: Instance): Leftovers {
  return {
    processes: processes(i),
    cgroups: cgroups(i.cgroupParent),
    mounts: mounts(i.dataDir),
    dirs: dirs(i.dataDir),
  };
}

const count = (l: Leftovers): number =>
  l.processes.length + l.cgroups.length + l.mounts.length + l.dirs.length;

/**
 * Leftovers once they had `graceMs` to go: Kiln's exit closes its helpers' pipes, and they may still be
 * exiting when it is reaped. Returns what was seen at once too, so a slow exit is reported, not hidden.
 */
export async function leftoversAfter(
  i: Instance,
  graceMs: number,
): Promise<{ atExit: Leftovers; after: Leftovers; graceMs: number }> {
  const atExit = leftovers(i);
  const deadline = Date.now() + graceMs;
  let after = atExit;
  while (count(after) > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    after = leftovers(i);
  }
  return { atExit, after, graceMs };
}
