// The execution-environment driver port (DESIGN.md §3). A driver turns a spec into an isolated, running
// runtime process; the worker owns everything else (Runtime API, state machine, timeouts, logs).
import type { Readable } from 'node:stream';

/** The host uid/gid an environment's processes run as (and the owner its Runtime API socket needs). */
export interface SandboxIds {
  readonly uid: number;
  readonly gid: number;
}

export interface SandboxSpec {
  /** Unique id of the environment; names its cgroup and scratch paths ([A-Za-z0-9_.-], at most 128). */
  readonly id: string;
  /** What Driver.allocate(id) returned, when the caller needed the identity before create(); else create() picks one. */
  readonly ids?: SandboxIds;
  /**
   * Host directory holding the function's extracted code; mounted read-only at /var/task. The sandbox reads it as an
   * unprivileged user, so its contents must be world-readable and every directory above it world-searchable (o+x).
   * Absent for a pre-initialised sandbox (a zygote): /var/task starts empty and the code arrives through
   * Sandbox.specialize; only drivers whose `lateCode` is true accept that.
   */
  readonly codeDir?: string;
  /** Host directory holding Kiln's runtime clients; mounted read-only at /var/runtime. Same permissions as codeDir. */
  readonly runtimeDir: string;
  /**
   * Host path of this environment's Runtime API unix socket, already listening; bound at /run/kiln/runtime.sock.
   * Only this environment may connect: the server chowns it to `ids` (mode 0600), and the sandbox driver makes sure
   * of it again in create(). Directories above it must be searchable (o+x).
   */
  readonly runtimeApiSocket: string;
  /** Command run inside the sandbox (after the 127.0.0.1:9001 relay is up), with cwd /var/task. */
  readonly argv: readonly string[];
  /** The complete environment of the runtime process: Lambda's variables plus the function's. Nothing from the host. */
  readonly env: Readonly<Record<string, string>>;
  readonly memoryMb: number;
  readonly ephemeralStorageMb: number;
  /**
   * Whether the runtime starts only once the 127.0.0.1:9001 relay listens (default true). Runtimes that use
   * the socket directly skip the wait; the relay still comes up for user code that reads AWS_LAMBDA_RUNTIME_API.
   */
  readonly waitForRelay?: boolean;
}

export interface SandboxExit {
  /** Exit status of the runtime process, or null when a signal ended it. */
  readonly code: number | null;
  /** e.g. 'SIGKILL'. The sandbox driver reads an exit status of 128+N as signal N (that is how bwrap reports it). */
  readonly signal: string | null;
  /** True when the kernel OOM killer killed a process of this sandbox. */
  readonly oomKilled: boolean;
}

export interface Sandbox {
  readonly id: string;
  /** The runtime's stdout and stderr (the function's log lines). */
  readonly stdout: Readable;
  readonly stderr: Readable;
  /**
   * Settles once, when the sandbox's main process has exited (stdout/stderr may still hold buffered output until
   * they end). Call destroy() afterwards anyway: exiting does not release the environment's resources.
   */
  readonly exited: Promise<SandboxExit>;
  /**
   * Applies the steady-state CPU share (in proportion to memory). Until then the sandbox may use what the host
   * can spare, as Lambda boosts CPU during INIT; the worker calls this when INIT ends.
   */
  limitCpu(): Promise<void>;
  /**
   * Turns a sandbox created without codeDir into one function's: mounts `codeDir` read-only at /var/task (visible
   * to the processes already running) and sets the memory limit to `memoryMb`. Once only; absent on sandboxes of
   * drivers without `lateCode`.
   */
  specialize?(codeDir: string, memoryMb: number): Promise<void>;
  /** Resolves once every process of the sandbox is frozen; rejects after a bounded wait. */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** Peak memory of the whole sandbox since creation, in bytes (from the cgroup). */
  maxMemoryBytes(): Promise<number | undefined>;
  /** Kills every process of the sandbox and releases its resources. Idempotent. */
  destroy(): Promise<void>;
}

export interface Driver {
  readonly name: string;
  /** Whether create() accepts a spec without codeDir (pre-initialised sandboxes); known once check() resolved. */
  readonly lateCode: boolean;
  /** Throws an Error saying what is missing and how to install it. */
  check(): Promise<void>;
  /**
   * Reserves the host identity environment `id` will run as, for callers that must prepare something for it first
   * (the Runtime API server chowns its socket to it); pass the result as spec.ids. destroy() and a failed create()
   * free it; release(id) frees one whose create() never ran.
   */
  allocate(id: string): Promise<SandboxIds>;
  /** Frees what allocate(id) reserved if create() never took it over; a no-op otherwise. */
  release(id: string): void;
  /**
   * Resolves once the runtime is about to be exec'd: isolation and limits are in place and 127.0.0.1:9001 inside
   * already reaches runtimeApiSocket. Throws an Error naming the step that failed, after undoing the others.
   */
  create(spec: SandboxSpec): Promise<Sandbox>;
  /** Removes what a previous run of this driver left behind (cgroups, scratch dirs) after a crash. */
  cleanupOrphans(): Promise<void>;
}
