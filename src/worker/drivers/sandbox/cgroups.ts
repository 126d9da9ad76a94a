// Picks the cgroup implementation of this host: v2 (one unified tree) or v1 (a directory per controller).
// Both sit behind `CgroupHierarchy`, so limits, freezing, OOM detection and killing read the same to the driver.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { signalProcess, type CgroupHierarchy, type KillFn } from './cgroup-fs.js';
import { CgroupV1 } from './cgroup-v1.js';
import { CgroupV2 } from './cgroup-v2.js';

export type { CgroupHierarchy, CgroupLimits, CpuLimit, EnvCgroup, KillFn } from './cgroup-fs.js';
export { assertCgroupName, cpuQuotaFor, signalProcess } from './cgroup-fs.js';
export { CgroupV1 } from './cgroup-v1.js';
export { CgroupV2 } from './cgroup-v2.js';

export interface CgroupOptions {
  /** cgroup v2 mount (or delegated subtree), or the directory holding the v1 controller mounts. */
  readonly root?: string;
  /** Name of the parent cgroup that holds every environment of this driver. */
  readonly parent: string;
  readonly kill?: KillFn;
}

export const defaultCgroupRoot = '/sys/fs/cgroup';

/** Picks v2 when `root` is a unified hierarchy (has cgroup.controllers), else v1 controller directories. */
export function detectCgroups(options: CgroupOptions): CgroupHierarchy {
  const root = options.root ?? defaultCgroupRoot;
  const kill = options.kill ?? signalProcess;
  if (existsSync(path.join(root, 'cgroup.controllers'))) return new CgroupV2(root, options.parent, kill);
  if (existsSync(path.join(root, 'memory'))) return new CgroupV1(root, options.parent, kill);
  throw new Error(
    `no cgroup hierarchy at ${root}: expected cgroup v2 (${root}/cgroup.controllers) or cgroup v1 controller ` +
      `directories (${root}/memory, pids, cpu, freezer); mount cgroups or pass the driver's cgroupRoot option`,
  );
}
