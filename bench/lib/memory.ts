// Who holds how much memory on behalf of a Kiln instance: its own process and every process it started (the
// process tree plus the sandbox cgroups under its cgroup parent), each classified by what it is, with PSS (shared
// pages split between the processes sharing them) and RSS from /proc/<pid>/smaps_rollup.
import { readdirSync } from 'node:fs';
import { descendants, parentOf, readProc as read } from './proc.js';

export interface ProcessMemory {
  readonly pid: number;
  readonly kind: string;
  /** The environment (sandbox cgroup name) the process belongs to, if any. */
  readonly env?: string;
  readonly pssKiB: number;
  readonly rssKiB: number;
}

/** What runs the function itself; every other process is the platform's. */
export const runtimeKind = 'runtime process';

/** Pids in the sandbox cgroups directly under `parent` (cgroup v1 memory hierarchy, or the v2 unified one). */
/** The environment cgroups under an instance's parent, or undefined where that hierarchy has none. */
function envDirs(dir: string): string[] | undefined {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return undefined;
  }
}

function cgroupMembers(parent: string): Map<number, string> {
  const members = new Map<number, string>();
  for (const root of ['/sys/fs/cgroup/memory', '/sys/fs/cgroup']) {
    const envs = envDirs(`${root}/${parent}`);
    if (envs === undefined) continue;
    for (const env of envs) {
      for (const line of (read(`${root}/${parent}/${env}/cgroup.procs`) ?? '').split('\n')) {
        if (line) members.set(Number(line), env);
      }
    }
    break;
  }
  return members;
}

/** Memory charged to each sandbox cgroup (runtime, helpers, page cache and kernel memory), in KiB. */
export function cgroupUsageKiB(parent: string): Map<string, number> {
  const usage = new Map<string, number>();
  for (const [root, file] of [
    ['/sys/fs/cgroup/memory', 'memory.usage_in_bytes'],
    ['/sys/fs/cgroup', 'memory.current'],
  ] as const) {
    const envs = envDirs(`${root}/${parent}`);
    if (envs === undefined) continue;
    for (const env of envs) {
      const v = read(`${root}/${parent}/${env}/${file}`);
      if (v !== undefined) usage.set(env, Number(v) / 1024);
    }
    break;
  }
  return usage;
}

function smaps(pid: number): { pss: number; rss: number } | undefined {
  const text = read(`/proc/${pid}/smaps_rollup`);
  if (text === undefined) return undefined;
  const field = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { pss: field('Pss'), rss: field('Rss') };
}

const runtimeCommands = /^(node|python3(\.\d+)?|bootstrap)$/;

function kindOf(pid: number, kilnPid: number, env: string | undefined): string {
  if (pid === kilnPid) return 'Kiln (kiln up)';
  const comm = (read(`/proc/${pid}/comm`) ?? '?').trim();
  if (env !== undefined && runtimeCommands.test(comm)) return runtimeKind;
  if (comm === 'bwrap')
    return parentOf(pid) === kilnPid ? 'bwrap (outside the namespaces)' : 'bwrap (pid 1 inside)';
  if (comm === 'socat') return 'socat (Runtime API relay)';
  if (comm === 'perl') return 'perl (code-mount helper)';
  return env === undefined ? `other: ${comm}` : `other in sandbox: ${comm}`;
}

/** Every process of the instance whose main process is `kilnPid`, with its sandboxes under `cgroupParent`. */
export function snapshot(kilnPid: number, cgroupParent: string): ProcessMemory[] {
  const members = cgroupMembers(cgroupParent);
  const pids = new Set([...descendants(kilnPid), ...members.keys()]);
  const out: ProcessMemory[] = [];
  for (const pid of pids) {
    const m = smaps(pid);
    if (m === undefined) continue;
    const env = members.get(pid);
    out.push({
      pid,
      kind: kindOf(pid, kilnPid, env),
      ...(env !== undefined ? { env } : {}),
      pssKiB: m.pss,
      rssKiB: m.rss,
    });
  }
  return out;
}
