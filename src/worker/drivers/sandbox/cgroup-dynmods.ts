// Makes moving a process into a cgroup cheap. Every sandbox start moves its launcher into its new cgroups
// (a write to cgroup.procs); by default that takes the kernel's global cgroup_threadgroup_rwsem for writing,
// which waits for an RCU grace period: 10-20 ms on a 2-core VM, the largest single cost of a cold start from
// nothing. cgroup's `favordynmods` mount option (Linux 6.2+) keeps that lock in its slow-reader mode instead,
// so a migration no longer waits, at the price of slightly dearer forks and exits host-wide. The lock is
// global, so the option on any cgroup hierarchy helps every hierarchy; only cgroup2 lets a remount turn it on.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

export interface CgroupMount {
  readonly mountPoint: string;
  readonly fsType: string;
  /** Per-mount options (rw, nosuid, relatime, …). */
  readonly mountOptions: readonly string[];
  /** Superblock options (for cgroup2: nsdelegate, memory_recursiveprot, favordynmods, …). */
  readonly superOptions: readonly string[];
}

export type DynmodsPlan =
  | { readonly kind: 'on'; readonly mountPoint: string }
  | { readonly kind: 'remount'; readonly mountPoint: string; readonly options: string }
  | { readonly kind: 'unavailable'; readonly why: string };

export type DynmodsOutcome =
  | { readonly kind: 'on' | 'turned-on'; readonly mountPoint: string }
  | { readonly kind: 'off'; readonly why: string };

const option = 'favordynmods';

/** The cgroup and cgroup2 mounts of /proc/self/mountinfo (see proc(5)). */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    const mountPoint = fields[4];
    const mountOptions = fields[5];
    const fsType = fields[dash + 1];
    const superOptions = fields[dash + 3];
    if (dash < 6 || mountPoint === undefined || mountOptions === undefined) continue;
    if (fsType === undefined || superOptions === undefined) continue;
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    mounts.push({
      mountPoint: unescapeOctal(mountPoint),
      fsType,
      mountOptions: mountOptions.split(','),
      superOptions: superOptions.split(','),
    });
  }
  return mounts;
}

/** Nothing to do when some hierarchy already has the option; else remount a cgroup2 mount keeping its options. */
export function planDynmods(mounts: readonly CgroupMount[]): DynmodsPlan {
  const on = mounts.find((m) => m.superOptions.includes(option) || m.mountOptions.includes(option));
  if (on !== undefined) return { kind: 'on', mountPoint: on.mountPoint };
  const v2 = mounts.find((m) => m.fsType === 'cgroup2');
  if (v2 === undefined) {
    return {
      kind: 'unavailable',
      why:
        'no cgroup2 mount to remount, and a cgroup v1 hierarchy takes favordynmods only when it is first ' +
        'mounted (mount -t cgroup -o <controller>,favordynmods)',
    };
  }
  // A remount replaces the superblock's options, so the ones it has now are repeated (nsdelegate, …), except
  // what the kernel shows but no mount accepts (SELinux's seclabel).
  const kept = v2.superOptions.filter((o) => o !== 'seclabel');
  const options = [...new Set(['remount', ...v2.mountOptions, ...kept, option])];
  return { kind: 'remount', mountPoint: v2.mountPoint, options: options.join(',') };
}

export type RunMount = (args: readonly string[]) => Promise<void>;

const runMount: RunMount = async (args) => {
  await promisify(execFile)('/usr/bin/mount', args, { env: {}, timeout: 10_000 });
};

/** Turns favordynmods on where possible; never throws: without it sandboxes start, only slower. */
export async function favorDynamicMigrations(
  mountinfoPath = '/proc/self/mountinfo',
  mount: RunMount = runMount,
): Promise<DynmodsOutcome> {
  let plan: DynmodsPlan;
  try {
    plan = planDynmods(parseCgroupMounts(await readFile(mountinfoPath, 'utf8')));
  } catch (err) {
    return { kind: 'off', why: `cannot read ${mountinfoPath}: ${(err as Error).message}` };
  }
  if (plan.kind !== 'remount') return plan.kind === 'on' ? plan : { kind: 'off', why: plan.why };
  try {
    await mount(['-o', plan.options, plan.mountPoint]);
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    return {
      kind: 'off',
      why: `mount -o ${plan.options} ${plan.mountPoint} failed (Linux 6.2+ knows ${option}): ${stderr || (err as Error).message}`,
    };
  }
  return { kind: 'turned-on', mountPoint: plan.mountPoint };
}

function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}
