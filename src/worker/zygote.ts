// A pre-initialised execution environment ("zygote", as in SOCK): a sandbox whose runtime has started and
// waits for a function, with an empty /var/task, its own uid, cgroup and Runtime API socket. Taking it hands
// all of that to one Environment, which specialises it to a function version for the rest of its life.
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Runtime } from '../model/index.js';
import { RuntimeApiServer } from '../runtime-api/index.js';
import type { Sandbox } from './driver.js';
import type { EnvironmentDeps } from './environment.js';
import { runtimeArgv, zygoteEnv, zygoteEphemeralMb, zygoteMemoryMb } from './runtime-launch.js';

export type ZygoteState = 'starting' | 'ready' | 'taken' | 'stopped';

export class Zygote {
  readonly id = randomBytes(16).toString('hex');
  private current: ZygoteState = 'starting';
  private sandbox?: Sandbox;
  private rapi?: RuntimeApiServer;
  private launching?: Promise<{ sandbox: Sandbox; rapi: RuntimeApiServer }>;
  /** When it became ready (or was created, before that): idle zygotes are reclaimed like idle environments. */
  since: number;

  constructor(
    readonly runtime: Runtime,
    private readonly d: EnvironmentDeps,
    /** Called once when it stops without having been taken (it died, failed to start, or was reclaimed). */
    private readonly onLost: (z: Zygote) => void,
  ) {
    this.since = d.clock.now();
  }

  get state(): ZygoteState {
    return this.current;
  }

  /** Starts the sandbox and waits until its runtime asks for its function; false (stopped) if it never does. */
  async start(): Promise<boolean> {
    this.launching = this.launch();
    try {
      const { sandbox, rapi } = await this.launching;
      let timer: NodeJS.Timeout | undefined;
      const waited = await Promise.race([
        rapi.waitZygote().then(() => 'ready' as const),
        sandbox.exited.then(() => 'exited' as const),
        new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.d.initTimeoutMs))),
      ]);
      clearTimeout(timer);
      if (waited !== 'ready') throw new Error(`its runtime ${waited === 'exited' ? 'exited' : 'timed out'}`);
    } catch (err) {
      if (this.current === 'starting') {
        this.d.log.warn({ err, zygote: this.id }, 'a pre-initialised environment failed to start');
        await this.stop();
      }
      return false;
    }
    if (this.current !== 'starting') return false;
    this.current = 'ready';
    this.since = this.d.clock.now();
    // A ready zygote that dies is no use: drop it from the pool.
    void this.sandbox?.exited.then(() => {
      if (this.current === 'ready') void this.stop();
    });
    return true;
  }

  private async launch(): Promise<{ sandbox: Sandbox; rapi: RuntimeApiServer }> {
    const dir = join(this.d.stateDir, this.id);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const socketPath = join(dir, 'rapi.sock');
    const ids = await this.d.driver.allocate(this.id);
    const rapi = new RuntimeApiServer({ socketPath, log: this.d.log, socketOwner: ids, zygote: true });
    this.rapi = rapi;
    try {
      await rapi.listen();
      this.sandbox = await this.d.driver.create({
        id: this.id,
        ids,
        runtimeDir: this.d.runtimeDir,
        runtimeApiSocket: socketPath,
        argv: runtimeArgv(this.runtime),
        env: zygoteEnv(this.runtime),
        memoryMb: zygoteMemoryMb,
        ephemeralStorageMb: zygoteEphemeralMb,
        waitForRelay: false,
      });
    } catch (err) {
      // create() frees the uid when it fails; this covers a failure before it ran.
      this.d.driver.release(this.id);
      throw err;
    }
    // Nothing should print before it has a function; whatever does is not any function's log.
    this.sandbox.stdout.resume();
    this.sandbox.stderr.resume();
    return { sandbox: this.sandbox, rapi };
  }

  /** Hands the running sandbox and its Runtime API to the environment that specialises it. */
  take(): { sandbox: Sandbox; rapi: RuntimeApiServer } {
    if (this.current !== 'ready' || !this.sandbox || !this.rapi)
      throw new Error(`zygote ${this.id} is ${this.current}, not ready: it cannot be taken`);
    this.current = 'taken';
    return { sandbox: this.sandbox, rapi: this.rapi };
  }

  /** Stops it and resolves once its processes are dead; the rest of the cleanup goes on in the background. */
  async stopProcesses(): Promise<void> {
    const stopped = this.stop();
    await Promise.race([this.sandbox?.exited ?? stopped, stopped]);
  }

  /** Kills an untaken zygote and frees everything (a taken one belongs to its environment). */
  async stop(): Promise<void> {
    if (this.current === 'taken' || this.current === 'stopped') return;
    this.current = 'stopped';
    // Stopped while starting: let the launch finish, so whatever it made is destroyed below.
    await this.launching?.catch(() => undefined);
    await this.sandbox
      ?.destroy()
      .catch((err: unknown) => this.d.log.error({ err, zygote: this.id }, 'sandbox destroy failed'));
    await this.rapi?.close().catch(() => undefined);
    await rm(join(this.d.stateDir, this.id), { recursive: true, force: true });
    this.onLost(this);
  }
}
