// One execution environment: a sandboxed runtime process, its Runtime API, its log stream and its state.
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  LogCapture,
  endLine,
  logStreamName,
  reportLine,
  initStartLine,
  startLine,
  type LogSink,
} from '../observability/index.js';
import { RuntimeApiServer, type InvocationOutcome, type InvocationRequest } from '../runtime-api/index.js';
import type { Clock, Logger } from '../shared/index.js';
import type { Driver, Sandbox, SandboxExit } from './driver.js';
import { StateMachine, type EnvironmentState } from './environment-state.js';
import { accountOf, specKey, type FunctionSpec } from './function-spec.js';
import { runtimeArgv, runtimeEnv, usesSocketDirectly } from './runtime-launch.js';
import type { Zygote } from './zygote.js';

export interface EnvironmentDeps {
  readonly driver: Driver;
  readonly log: Logger;
  readonly clock: Clock;
  readonly sink: LogSink;
  /** Parent of per-environment scratch dirs (the Runtime API socket lives there). */
  readonly stateDir: string;
  /** Host dir of Kiln's runtime clients, mounted at /var/runtime. */
  readonly runtimeDir: string;
  /** INIT phase bound, Lambda's 10 s. */
  readonly initTimeoutMs: number;
  /** Idle environments are frozen this long after their last invocation (0 = at once). */
  readonly freezeAfterMs: number;
}

/** What one invocation produced, ready for the Invoke API. */
export interface EnvironmentResult {
  readonly outcome: InvocationOutcome;
  /** Base64 of the last 4 KB of the invocation's log. */
  readonly logTail: string;
  /** The environment cannot be reused (timeout, crash, init failure). */
  readonly fatal: boolean;
  /** How long the function ran (REPORT's Duration), ms; for metrics. */
  readonly durationMs: number;
  /** INIT duration when this invocation paid for the cold start (REPORT's Init Duration), ms. */
  readonly initDurationMs?: number;
}

export type InitResult =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly outcome: InvocationOutcome;
      /** Kiln could not launch or specialise the sandbox: the runtime never ran any of the function's code. */
      readonly launchFailed?: boolean;
    };

const errorPayload = (errorType: string, errorMessage: string): InvocationOutcome => ({
  kind: 'error',
  errorType,
  payload: Buffer.from(JSON.stringify({ errorType, errorMessage })),
});

/** Lets output the runtime wrote before answering reach our pipe readers (two turns of the event loop). */
const drainPipes = async (): Promise<void> => {
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
};

export class Environment {
  readonly id: string;
  readonly key: string;
  readonly logs: LogCapture;
  private readonly machine: StateMachine;
  private sandbox?: Sandbox;
  private rapi?: RuntimeApiServer;
  private exit?: Promise<SandboxExit>;
  private exitInfo?: SandboxExit;
  /** The running invocation's wait for the sandbox's exit (one slot, not a reaction per invocation on `exit`). */
  private onExit?: (e: SandboxExit) => void;
  private pendingInitMs?: number;
  private frozen = false;
  private freezeTimer?: NodeJS.Timeout;
  private freezing: Promise<void> = Promise.resolve();
  lastUsed: number;
  /** Set when the function changed under a busy environment: stop it once the invocation ends. */
  retired = false;
  /**
   * The provisioned concurrency configuration this environment serves (initialised ahead of traffic):
   * never reclaimed by keep-alive or evicted for memory while set.
   */
  provisionedFor?: string;
  /** Started from a pre-initialised sandbox (a zygote) rather than from nothing. */
  prewarmed = false;

  constructor(
    readonly spec: FunctionSpec,
    private readonly codeDir: string,
    private readonly d: EnvironmentDeps,
    onState?: (env: Environment, from: EnvironmentState, to: EnvironmentState) => void,
    /** A zygote's id, when this environment will take it over (its sandbox, uid and socket keep that id). */
    id?: string,
  ) {
    this.id = id ?? randomBytes(16).toString('hex');
    this.key = specKey(spec);
    this.lastUsed = d.clock.now();
    this.machine = new StateMachine(this.id, (from, to) => onState?.(this, from, to));
    this.logs = new LogCapture(
      d.sink,
      accountOf(spec),
      `/aws/lambda/${spec.functionName}`,
      logStreamName(d.clock.now(), spec.version, this.id),
      () => d.clock.now(),
    );
  }

  get state(): EnvironmentState {
    return this.machine.state;
  }

  get isFrozen(): boolean {
    return this.frozen;
  }

  /**
   * Cold start: sandbox, runtime, INIT. Leaves the environment busy (for its first invocation) or stopped.
   * A `provisioned-concurrency` INIT happens ahead of traffic, so no REPORT line carries its duration.
   * With a zygote (constructed with its id), its running sandbox becomes this function's: the code is mounted,
   * the memory limit set, and its waiting runtime gets this function's environment; INIT goes on from there.
   */
  async start(
    initType: 'on-demand' | 'provisioned-concurrency' = 'on-demand',
    zygote?: Zygote,
  ): Promise<InitResult> {
    const began = performance.now();
    try {
      if (zygote !== undefined) await this.specialize(zygote, initType);
      else await this.launch(initType);
    } catch (err) {
      this.d.log.error({ err, env: this.id }, 'environment failed to start');
      this.d.driver.release(this.id);
      await this.stop();
      return {
        ok: false,
        launchFailed: true,
        outcome: errorPayload(
          'Runtime.Unknown',
          'Kiln could not start an execution environment; see the platform log.',
        ),
      };
    }
    if (!this.sandbox || !this.rapi) throw new Error(`environment ${this.id}: started without a sandbox`);
    this.logs.platformLine(initStartLine(this.spec.runtime));
    this.logs.attach(this.sandbox.stdout);
    this.logs.attach(this.sandbox.stderr);
    const exit = this.sandbox.exited.then((e) => {
      this.exitInfo = e;
      this.onExit?.(e);
      return e;
    });
    this.exit = exit;
    this.machine.to('initializing');
    return this.init(began, initType, this.rapi, this.sandbox, exit);
  }

  private async specialize(zygote: Zygote, initType: string): Promise<void> {
    if (zygote.id !== this.id) throw new Error(`environment ${this.id} cannot take zygote ${zygote.id}`);
    const { sandbox, rapi } = zygote.take();
    this.sandbox = sandbox;
    this.rapi = rapi;
    this.prewarmed = true;
    if (sandbox.specialize === undefined) throw new Error(`the ${this.d.driver.name} driver has no zygotes`);
    const began = performance.now();
    const specialised = sandbox.specialize(this.codeDir, this.spec.memorySize);
    // Built while the code is being mounted.
    const answer = Buffer.from(JSON.stringify({ env: runtimeEnv(this.spec, this.logs.stream, initType) }));
    await specialised;
    rapi.specialize(answer);
    this.d.log.debug({ env: this.id, ms: performance.now() - began }, 'sandbox specialised');
  }

  private async launch(initType: 'on-demand' | 'provisioned-concurrency'): Promise<void> {
    const dir = join(this.d.stateDir, this.id);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const socketPath = join(dir, 'rapi.sock');
    const ids = await this.d.driver.allocate(this.id);
    this.rapi = new RuntimeApiServer({ socketPath, log: this.d.log, socketOwner: ids });
    await this.rapi.listen();
    this.sandbox = await this.d.driver.create({
      id: this.id,
      ids,
      codeDir: this.codeDir,
      runtimeDir: this.d.runtimeDir,
      runtimeApiSocket: socketPath,
      argv: runtimeArgv(this.spec.runtime),
      env: runtimeEnv(this.spec, this.logs.stream, initType),
      memoryMb: this.spec.memorySize,
      ephemeralStorageMb: this.spec.ephemeralStorage,
      waitForRelay: !usesSocketDirectly(this.spec.runtime),
    });
  }

  private async init(
    began: number,
    initType: 'on-demand' | 'provisioned-concurrency',
    rapi: RuntimeApiServer,
    sandbox: Sandbox,
    exit: Promise<SandboxExit>,
  ): Promise<InitResult> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>(
      (r) => (timer = setTimeout(() => r('timeout'), this.d.initTimeoutMs)),
    );
    const first = await Promise.race([rapi.waitReady(), exit, timedOut]);
    clearTimeout(timer);
    this.pendingInitMs = performance.now() - began;
    if (first !== 'timeout' && 'kind' in first && first.kind === 'ready') {
      // Written while the first invocation is delivered rather than before (Lambda boosts CPU during INIT
      // anyway). Should it fail, the environment is not reused: it would keep more CPU than its share.
      sandbox.limitCpu().catch((err: unknown) => {
        this.d.log.error({ err, env: this.id }, 'could not apply the CPU share; retiring the environment');
        this.retired = true;
        if (this.state === 'idle') void this.stop();
      });
      if (initType === 'provisioned-concurrency') this.pendingInitMs = undefined;
      this.machine.to('busy');
      return { ok: true };
    }
    await drainPipes();
    let outcome: InvocationOutcome;
    if (first === 'timeout') {
      outcome = errorPayload(
        'Sandbox.Timedout',
        `INIT phase timed out after ${(this.d.initTimeoutMs / 1000).toFixed(2)} seconds`,
      );
    } else if ('kind' in first) {
      outcome = { kind: 'error', errorType: first.errorType, payload: first.payload };
    } else {
      outcome = errorPayload('Runtime.ExitError', `Runtime exited ${describeExit(first)} during INIT`);
    }
    this.logs.platformLine(
      `INIT_REPORT Init Duration: ${this.pendingInitMs.toFixed(2)} ms\tPhase: init\tStatus: error\tError Type: ${outcome.kind === 'error' ? outcome.errorType : ''}`,
    );
    await this.stop();
    return { ok: false, outcome };
  }

  /** Runs one invocation; the caller has made the environment busy. */
  async invoke(req: InvocationRequest): Promise<EnvironmentResult> {
    const rapi = this.rapi;
    const sandbox = this.sandbox;
    if (!rapi || !sandbox || !this.exit) throw new Error(`environment ${this.id} was not started`);
    if (this.freezeTimer) clearTimeout(this.freezeTimer);
    await this.freezing;
    if (this.frozen) {
      await sandbox.thaw();
      this.frozen = false;
    }
    this.logs.beginInvocation();
    this.logs.platformLine(startLine(req.requestId, this.spec.version));
    const began = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const remaining = Math.max(0, req.deadlineMs - this.d.clock.now());
    const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), remaining)));
    // Racing `exit` itself would leave one reaction per invocation on a promise that lives as long as the
    // environment: a leak that grows with every warm invocation.
    const exited =
      this.exitInfo !== undefined
        ? Promise.resolve(this.exitInfo)
        : new Promise<SandboxExit>((r) => (this.onExit = r));
    const result = await Promise.race([rapi.invoke(req), exited, timedOut]);
    this.onExit = undefined;
    clearTimeout(timer);
    const durationMs = performance.now() - began;
    // Read while the pipes drain: the cgroup read is a thread-pool round trip of its own.
    const peak = sandbox.maxMemoryBytes().catch(() => undefined);
    await drainPipes();

    let outcome: InvocationOutcome;
    let fatal = false;
    let status: { status: 'timeout' | 'error'; errorType?: string } | undefined;
    if (result === 'timeout') {
      rapi.abandon(req.requestId);
      const secs = this.spec.timeout.toFixed(2);
      this.logs.platformLine(
        `${new Date(this.d.clock.now()).toISOString()} ${req.requestId} Task timed out after ${secs} seconds`,
      );
      outcome = errorPayload(
        'Sandbox.Timedout',
        `RequestId: ${req.requestId} Error: Task timed out after ${secs} seconds`,
      );
      fatal = true;
      status = { status: 'timeout' };
    } else if ('kind' in result) {
      outcome = result;
    } else {
      rapi.abandon(req.requestId);
      const errorType = result.oomKilled ? 'Runtime.OutOfMemory' : 'Runtime.ExitError';
      outcome = errorPayload(
        'Runtime.ExitError',
        `RequestId: ${req.requestId} Error: Runtime exited ${describeExit(result)}`,
      );
      this.logs.platformLine(`RequestId: ${req.requestId} Error: Runtime exited ${describeExit(result)}`);
      fatal = true;
      status = { status: 'error', errorType };
    }
    const maxMem = (await peak) ?? 0;
    this.logs.platformLine(endLine(req.requestId));
    this.logs.platformLine(
      reportLine({
        requestId: req.requestId,
        durationMs,
        memorySizeMb: this.spec.memorySize,
        maxMemoryUsedMb: maxMem / (1024 * 1024),
        ...(this.pendingInitMs !== undefined ? { initDurationMs: this.pendingInitMs } : {}),
        ...(status ? { status } : {}),
      }),
    );
    const initDurationMs = this.pendingInitMs;
    this.pendingInitMs = undefined;
    this.lastUsed = this.d.clock.now();
    return {
      outcome,
      logTail: this.logs.tailBase64(),
      fatal,
      durationMs,
      ...(initDurationMs !== undefined ? { initDurationMs } : {}),
    };
  }

  /** Back to idle after an invocation; frozen shortly after unless reused. */
  release(): void {
    this.machine.to('idle');
    const sandbox = this.sandbox;
    if (!sandbox) return;
    this.freezeTimer = setTimeout(() => {
      if (this.state !== 'idle') return;
      this.freezing = sandbox.freeze().then(
        () => void (this.frozen = true),
        async (err: unknown) => {
          this.d.log.warn({ err, env: this.id }, 'freeze failed: thawing');
          // The kernel goes on freezing after we stop waiting, and an invocation thaws only what it knows is
          // frozen: thaw now, or count it as frozen so the next invocation does.
          await sandbox.thaw().catch(() => void (this.frozen = true));
        },
      );
    }, this.d.freezeAfterMs);
    this.freezeTimer.unref();
  }

  /** Idle → busy, for a warm invocation. */
  acquire(): void {
    this.machine.to('busy');
  }

  /**
   * Whether its MemorySize still counts against the worker's budget: until its processes are gone. An
   * environment being stopped stops counting once its runtime has exited, before the cgroup, socket and scratch
   * directory are cleaned up.
   */
  get holdsMemory(): boolean {
    return !(this.state === 'stopping' && this.exitInfo !== undefined);
  }

  /**
   * Stops it and resolves once its processes are dead, so that a cold start making room need not wait for the
   * rest of the teardown; the cleanup goes on in the background.
   */
  async stopProcesses(): Promise<void> {
    const stopped = this.stop();
    await Promise.race([this.exit ?? stopped, stopped]);
  }

  /** Kills the sandbox and frees everything; safe to call more than once. */
  async stop(): Promise<void> {
    if (!this.machine.stop()) return;
    if (this.freezeTimer) clearTimeout(this.freezeTimer);
    // A freeze in progress re-requests FROZEN while the cgroup is FREEZING, which can undo destroy's thaw and
    // leave the killed sandbox frozen for good: let it finish (or time out) first.
    await this.freezing;
    await this.sandbox
      ?.destroy()
      .catch((err: unknown) => this.d.log.error({ err, env: this.id }, 'sandbox destroy failed'));
    await this.rapi?.close().catch(() => undefined);
    await rm(join(this.d.stateDir, this.id), { recursive: true, force: true });
    this.machine.to('stopped');
  }

  exitStatus(): SandboxExit | undefined {
    return this.exitInfo;
  }
}

function describeExit(e: SandboxExit): string {
  if (e.oomKilled) return 'with error: signal: killed (out of memory)';
  if (e.signal) return `with error: signal: ${e.signal === 'SIGKILL' ? 'killed' : e.signal}`;
  return `with error: exit status ${e.code ?? 'unknown'}`;
}
