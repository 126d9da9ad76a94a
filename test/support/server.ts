// Starts a real `kiln up` process on a free loopback port with its own data dir, for end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';

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
  readonly child: ChildProcess;
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

/** Spawns `bin/kiln.js up` and resolves once it printed its ready line. */
export async function startKiln(opts: StartOptions = {}): Promise<KilnProcess> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'kiln-test-'));
  const port = opts.port ?? (await freePort());
  const child = spawn(
    process.execPath,
    [kilnBin, 'up', '--port', String(port), '--data-dir', dataDir, ...(opts.args ?? [])],
    { env: cleanEnv({ KILN_LOG_LEVEL: 'warn', ...opts.env }), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
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
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    dataDir,
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

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
