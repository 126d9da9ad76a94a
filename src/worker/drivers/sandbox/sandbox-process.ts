// One running sandbox: the bwrap process tree inside its cgroup, and the operations the worker needs on it.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { readFile, rmdir } from 'node:fs/promises';
import { PassThrough, type Duplex, type Readable, type Writable } from 'node:stream';
import type { Logger } from '../../../shared/index.js';
import type { Sandbox, SandboxExit } from '../../driver.js';
import { argsFd, encodeArgs, readyFd, type LaunchPlan } from './bwrap-args.js';
import { signalProcess, type CpuLimit, type EnvCgroup } from './cgroups.js';
import type { CodeMounts } from './code-mounts.js';

export interface SandboxTimeouts {
  /** From spawn until the relay is up and the runtime is about to be exec'd. */
  readonly startMs: number;
  readonly freezeMs: number;
  /** Killing, waiting for exit and removing the cgroup, each. */
  readonly stopMs: number;
}

export interface StartArgs {
  readonly id: string;
  readonly uid: number;
  readonly plan: LaunchPlan;
  readonly cgroup: EnvCgroup;
  /** Applied by limitCpu() once INIT is over: like Lambda, INIT runs with the CPU the host can spare. */
  readonly cpu: CpuLimit;
  /**
   * A pre-initialised sandbox: the empty host directory bound at /var/task, what mounts code onto it, and the CPU
   * share of a memory size (the function's replaces `cpu` when it is specialised).
   */
  readonly late?: {
    readonly slot: string;
    readonly mounts: CodeMounts;
    readonly cpuFor: (memoryMb: number) => CpuLimit;
  };
  readonly log: Logger;
  readonly timeouts: SandboxTimeouts;
  /** Called once the sandbox's processes are gone and its cgroup removed: its uid may be reused. */
  readonly onReleased: () => void;
}

/** The tail of a failed sandbox's stderr kept for the error message. */
const stderrExcerptBytes = 2000;
/** How long a sandbox that failed to start may take to flush its stderr into the error message. */
const drainMs = 500;
/** How long bwrap gets to notice its init died and exit by itself before it is killed too. */
const initGraceMs = 1000;

const signalNames = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name]));

export class BwrapSandbox implements Sandbox {
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exited: Promise<SandboxExit>;
  private hasExited = false;
  private destroying: Promise<void> | undefined;
  private removed = false;
  private specialized = false;
  private cpu: CpuLimit;

  private constructor(
    private readonly args: StartArgs,
    private readonly child: ChildProcess,
  ) {
    this.cpu = args.cpu;
    // Node discards unread child output when the child exits; piping into our own streams keeps it for a consumer
    // that attaches late (and for the start-failure message).
    this.stdout = (child.stdout as Readable).pipe(new PassThrough());
    this.stderr = (child.stderr as Readable).pipe(new PassThrough());
    this.exited = new Promise((resolve) => {
      let settled = false;
      const settle = (code: number | null, signal: string | null): void => {
        if (settled) return;
        settled = true;
        this.hasExited = true;
        // Read before destroy() may remove the cgroup: destroy waits for this promise first.
        void args.cgroup
          .oomKilled()
          .catch(() => false)
          .then((oomKilled) => resolve({ ...decodeExit(code, signal), oomKilled }));
      };
      child.once('exit', settle);
      // Spawning failed: there will be no 'exit'.
      child.once('error', () => child.pid === undefined && settle(null, null));
    });
  }

  get id(): string {
    return this.args.id;
  }

  /** Spawns the launch plan and resolves once the runtime is about to start; throws (after cleaning up) if it cannot. */
  static async start(args: StartArgs): Promise<BwrapSandbox> {
    const { plan } = args;
    const child = spawn(plan.file, plan.args, {
      // The host's environment (NODE_EXTRA_CA_CERTS, credentials, …) must never reach the launcher.
      env: {},
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', ...plan.files.map(() => 'pipe' as const)],
    });
    const sandbox = new BwrapSandbox(args, child);
    const startupErr = tap(child.stderr);
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    // A launcher that dies early closes these; the EPIPE is reported through its exit, not here.
    const feed = (fd: number, data: Buffer | string): void => {
      const stream = child.stdio[fd] as Writable | null;
      stream?.on('error', () => undefined);
      stream?.end(data);
    };
    feed(argsFd, encodeArgs(plan.bwrapOptions));
    for (const f of plan.files) feed(f.fd, f.content);
    const ready = child.stdio[readyFd] as Duplex | null;
    ready?.on('error', () => undefined);

    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      new Promise<'ready' | Error>((resolve) =>
        ready?.once('data', () => {
          ready.destroy();
          resolve('ready');
        }),
      ),
      sandbox.exited.then(() => 'exited' as const),
      spawnError.then((err) => new Error(`spawning ${plan.file} failed: ${err.message}`)),
      new Promise<'timeout'>(
        (resolve) => (timer = setTimeout(() => resolve('timeout'), args.timeouts.startMs)),
      ),
    ]);
    clearTimeout(timer);
    if (outcome === 'ready') {
      startupErr.stop();
      return sandbox;
    }
    ready?.destroy();

    let reason: string;
    if (outcome instanceof Error) reason = outcome.message;
    else if (outcome === 'timeout') reason = `it was not ready after ${args.timeouts.startMs} ms`;
    else {
      const exit = await sandbox.exited;
      reason = `it exited (${describeExit(exit)}) before its runtime started`;
    }
    await sandbox.destroy().catch((err: Error) => {
      args.log.error({ sandbox: args.id, err }, 'cleaning up a sandbox that failed to start');
    });
    const output = await startupErr.settled();
    throw new Error(`sandbox ${args.id} failed to start: ${reason}${output ? `: ${output}` : ''}`);
  }

  async limitCpu(): Promise<void> {
    await this.args.cgroup.limitCpu(this.cpu);
  }

  async specialize(codeDir: string, memoryMb: number): Promise<void> {
    const { late, id } = this.args;
    if (late === undefined)
      throw new Error(`sandbox ${id} was started with its code: it cannot be specialised`);
    if (this.specialized)
      throw new Error(`sandbox ${id} is already specialised: it serves one function only`);
    this.assertLive('specialize');
    this.specialized = true;
    // Both at once (the limit is written while the helper mounts): nothing in the sandbox runs the function's
    // code before the caller, once both are done, tells the waiting runtime it may. The directories above
    // codeDir need not be reachable by the sandbox's uid, unlike for a bind by bwrap, which runs as that uid:
    // the helper mounts it as root, and inside, /var/task is the mount's root.
    const mounted = late.mounts.roBind(codeDir, late.slot);
    await Promise.all([mounted, this.args.cgroup.setMemoryLimit(memoryMb * 1024 * 1024)]);
    this.cpu = late.cpuFor(memoryMb);
  }

  async freeze(): Promise<void> {
    this.assertLive('freeze');
    await this.args.cgroup.freeze(this.args.timeouts.freezeMs);
  }

  async thaw(): Promise<void> {
    this.assertLive('thaw');
    await this.args.cgroup.thaw(this.args.timeouts.freezeMs);
  }

  async maxMemoryBytes(): Promise<number | undefined> {
    if (this.removed) return undefined;
    return this.args.cgroup.peakMemoryBytes().catch(() => undefined);
  }

  destroy(): Promise<void> {
    this.destroying ??= this.doDestroy().catch((err: unknown) => {
      // Leave the uid quarantined, but let a later destroy() try again.
      this.destroying = undefined;
      throw err;
    });
    return this.destroying;
  }

  private async doDestroy(): Promise<void> {
    const { cgroup, timeouts, log, id } = this.args;
    const started = Date.now();
    // A frozen (v1) task does not act on SIGKILL until thawed.
    await cgroup.thaw(timeouts.freezeMs);
    if (!this.hasExited) {
      // Killing the sandbox's init first tears down its pid namespace and lets bwrap reap it and exit by itself;
      // killing both bwrap processes at once would orphan the init to the host's pid 1 as a zombie. Before bwrap
      // runs there is no init yet, and the launcher itself is killed.
      const init = await this.innerInit();
      if (init !== undefined) signalProcess(init, 'SIGKILL');
      if (init === undefined || !(await this.exitsWithin(initGraceMs))) this.child.kill('SIGKILL');
    }
    if (!(await this.exitsWithin(timeouts.stopMs)))
      throw new Error(`sandbox ${id}: its launcher did not exit within ${timeouts.stopMs} ms of SIGKILL`);
    // Anything that is left (a launcher killed before bwrap ran cannot take the sandbox with it).
    await cgroup.killAll(timeouts.stopMs);
    await cgroup.remove(timeouts.stopMs);
    const late = this.args.late;
    if (late !== undefined) {
      await late.mounts.unmount(late.slot);
      // rmdir, never a recursive rm: should the unmount have failed, the function's code is still below it.
      await rmdir(late.slot).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    this.removed = true;
    this.args.onReleased();
    log.debug({ sandbox: id, ms: Date.now() - started }, 'sandbox destroyed');
  }

  private async exitsWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([
      this.exited.then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
    ]);
    clearTimeout(timer);
    return exited;
  }

  /** The host pid of the sandbox's pid-1 (bwrap's child), if bwrap has started it. */
  private async innerInit(): Promise<number | undefined> {
    for (const pid of await this.args.cgroup.pids().catch(() => [])) {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      // The command name may contain spaces and parentheses; the fields after the last ')' are fixed.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === this.child.pid) return pid;
    }
    return undefined;
  }

  private assertLive(op: string): void {
    if (this.destroying !== undefined || this.removed)
      throw new Error(`sandbox ${this.args.id}: cannot ${op}, it is destroyed`);
  }
}

/** bwrap reports a runtime killed by signal N as exit status 128+N; decode it so an OOM kill reads as SIGKILL. */
export function decodeExit(
  code: number | null,
  signal: string | null,
): { code: number | null; signal: string | null } {
  if (signal !== null) return { code: null, signal };
  if (code !== null && code > 128) {
    const name = signalNames.get(code - 128);
    if (name !== undefined) return { code: null, signal: name };
  }
  return { code, signal: null };
}

export function describeExit(exit: SandboxExit): string {
  const how = exit.signal !== null ? `signal ${exit.signal}` : `exit status ${exit.code ?? 'unknown'}`;
  return exit.oomKilled ? `${how}, out of memory` : how;
}

/** Keeps the tail of a stream's output until stopped, for the message of a sandbox that failed to start. */
function tap(stream: Readable | null): { stop(): void; settled(): Promise<string> } {
  let text = '';
  const onData = (c: Buffer): void => {
    text = (text + c.toString('utf8')).slice(-stderrExcerptBytes);
  };
  stream?.on('data', onData);
  return {
    stop: () => stream?.off('data', onData),
    async settled() {
      if (stream !== null && !stream.readableEnded) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise((resolve) => stream.once('end', resolve)),
          new Promise((resolve) => (timer = setTimeout(resolve, drainMs))),
        ]);
        clearTimeout(timer);
      }
      stream?.off('data', onData);
      return text.trim();
    },
  };
}
