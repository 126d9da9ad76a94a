// The default execution-environment driver (DESIGN.md §3): Linux namespaces through bubblewrap, limits and
// freezing through cgroups, one unprivileged host uid per environment.
import { execFile } from 'node:child_process';
import { constants as fsConstants, existsSync } from 'node:fs';
import { access, chmod, chown, mkdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../../../shared/index.js';
import type { Driver, Sandbox, SandboxIds, SandboxSpec } from '../../driver.js';
import { defaultTools, planLaunch, type HostTools, type RootEntry } from './bwrap-args.js';
import {
  assertCgroupName,
  cpuQuotaFor,
  detectCgroups,
  type CgroupHierarchy,
  type CgroupLimits,
  type CpuLimit,
  type EnvCgroup,
} from './cgroups.js';
import { favorDynamicMigrations } from './cgroup-dynmods.js';
import { CodeMounts } from './code-mounts.js';
import { assertReachable, assertSocket, hostRootEntries } from './host-paths.js';
import { BwrapSandbox, describeExit, type SandboxTimeouts } from './sandbox-process.js';
import { UidPool } from './uid-pool.js';

export interface SandboxDriverOptions {
  readonly log: Logger;
  /** A directory only this driver uses (its `scratch/` is wiped by cleanupOrphans); must be reachable by the pool uids. */
  readonly stateDir: string;
  /** First host uid (and gid) handed to sandboxes; keep the range clear of real users and of /etc/subuid ranges. */
  readonly uidBase?: number;
  readonly uidCount?: number;
  /** cgroup v2 mount or delegated subtree, or the directory of v1 controller mounts; default /sys/fs/cgroup. */
  readonly cgroupRoot?: string;
  /** Parent cgroup of every environment. One driver per parent: cleanupOrphans kills everything under it. */
  readonly cgroupParent?: string;
  /** Processes and threads per sandbox (Lambda allows 1,024). */
  readonly pidsMax?: number;
  /** Memory that buys one full vCPU; Lambda's figure is 1,769 MB. */
  readonly mbPerVcpu?: number;
  readonly hostname?: string;
  readonly startTimeoutMs?: number;
  readonly freezeTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
  /** Paths of the host tools; defaults are Debian's. */
  readonly tools?: Partial<HostTools>;
  /** Allow pre-initialised sandboxes (code mounted after start); default true where the host supports it. */
  readonly lateCode?: boolean;
  /**
   * Turn on cgroup's favordynmods host-wide if no hierarchy has it (see cgroup-dynmods.ts): a sandbox start
   * then no longer waits ~15 ms for an RCU grace period. Default true.
   */
  readonly favorDynmods?: boolean;
}

const cpuPeriodUs = 100_000;
const minBwrap = [0, 8, 0];
const install = 'run ./scripts/setup.sh (or apt-get install';

export class SandboxDriver implements Driver {
  readonly name = 'sandbox';
  private readonly log: Logger;
  private readonly pool: UidPool;
  private readonly cgroups: CgroupHierarchy;
  private readonly tools: HostTools;
  private readonly rootEntries: readonly RootEntry[];
  private readonly timeouts: SandboxTimeouts;
  private readonly live = new Map<string, Sandbox>();
  /** Environment id → uid handed out by allocate() and not yet taken over by create(). */
  private readonly reserved = new Map<string, number>();
  private readonly mounts: CodeMounts;
  private lateCodeReady = false;

  constructor(private readonly options: SandboxDriverOptions) {
    this.log = options.log.child({ driver: 'sandbox' });
    this.pool = new UidPool(options.uidBase ?? 200_000, options.uidCount ?? 1000);
    this.cgroups = detectCgroups({ root: options.cgroupRoot, parent: options.cgroupParent ?? 'kiln' });
    this.tools = { ...defaultTools, ...options.tools };
    this.rootEntries = hostRootEntries();
    this.timeouts = {
      startMs: options.startTimeoutMs ?? 10_000,
      freezeMs: options.freezeTimeoutMs ?? 2_000,
      stopMs: options.stopTimeoutMs ?? 5_000,
    };
    this.mounts = new CodeMounts(path.join(options.stateDir, 'slots'));
  }

  get lateCode(): boolean {
    return this.lateCodeReady;
  }

  /** Which cgroup version and where, for the startup log line. */
  get cgroupInfo(): { version: 1 | 2; location: string } {
    return { version: this.cgroups.version, location: this.cgroups.location };
  }

  async check(): Promise<void> {
    if (process.getuid?.() !== 0) {
      throw new Error(
        'the sandbox driver must run as root: it creates cgroups and starts each sandbox under its own unprivileged uid',
      );
    }
    const t = this.tools;
    await requireTool(t.bwrap, `bubblewrap is not installed: ${install} bubblewrap)`);
    await requireTool(t.socat, `socat is not installed: ${install} socat)`);
    await requireTool(t.setpriv, `setpriv is not installed: ${install} util-linux)`);
    await requireTool(t.bash, `bash is not installed at ${t.bash}: apt-get install bash`);
    await requireTool(t.env, `env is not installed at ${t.env}: apt-get install coreutils`);
    await requireTool(t.nsenter, `nsenter is not installed: ${install} util-linux)`);
    for (const [name, file] of [
      ['socat', t.socat],
      ['bash', t.bash],
      ['env', t.env],
    ] as const) {
      if (!file.startsWith('/usr/'))
        throw new Error(`${name} must live under /usr (the sandbox sees only /usr): ${file}`);
    }
    await checkBwrapVersion(t.bwrap);
    await checkUserNamespaces();
    await this.cgroups.prepare();
    if (this.options.favorDynmods !== false) await this.favorDynmods();
    await this.probe();
    if (this.options.lateCode !== false) await this.prepareLateCode();
  }

  private async favorDynmods(): Promise<void> {
    const outcome = await favorDynamicMigrations();
    if (outcome.kind === 'turned-on') {
      this.log.info(
        { mountPoint: outcome.mountPoint },
        'cgroup: turned on favordynmods (sandbox starts no longer wait for an RCU grace period to join their cgroups)',
      );
    } else if (outcome.kind === 'off') {
      this.log.warn(
        { why: outcome.why },
        'cgroup: favordynmods is off, so every sandbox start waits for an RCU grace period (~10-20 ms) to join its cgroups',
      );
    }
  }

  /** Pre-initialised sandboxes are an optimisation: a host that cannot mount code late still runs everything. */
  private async prepareLateCode(): Promise<void> {
    try {
      await this.mounts.prepare();
      this.lateCodeReady = true;
    } catch (err) {
      this.log.warn(
        { err },
        'pre-initialised sandboxes are off: mounting code into a running sandbox is not possible on this host',
      );
    }
  }

  async allocate(id: string): Promise<SandboxIds> {
    assertCgroupName(id);
    if (this.reserved.has(id) || this.live.has(id)) throw new Error(`sandbox ${id} already has a uid`);
    const uid = this.pool.allocate();
    this.reserved.set(id, uid);
    return { uid, gid: uid };
  }

  release(id: string): void {
    const uid = this.reserved.get(id);
    if (uid === undefined) return;
    this.reserved.delete(id);
    this.pool.release(uid);
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    const uid = this.takeUid(spec);
    const gid = uid;
    const started = Date.now();
    let cgroup: EnvCgroup | undefined;
    let launched = false;
    let slot: string | undefined;
    try {
      if (spec.codeDir === undefined) {
        if (!this.lateCodeReady)
          throw new Error(
            `sandbox ${spec.id}: no codeDir, and this driver cannot mount code late (see its check())`,
          );
        if (this.mounts.namespace === undefined)
          throw new Error(
            `sandbox ${spec.id}: the code mount helper is not running, so no code could arrive`,
          );
        slot = path.join(this.mounts.slotsDir, spec.id);
        await mkdir(slot, { mode: 0o755 });
        await chmod(slot, 0o755);
      }
      const codeDir = spec.codeDir ?? (slot as string);
      // The checks and the cgroup at once: each is a chain of thread-pool round trips on the cold-start path.
      const [checked, made] = await Promise.allSettled([
        Promise.all([
          assertReachable('codeDir', codeDir, uid, gid),
          assertReachable('runtimeDir', spec.runtimeDir, uid, gid),
          assertSocket('runtimeApiSocket', spec.runtimeApiSocket).then(() =>
            assertReachable('runtimeApiSocket', spec.runtimeApiSocket, uid, gid),
          ),
        ]),
        this.cgroups.create(spec.id, this.limitsFor(spec)),
      ]);
      if (made.status === 'fulfilled') cgroup = made.value;
      // A failed check explains more than a cgroup error it may have caused; either way undo() below cleans up.
      if (checked.status === 'rejected') throw checked.reason;
      if (made.status === 'rejected') throw made.reason;
      const cg = made.value;
      // Only this environment's uid may connect (connect(2) needs write permission on the socket).
      await chown(spec.runtimeApiSocket, uid, gid);
      await chmod(spec.runtimeApiSocket, 0o600);
      const plan = planLaunch({
        spec: { ...spec, codeDir },
        uid,
        gid,
        procsFiles: cg.procsFiles,
        tools: this.tools,
        rootEntries: this.rootEntries,
        hostname: this.options.hostname ?? 'kiln',
        ...(slot !== undefined ? { mountNamespace: this.mounts.namespace } : {}),
      });
      launched = true;
      const sandbox = await BwrapSandbox.start({
        id: spec.id,
        uid,
        plan,
        cgroup: cg,
        cpu: this.cpuFor(spec),
        ...(slot !== undefined
          ? { late: { slot, mounts: this.mounts, cpuFor: (memoryMb: number) => this.cpuFor({ memoryMb }) } }
          : {}),
        log: this.log,
        timeouts: this.timeouts,
        onReleased: () => {
          this.pool.release(uid);
          this.live.delete(spec.id);
        },
      });
      this.live.set(spec.id, sandbox);
      this.log.debug({ sandbox: spec.id, uid, ms: Date.now() - started }, 'sandbox started');
      return sandbox;
    } catch (err) {
      // A launched sandbox cleans up after itself and frees the uid through onReleased (or keeps it quarantined
      // when its processes could not be killed); this covers failures before the launch.
      if (!launched) await this.undo(spec.id, uid, cgroup, slot);
      throw err;
    }
  }

  async cleanupOrphans(): Promise<void> {
    for (const id of await this.cgroups.list()) {
      if (this.live.has(id)) continue;
      const cgroup = this.cgroups.open(id);
      await cgroup.killAll(this.timeouts.stopMs);
      await cgroup.remove(this.timeouts.stopMs);
      this.log.warn({ sandbox: id }, 'removed a sandbox left by a previous run');
    }
    await rm(path.join(this.options.stateDir, 'scratch'), { recursive: true, force: true });
  }

  /** From here on create() owns the uid: it is freed by destroy() or by create()'s own failure. */
  private takeUid(spec: SandboxSpec): number {
    const reserved = this.reserved.get(spec.id);
    this.release(spec.id);
    validateSpec(spec);
    if (this.live.has(spec.id)) throw new Error(`sandbox ${spec.id} already exists`);
    if (spec.ids !== undefined && (spec.ids.uid !== reserved || spec.ids.gid !== reserved)) {
      throw new Error(
        `sandbox ${spec.id}: spec.ids ${JSON.stringify(spec.ids)} did not come from allocate(${spec.id})`,
      );
    }
    return reserved === undefined ? this.pool.allocate() : this.pool.reserve(reserved);
  }

  private async undo(
    id: string,
    uid: number,
    cgroup: EnvCgroup | undefined,
    slot: string | undefined,
  ): Promise<void> {
    try {
      if (cgroup !== undefined) {
        await cgroup.killAll(this.timeouts.stopMs);
        await cgroup.remove(this.timeouts.stopMs);
      }
      if (slot !== undefined) await rm(slot, { recursive: true, force: true });
      this.pool.release(uid);
    } catch (err) {
      this.log.error({ sandbox: id, err }, 'undoing a failed sandbox start');
    }
  }

  private limitsFor(spec: SandboxSpec): CgroupLimits {
    return { memoryBytes: spec.memoryMb * 1024 * 1024, pidsMax: this.options.pidsMax ?? 1024 };
  }

  private cpuFor(spec: Pick<SandboxSpec, 'memoryMb'>): CpuLimit {
    return {
      periodUs: cpuPeriodUs,
      quotaUs: cpuQuotaFor(spec.memoryMb, cpuPeriodUs, this.options.mbPerVcpu),
    };
  }

  /** Starts a real sandbox running /usr/bin/true: proves namespaces, mounts, cgroups, setpriv and the relay work. */
  private async probe(): Promise<void> {
    const dir = path.join(this.options.stateDir, 'scratch', `probe-${process.pid}-${Date.now()}`);
    await mkdir(path.join(dir, 'code'), { recursive: true });
    await mkdir(path.join(dir, 'runtime'), { recursive: true });
    await chmod(dir, 0o755);
    const socket = path.join(dir, 'runtime.sock');
    const server = createServer((c) => c.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, resolve);
    });
    try {
      const sandbox = await this.create({
        id: `probe-${process.pid}-${Date.now()}`,
        codeDir: path.join(dir, 'code'),
        runtimeDir: path.join(dir, 'runtime'),
        runtimeApiSocket: socket,
        argv: ['/usr/bin/true'],
        env: {},
        memoryMb: 128,
        ephemeralStorageMb: 1,
      });
      const exit = await sandbox.exited;
      await sandbox.destroy();
      if (exit.code !== 0) throw new Error(`/usr/bin/true ended with ${describeExit(exit)}`);
    } catch (err) {
      throw new Error(
        `a trivial sandbox does not start: ${(err as Error).message}. Check that unprivileged user namespaces are ` +
          `allowed (on Ubuntu 24.04+ AppArmor restricts them: sysctl kernel.apparmor_restrict_unprivileged_userns=0 ` +
          `or an AppArmor profile for bwrap)`,
        { cause: err },
      );
    } finally {
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  }
}

function validateSpec(spec: SandboxSpec): void {
  assertCgroupName(spec.id);
  const positiveInt = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v <= 0)
      throw new Error(`sandbox ${spec.id}: ${name} must be a positive integer, got ${v}`);
  };
  positiveInt('memoryMb', spec.memoryMb);
  positiveInt('ephemeralStorageMb', spec.ephemeralStorageMb);
  if (spec.argv.length === 0) throw new Error(`sandbox ${spec.id}: argv is empty`);
  for (const [name, p] of [
    ['codeDir', spec.codeDir ?? '/'],
    ['runtimeDir', spec.runtimeDir],
    ['runtimeApiSocket', spec.runtimeApiSocket],
  ] as const) {
    if (!path.isAbsolute(p))
      throw new Error(`sandbox ${spec.id}: ${name} must be an absolute path, got ${p}`);
  }
}

async function requireTool(file: string, message: string): Promise<void> {
  try {
    await access(file, fsConstants.X_OK);
  } catch {
    throw new Error(message);
  }
}

async function checkBwrapVersion(bwrap: string): Promise<void> {
  const { stdout } = await promisify(execFile)(bwrap, ['--version'], { env: {}, timeout: 5000 });
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(stdout);
  const v = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
  const older = (a: number[], b: number[]): boolean => {
    for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
    return false;
  };
  if (v === undefined || older(v, minBwrap)) {
    throw new Error(
      `bubblewrap ${stdout.trim() || '(unknown version)'} is too old: Kiln needs ${minBwrap.join('.')} or newer`,
    );
  }
}

async function checkUserNamespaces(): Promise<void> {
  const read = async (f: string): Promise<string | undefined> =>
    existsSync(f) ? (await readFile(f, 'utf8')).trim() : undefined;
  if ((await read('/proc/sys/kernel/unprivileged_userns_clone')) === '0') {
    throw new Error(
      'unprivileged user namespaces are disabled: sysctl -w kernel.unprivileged_userns_clone=1 (and persist it in /etc/sysctl.d)',
    );
  }
  if ((await read('/proc/sys/user/max_user_namespaces')) === '0') {
    throw new Error(
      'user namespaces are disabled: sysctl -w user.max_user_namespaces=15000 (and persist it in /etc/sysctl.d)',
    );
  }
}
