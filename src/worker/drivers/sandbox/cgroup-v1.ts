// cgroup v1: one directory tree per controller (memory, pids, cpu, freezer, and cpuacct when it is mounted
// apart from cpu). An environment gets `<controller mount>/<parent>/<id>` in each of them.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import {
  assertCgroupName,
  keyedValue,
  killByProcs,
  parsePids,
  pollUntil,
  readOptional,
  removeDirs,
  writeControl,
  writeControlSync,
  type CgroupHierarchy,
  type CgroupLimits,
  type CpuLimit,
  type EnvCgroup,
  type KillFn,
  ValueFile,
} from './cgroup-fs.js';

/** Each required controller, and a file that only that controller's child cgroups have. */
const required = {
  memory: 'memory.limit_in_bytes',
  pids: 'pids.max',
  cpu: 'cpu.cfs_quota_us',
  freezer: 'freezer.state',
} as const;
type Controller = keyof typeof required | 'cpuacct';

/** Freezing is only a guard against forks while killing; a stuck freezer must not block the kill. */
const freezeForKillMs = 500;

export class CgroupV1 implements CgroupHierarchy {
  readonly version = 1;
  readonly location: string;
  private readonly dirs: ReadonlyMap<Controller, string>;
  private prepared: Promise<void> | undefined;

  constructor(
    private readonly root: string,
    private readonly parent: string,
    private readonly kill: KillFn,
  ) {
    assertCgroupName(parent);
    this.location = `${root}/{memory,pids,cpu,freezer}/${parent}`;
    this.dirs = controllerDirs(root);
  }

  prepare(): Promise<void> {
    this.prepared ??= this.doPrepare();
    // A failed check may be fixed by the operator; let the next call try again.
    this.prepared.catch(() => (this.prepared = undefined));
    return this.prepared;
  }

  async create(id: string, limits: CgroupLimits): Promise<EnvCgroup> {
    assertCgroupName(id);
    await this.prepare();
    const dirs = this.envDirs(id);
    const made: string[] = [];
    try {
      // Concurrently: each step is a thread-pool round trip, and they sit on the cold-start path.
      const mkdirs = await Promise.allSettled(
        [...new Set(dirs.values())].map(async (dir) => {
          await mkdir(dir);
          made.push(dir);
        }),
      );
      for (const r of mkdirs) if (r.status === 'rejected') throw r.reason;
      const mem = dirs.get('memory') as string;
      const memory = async (): Promise<void> => {
        await writeControl(
          path.join(mem, 'memory.limit_in_bytes'),
          String(limits.memoryBytes),
          `cgroup ${id}: memory limit`,
        );
        // The parent has the memsw files exactly when swap accounting is on, like every memory cgroup.
        if (existsSync(path.join(path.dirname(mem), 'memory.memsw.limit_in_bytes'))) {
          // memory+swap equal to memory (and set after it, never below it): the sandbox never swaps, it is
          // OOM-killed at its limit like Lambda.
          await writeControl(
            path.join(mem, 'memory.memsw.limit_in_bytes'),
            String(limits.memoryBytes),
            `cgroup ${id}: swap limit`,
          );
        } else {
          await writeControl(path.join(mem, 'memory.swappiness'), '0', `cgroup ${id}: swappiness`);
        }
      };
      const pids = dirs.get('pids') as string;
      await Promise.all([
        memory(),
        writeControl(path.join(pids, 'pids.max'), String(limits.pidsMax), `cgroup ${id}: pids limit`),
      ]);
    } catch (err) {
      await removeDirs(made, 1000, `cgroup ${id}: undo`).catch(() => undefined);
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new Error(`cgroup ${id}: already exists under ${this.location}`, { cause: err });
      }
      throw err;
    }
    return this.open(id, dirs);
  }

  async list(): Promise<string[]> {
    const ids = new Set<string>();
    for (const dir of new Set(this.dirs.values())) {
      const entries = await readdir(path.join(dir, this.parent), { withFileTypes: true }).catch(() => []);
      for (const e of entries) if (e.isDirectory()) ids.add(e.name);
    }
    return [...ids].sort();
  }

  open(id: string, dirs?: ReadonlyMap<Controller, string>): EnvCgroup {
    assertCgroupName(id);
    return new V1EnvCgroup(id, dirs ?? this.envDirs(id), this.kill);
  }

  private async doPrepare(): Promise<void> {
    for (const controller of Object.keys(required) as (keyof typeof required)[]) {
      if (!existsSync(path.join(this.root, controller))) {
        throw new Error(
          `cgroup v1: the ${controller} controller is not mounted at ${this.root}/${controller}: ` +
            `mount it (mount -t cgroup -o ${controller} cgroup ${this.root}/${controller}) or boot with cgroup v2`,
        );
      }
    }
    for (const [controller, dir] of this.dirs) {
      const mine = path.join(dir, this.parent);
      try {
        await mkdir(mine, { recursive: true });
      } catch (err) {
        throw new Error(
          `cgroup v1: cannot create ${mine} (${(err as Error).message}): Kiln must run as root`,
          {
            cause: err,
          },
        );
      }
      const marker = controller === 'cpuacct' ? 'cpuacct.usage' : required[controller];
      if (!existsSync(path.join(mine, marker))) {
        throw new Error(
          `cgroup v1: ${dir} is not a ${controller} controller hierarchy (no ${marker} in ${mine})`,
        );
      }
    }
  }

  private envDirs(id: string): Map<Controller, string> {
    const dirs = new Map<Controller, string>();
    for (const [c, dir] of this.dirs) dirs.set(c, path.join(dir, this.parent, id));
    return dirs;
  }
}

/** Controller → its mount; cpuacct only when it is not co-mounted with cpu (as `cpu,cpuacct`). */
function controllerDirs(root: string): Map<Controller, string> {
  const resolve = (c: string): string | undefined => {
    try {
      return realpathSync(path.join(root, c));
    } catch {
      return undefined;
    }
  };
  const dirs = new Map<Controller, string>();
  for (const c of Object.keys(required) as (keyof typeof required)[])
    dirs.set(c, resolve(c) ?? path.join(root, c));
  const acct = resolve('cpuacct');
  if (acct !== undefined && ![...dirs.values()].includes(acct)) dirs.set('cpuacct', acct);
  return dirs;
}

class V1EnvCgroup implements EnvCgroup {
  readonly procsFiles: readonly string[];
  private readonly unique: readonly string[];
  private readonly peak: ValueFile;
  /** Read right after every freeze and thaw: a thaw sits on the path of the next invocation. */
  private readonly freezerState: ValueFile;

  constructor(
    readonly id: string,
    private readonly dirs: ReadonlyMap<Controller, string>,
    private readonly kill: KillFn,
  ) {
    this.unique = [...new Set(dirs.values())];
    this.procsFiles = this.unique.map((d) => path.join(d, 'cgroup.procs'));
    this.peak = new ValueFile(this.file('memory', 'memory.max_usage_in_bytes'));
    this.freezerState = new ValueFile(this.file('freezer', 'freezer.state'));
  }

  private file(c: Controller, name: string): string {
    return path.join(this.dirs.get(c) as string, name);
  }

  async limitCpu(limit: CpuLimit): Promise<void> {
    writeControlSync(
      this.file('cpu', 'cpu.cfs_period_us'),
      String(limit.periodUs),
      `cgroup ${this.id}: cpu period`,
    );
    writeControlSync(
      this.file('cpu', 'cpu.cfs_quota_us'),
      String(limit.quotaUs),
      `cgroup ${this.id}: cpu quota`,
    );
  }

  async setMemoryLimit(bytes: number): Promise<void> {
    const limit = this.file('memory', 'memory.limit_in_bytes');
    const memsw = this.file('memory', 'memory.memsw.limit_in_bytes');
    // memory+swap may never be below memory: raise it first when growing, lower it last when shrinking.
    const withSwap = existsSync(memsw);
    const current = Number(readFileSync(limit, 'utf8'));
    if (withSwap && bytes > current) writeControlSync(memsw, String(bytes), `cgroup ${this.id}: swap limit`);
    writeControlSync(limit, String(bytes), `cgroup ${this.id}: memory limit`);
    if (withSwap && bytes <= current) writeControlSync(memsw, String(bytes), `cgroup ${this.id}: swap limit`);
  }

  // The state is written and read on the event loop's thread (see writeControlSync and ValueFile): a thaw is
  // on the path of the invocation that woke the environment, and through the thread pool its write and reads
  // cost several thread wake-ups, milliseconds on a busy host. A thaw is done when the write returns; a freeze
  // may need retries, and those wait between polls.
  async freeze(timeoutMs: number): Promise<void> {
    const state = this.file('freezer', 'freezer.state');
    writeControlSync(state, 'FROZEN', `cgroup ${this.id}: freeze`);
    await pollUntil(
      async () => {
        const s = this.freezerState.read()?.trim();
        // FREEZING means some task has not reached the freezer yet; writing FROZEN again retries them.
        if (s === 'FREEZING') writeControlSync(state, 'FROZEN', `cgroup ${this.id}: freeze`);
        return s === 'FROZEN';
      },
      timeoutMs,
      `cgroup ${this.id}: waiting for freezer.state FROZEN`,
    );
  }

  async thaw(timeoutMs: number): Promise<void> {
    const state = this.file('freezer', 'freezer.state');
    if (!existsSync(state)) return;
    writeControlSync(state, 'THAWED', `cgroup ${this.id}: thaw`);
    await pollUntil(
      async () => this.freezerState.read()?.trim() === 'THAWED',
      timeoutMs,
      `cgroup ${this.id}: waiting for freezer.state THAWED`,
    );
  }

  async oomKilled(): Promise<boolean> {
    const kills = keyedValue(await readOptional(this.file('memory', 'memory.oom_control')), 'oom_kill');
    if (kills !== undefined) return kills > 0;
    // Kernels before 4.13 do not count OOM kills; having hit the limit is the closest sign left.
    return Number((await readOptional(this.file('memory', 'memory.failcnt'))) ?? 0) > 0;
  }

  async peakMemoryBytes(): Promise<number | undefined> {
    const text = this.peak.read();
    return text === undefined ? undefined : Number(text);
  }

  /** Union over the hierarchies: a launcher killed half-way may have joined only some of them. */
  async pids(): Promise<number[]> {
    const all = new Set<number>();
    for (const dir of this.unique) {
      for (const pid of parsePids(await readOptional(path.join(dir, 'cgroup.procs')))) all.add(pid);
    }
    return [...all];
  }

  async killAll(timeoutMs: number): Promise<void> {
    await killByProcs(
      () => this.pids(),
      this.kill,
      (on) => (on ? this.freeze(freezeForKillMs) : this.thaw(timeoutMs)),
      timeoutMs,
      `cgroup ${this.id}: killing every process`,
    );
  }

  async remove(timeoutMs: number): Promise<void> {
    this.peak.close();
    this.freezerState.close();
    await removeDirs(this.unique, timeoutMs, `cgroup ${this.id}: removing its directories`);
  }
}
