// Types and file helpers shared by the cgroup v1 and v2 implementations.
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { readFile, rmdir, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** Applied when the cgroup is created, before any process joins it. */
export interface CgroupLimits {
  readonly memoryBytes: number;
  readonly pidsMax: number;
}

/** Applied separately (see EnvCgroup.limitCpu): `quotaUs` of CPU time per `periodUs`, across all CPUs. */
export interface CpuLimit {
  readonly quotaUs: number;
  readonly periodUs: number;
}

/** Sends a signal to a host pid; injected so unit tests never signal real processes. */
export type KillFn = (pid: number, signal: NodeJS.Signals) => void;

/** The cgroup(s) of one environment. */
export interface EnvCgroup {
  readonly id: string;
  /** The cgroup.procs files a launcher writes its own pid into, so it is confined before it execs. */
  readonly procsFiles: readonly string[];
  /**
   * Set after the sandbox's own setup (bwrap, the relay) and before the runtime runs: setup is trusted, bounded
   * work, and under a small Lambda-sized quota it would otherwise take ten times longer.
   */
  limitCpu(limit: CpuLimit): Promise<void>;
  /** Changes the memory limit of a running sandbox (a pre-initialised one taking on a function's MemorySize). */
  setMemoryLimit(bytes: number): Promise<void>;
  freeze(timeoutMs: number): Promise<void>;
  thaw(timeoutMs: number): Promise<void>;
  /** True once the kernel OOM killer has killed a process of this cgroup. */
  oomKilled(): Promise<boolean>;
  peakMemoryBytes(): Promise<number | undefined>;
  pids(): Promise<number[]>;
  /** Kills every process and returns once the cgroup is empty; leaves it thawed. */
  killAll(timeoutMs: number): Promise<void>;
  /** Removes the cgroup directories (they must be empty); missing ones are fine. */
  remove(timeoutMs: number): Promise<void>;
}

export interface CgroupHierarchy {
  readonly version: 1 | 2;
  /** Where environments' cgroups live, for messages and logs. */
  readonly location: string;
  /** Creates the parent cgroup and checks every needed controller; throws what is missing and how to fix it. */
  prepare(): Promise<void>;
  create(id: string, limits: CgroupLimits): Promise<EnvCgroup>;
  /** Environment cgroups present under the parent (after a crash: orphans). */
  list(): Promise<string[]>;
  open(id: string): EnvCgroup;
}

/** Lambda's rule: 1,769 MB of memory buys one vCPU; CPU scales linearly with memory. */
export function cpuQuotaFor(memoryMb: number, periodUs: number, mbPerVcpu = 1769): number {
  // The kernel refuses quotas under 1 ms.
  return Math.max(1000, Math.round((periodUs * memoryMb) / mbPerVcpu));
}

/** The real KillFn: SIGKILL of a pid that already exited is not an error. */
export const signalProcess: KillFn = (pid, signal) => {
  try {
    process.kill(pid, signal);
  } catch (err) {
    // The process may have exited between reading cgroup.procs and signalling it.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
};

/** Ids are directory names, so anything that could climb out of the parent is refused. */
export function assertCgroupName(id: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(id)) {
    throw new Error(
      `invalid sandbox id ${JSON.stringify(id)}: use 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'`,
    );
  }
}

/**
 * A cgroup value read on every invocation (peak memory): opened once, then re-read at offset 0 with one pread
 * on the event loop's thread. The value is generated in the kernel when read (no disk behind it), so the read
 * takes microseconds, while a thread-pool hop costs two thread wake-ups, which on a busy host wait for a CPU
 * and dominate a warm invocation's latency. Absent files read as undefined.
 */
export class ValueFile {
  private fd: number | undefined;
  private readonly buf = Buffer.alloc(64);

  constructor(private readonly file: string) {}

  read(): string | undefined {
    if (this.fd === undefined) {
      try {
        this.fd = openSync(this.file, 'r');
      } catch (err) {
        // Not cached: the caller falls back to another file, and this one is tried again next time.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    }
    const bytesRead = readSync(this.fd, this.buf, 0, this.buf.length, 0);
    return this.buf.toString('utf8', 0, bytesRead);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export async function readText(file: string): Promise<string> {
  return readFile(file, 'utf8');
}

export async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * writeControl without the thread pool, for the invocation and cold-start paths (CPU share after INIT, a zygote's
 * memory limit, freeze and thaw): a cgroupfs write is an in-kernel update of microseconds, less than one
 * thread-pool round trip costs.
 */
export function writeControlSync(file: string, value: string, step: string): void {
  try {
    writeFileSync(file, value);
  } catch (err) {
    throw new Error(
      `${step}: writing ${JSON.stringify(value)} to ${file} failed: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/** cgroupfs files take one value per write(2); writeFile issues exactly one for short strings. */
export async function writeControl(file: string, value: string, step: string): Promise<void> {
  try {
    await writeFile(file, value);
  } catch (err) {
    throw new Error(
      `${step}: writing ${JSON.stringify(value)} to ${file} failed: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/** Reads "key value" lines (memory.events, cgroup.events, memory.oom_control). */
export function keyedValue(text: string | undefined, key: string): number | undefined {
  if (text === undefined) return undefined;
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === key && v !== undefined) return Number(v);
  }
  return undefined;
}

export function parsePids(text: string | undefined): number[] {
  if (text === undefined) return [];
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number);
}

/**
 * Polls until `done` is true, starting at 1 ms and backing off to 20 ms: kernel state changes (frozen, empty)
 * usually land within a millisecond, and cgroupfs offers no portable blocking wait.
 */
export async function pollUntil(
  done: () => Promise<boolean>,
  timeoutMs: number,
  step: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    if (await done()) return;
    if (Date.now() >= deadline) throw new Error(`${step}: not done after ${timeoutMs} ms`);
    await sleep(delay);
    delay = Math.min(delay * 2, 20);
  }
}

/** rmdir on cgroupfs fails with EBUSY for a moment after the last task exits. */
export async function removeDirs(dirs: readonly string[], timeoutMs: number, step: string): Promise<void> {
  const pending = new Set(dirs);
  let last: Error | undefined;
  try {
    await pollUntil(
      async () => {
        for (const dir of [...pending]) {
          try {
            await rmdir(dir);
            pending.delete(dir);
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            if (code === 'ENOENT') pending.delete(dir);
            else last = err as Error;
          }
        }
        return pending.size === 0;
      },
      timeoutMs,
      step,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message} (${[...pending].join(', ')}: ${last?.message ?? 'busy'})`, {
      cause: last,
    });
  }
}

/** Kills by signalling every pid until none is left: the fallback when cgroup.kill is absent. */
export async function killByProcs(
  pids: () => Promise<number[]>,
  kill: KillFn,
  freeze: (on: boolean) => Promise<void>,
  timeoutMs: number,
  step: string,
): Promise<void> {
  await pollUntil(
    async () => {
      const before = await pids();
      if (before.length === 0) return true;
      // Frozen tasks cannot fork between our read of cgroup.procs and the signals, so a fork loop
      // cannot outrun the kill; thawing then lets the pending SIGKILLs take effect.
      await freeze(true).catch(() => undefined);
      for (const pid of await pids()) kill(pid, 'SIGKILL');
      await freeze(false);
      return (await pids()).length === 0;
    },
    timeoutMs,
    step,
  );
}
