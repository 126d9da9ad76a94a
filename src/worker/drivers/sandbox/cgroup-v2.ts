// cgroup v2: one unified tree. An environment gets `<root>/<parent>/<id>`; the memory, pids and cpu
// controllers are enabled in the subtree_control of `<root>` and `<root>/<parent>` so the leaf has them.
import { existsSync } from 'node:fs';
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

const controllers = ['memory', 'pids', 'cpu'] as const;
const freezeForKillMs = 500;

export class CgroupV2 implements CgroupHierarchy {
  readonly version = 2;
  readonly location: string;
  private prepared: Promise<void> | undefined;

  constructor(
    private readonly root: string,
    private readonly parent: string,
    private readonly kill: KillFn,
  ) {
    assertCgroupName(parent);
    this.location = path.join(root, parent);
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
    const dir = path.join(this.location, id);
    try {
      await mkdir(dir);
    } catch (err) {
      const why =
        (err as NodeJS.ErrnoException).code === 'EEXIST' ? 'already exists' : (err as Error).message;
      throw new Error(`cgroup ${id}: cannot create ${dir}: ${why}`, { cause: err });
    }
    try {
      await writeControl(
        path.join(dir, 'memory.max'),
        String(limits.memoryBytes),
        `cgroup ${id}: memory limit`,
      );
      // Without swap the sandbox is OOM-killed at its limit, like Lambda; the parent, like every non-root cgroup,
      // lacks the file when swap accounting is off.
      if (existsSync(path.join(this.location, 'memory.swap.max'))) {
        await writeControl(path.join(dir, 'memory.swap.max'), '0', `cgroup ${id}: swap limit`);
      }
      await writeControl(path.join(dir, 'pids.max'), String(limits.pidsMax), `cgroup ${id}: pids limit`);
    } catch (err) {
      await removeDirs([dir], 1000, `cgroup ${id}: undo`).catch(() => undefined);
      throw err;
    }
    return this.open(id);
  }

  async list(): Promise<string[]> {
    const entries = await readdir(this.location, { withFileTypes: true }).catch(() => []);
    return entries
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  }

  open(id: string): EnvCgroup {
    assertCgroupName(id);
    return new V2EnvCgroup(id, path.join(this.location, id), this.kill);
  }

  private async doPrepare(): Promise<void> {
    const offered = words(await readOptional(path.join(this.root, 'cgroup.controllers')));
    const missing = controllers.filter((c) => !offered.includes(c));
    if (missing.length > 0) {
      throw new Error(
        `cgroup v2: ${this.root} does not offer the ${missing.join(', ')} controller(s) (cgroup.controllers: ` +
          `"${offered.join(' ')}"): enable them in the parent's cgroup.subtree_control, or under systemd run Kiln ` +
          `with Delegate=yes and point cgroupRoot at the delegated cgroup`,
      );
    }
    await enableControllers(this.root);
    try {
      await mkdir(this.location, { recursive: true });
    } catch (err) {
      throw new Error(
        `cgroup v2: cannot create ${this.location} (${(err as Error).message}): Kiln must run as root`,
        {
          cause: err,
        },
      );
    }
    await enableControllers(this.location);
    if (!existsSync(path.join(this.location, 'cgroup.freeze'))) {
      throw new Error(
        `cgroup v2: ${this.location} has no cgroup.freeze: the kernel is too old (Linux 5.2+ needed)`,
      );
    }
  }
}

async function enableControllers(dir: string): Promise<void> {
  const file = path.join(dir, 'cgroup.subtree_control');
  const enabled = words(await readOptional(file));
  const wanted = controllers.filter((c) => !enabled.includes(c));
  if (wanted.length === 0) return;
  try {
    await writeControl(file, wanted.map((c) => `+${c}`).join(' '), 'cgroup v2: enabling controllers');
  } catch (err) {
    throw new Error(
      `${(err as Error).message}. A cgroup that holds processes itself cannot hand controllers to children ` +
        `(EBUSY); point cgroupRoot at the hierarchy root or at an empty delegated cgroup`,
      { cause: err },
    );
  }
}

const words = (text: string | undefined): string[] => (text ?? '').split(/\s+/).filter(Boolean);

class V2EnvCgroup implements EnvCgroup {
  readonly procsFiles: readonly string[];
  private readonly peak: ValueFile;
  private readonly current: ValueFile;
  /** Read right after every freeze and thaw: a thaw sits on the path of the next invocation. */
  private readonly events: ValueFile;

  constructor(
    readonly id: string,
    private readonly dir: string,
    private readonly kill: KillFn,
  ) {
    this.procsFiles = [path.join(dir, 'cgroup.procs')];
    this.peak = new ValueFile(path.join(dir, 'memory.peak'));
    this.current = new ValueFile(path.join(dir, 'memory.current'));
    this.events = new ValueFile(path.join(dir, 'cgroup.events'));
  }

  async limitCpu(limit: CpuLimit): Promise<void> {
    writeControlSync(
      path.join(this.dir, 'cpu.max'),
      `${limit.quotaUs} ${limit.periodUs}`,
      `cgroup ${this.id}: cpu limit`,
    );
  }

  async setMemoryLimit(bytes: number): Promise<void> {
    writeControlSync(path.join(this.dir, 'memory.max'), String(bytes), `cgroup ${this.id}: memory limit`);
  }

  async freeze(timeoutMs: number): Promise<void> {
    await this.setFrozen(true, timeoutMs);
  }

  async thaw(timeoutMs: number): Promise<void> {
    if (!existsSync(this.dir)) return;
    await this.setFrozen(false, timeoutMs);
  }

  async oomKilled(): Promise<boolean> {
    return (keyedValue(await readOptional(path.join(this.dir, 'memory.events')), 'oom_kill') ?? 0) > 0;
  }

  async peakMemoryBytes(): Promise<number | undefined> {
    // memory.peak exists from Linux 5.19; before that the current usage is the best available figure.
    const text = this.peak.read() ?? this.current.read();
    return text === undefined ? undefined : Number(text);
  }

  async pids(): Promise<number[]> {
    return parsePids(await readOptional(path.join(this.dir, 'cgroup.procs')));
  }

  async killAll(timeoutMs: number): Promise<void> {
    if (!existsSync(this.dir)) return;
    const step = `cgroup ${this.id}: killing every process`;
    // cgroup.kill (Linux 5.14+) kills the whole subtree atomically, frozen or not, so forks cannot escape it.
    if (existsSync(path.join(this.dir, 'cgroup.kill'))) {
      await writeControl(path.join(this.dir, 'cgroup.kill'), '1', step);
      await pollUntil(async () => (await this.pids()).length === 0, timeoutMs, step);
      return;
    }
    await killByProcs(
      () => this.pids(),
      this.kill,
      (on) => this.setFrozen(on, on ? freezeForKillMs : timeoutMs),
      timeoutMs,
      step,
    );
  }

  async remove(timeoutMs: number): Promise<void> {
    this.peak.close();
    this.current.close();
    this.events.close();
    await removeDirs([this.dir], timeoutMs, `cgroup ${this.id}: removing ${this.dir}`);
  }

  // Written and read on the event loop's thread, as on cgroup v1 (see V1EnvCgroup.freeze): a thaw is on the
  // path of the invocation that woke the environment.
  private async setFrozen(on: boolean, timeoutMs: number): Promise<void> {
    const verb = on ? 'freeze' : 'thaw';
    writeControlSync(path.join(this.dir, 'cgroup.freeze'), on ? '1' : '0', `cgroup ${this.id}: ${verb}`);
    await pollUntil(
      async () => keyedValue(this.events.read(), 'frozen') === (on ? 1 : 0),
      timeoutMs,
      `cgroup ${this.id}: waiting for cgroup.events "frozen ${on ? 1 : 0}"`,
    );
  }
}
