// Starts a real `kiln up` process on a free loopback port with its own data dir, for end-to-end tests.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { readCredentials } from '../../src/app/credentials-file.js';
import { registerKeys, type Credentials } from './credentials.js';

export const repoRoot = resolve(import.meta.dirname, '..', '..', '..');
export const kilnBin = join(repoRoot, 'bin', 'kiln.js');

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

export interface KilnProcess {
  readonly endpoint: string;
  readonly port: number;
  readonly dataDir: string;
  /** The cgroup parent holding this instance's sandboxes (under each controller on cgroup v1). */
  readonly cgroupParent: string;
  readonly child: ChildProcess;
  /** The admin account's key (data-dir/admin-credentials); the support clients sign with it by default. */
  readonly credentials: Credentials;
  /** Everything the process printed so far. */
  output(): string;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

export interface StartOptions {
  dataDir?: string;
  port?: number;
  env?: Record<string, string>;
  args?: string[];
}

let instances = 0;

/**
 * Test processes run several Kiln instances at once on one host; each needs its own cgroup parent and uid
 * range (an instance kills leftovers under its parent at startup). Derived from the data dir, so a restart
 * on the same dir finds its own orphans.
 */
function isolationEnv(dataDir: string): Record<string, string> {
  const slot = (process.pid * 37 + ++instances) % 4000;
  const tag = createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
  return {
    KILN_CGROUP_PARENT: `kiln-test-${tag}`,
    KILN_SANDBOX_UID_BASE: String(300_000 + slot * 200),
    KILN_SANDBOX_UID_COUNT: '200',
  };
}

/** Spawns `bin/kiln.js up` and resolves once it printed its ready line. */
export async function startKiln(opts: StartOptions = {}): Promise<KilnProcess> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'kiln-test-'));
  const port = opts.port ?? (await freePort());
  const isolation = isolationEnv(dataDir);
  const child = spawn(
    process.execPath,
    [kilnBin, 'up', '--port', String(port), '--data-dir', dataDir, ...(opts.args ?? [])],
    {
      env: cleanEnv({ KILN_LOG_LEVEL: 'warn', ...isolationEnv(dataDir), ...opts.env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  // Once the instance is gone its (empty) cgroup parents go too, so test runs leave nothing behind.
  const parent = isolation.KILN_CGROUP_PARENT;
  const exited = new Promise<number | null>((res) =>
    child.once('exit', (code) => {
      removeCgroupParents(parent);
      res(code);
    }),
  );
  await new Promise<void>((res, rej) => {
    const onData = (): void => {
      if (out.includes('Kiln listening on')) {
        child.stdout?.off('data', onData);
        res();
      }
    };
    child.stdout?.on('data', onData);
    void exited.then((code) => rej(new Error(`kiln exited with ${code} before it was ready:\n${out}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const credentials = readCredentials(join(dataDir, 'admin-credentials'));
  if (credentials === undefined) throw new Error(`kiln wrote no admin-credentials in ${dataDir}:\n${out}`);
  registerKeys(endpoint, credentials);
  return {
    endpoint,
    port,
    dataDir,
    credentials,
    cgroupParent: opts.env?.KILN_CGROUP_PARENT ?? parent ?? 'kiln',
    child,
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

function removeCgroupParents(parent: string | undefined): void {
  if (!parent) return;
  for (const root of [
    '/sys/fs/cgroup',
    ...['memory', 'pids', 'cpu', 'cpuacct', 'freezer'].map((c) => `/sys/fs/cgroup/${c}`),
  ]) {
    try {
      rmdirSync(join(root, parent));
    } catch {
      // Absent on this hierarchy, or still holding sandboxes of a restarted instance.
    }
  }
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `bin/kiln.js <args>` as its own process with a clean environment plus `env`; the host's KILN_ENDPOINT
 * is never inherited, only one given in `env`.
 */
export function runKiln(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const childEnv = cleanEnv(env);
  if (env.KILN_ENDPOINT === undefined) delete childEnv.KILN_ENDPOINT;
  return new Promise((res) => {
    execFile(
      process.execPath,
      [kilnBin, ...args],
      { env: childEnv, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        res({ code, stdout, stderr });
      },
    );
  });
}
