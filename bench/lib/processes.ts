// Processes the benchmarks start themselves: the process-start baselines and the loopback echo server.
// Each gets an explicit, minimal environment: the host's (NODE_EXTRA_CA_CERTS alone adds ~70 ms to a Node
// start) must not tilt a baseline.
import { spawn } from 'node:child_process';
import { lstatSync, readlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { onCleanup } from './cleanup.js';

export const cleanEnv = (): NodeJS.ProcessEnv => ({ PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' });

/** Spawn → exit of one command, in ms; rejects unless it exits 0. */
export function timeSpawn(file: string, args: readonly string[], timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(file, args, { env: cleanEnv(), stdio: 'ignore', cwd: '/' });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      if (code === 0) resolve(ms);
      else reject(new Error(`${file} ${args.join(' ')} ended with ${signal ?? `exit ${code}`}`));
    });
  });
}

/**
 * The smallest bubblewrap sandbox comparable to Kiln's: the same namespaces, read-only /usr with the host's
 * top-level links, /proc, /dev, the loader cache, a tmpfs /tmp and an empty environment. What Kiln adds on top
 * (cgroups, setpriv, the inner shell, the Runtime API relay, the start handshake) is what the comparison shows.
 */
export function minimalBwrap(argv: readonly string[]): { file: string; args: string[] } {
  const roots = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'].flatMap((name) => {
    try {
      const st = lstatSync(`/${name}`);
      if (st.isSymbolicLink()) return ['--symlink', readlinkSync(`/${name}`), `/${name}`];
      if (st.isDirectory()) return ['--ro-bind', `/${name}`, `/${name}`];
    } catch {
      // Not on this host.
    }
    return [];
  });
  return {
    file: '/usr/bin/bwrap',
    args: [
      ...['--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts'],
      ...['--unshare-cgroup-try', '--die-with-parent', '--new-session'],
      ...['--ro-bind', '/usr', '/usr', ...roots, '--proc', '/proc', '--dev', '/dev'],
      ...['--ro-bind-try', '/etc/ld.so.cache', '/etc/ld.so.cache', '--tmpfs', '/tmp'],
      ...['--chdir', '/', '--clearenv', '--', ...argv],
    ],
  };
}

// Answers every request with its own body, keep-alive; it prints its port once listening.
const echoSource = `
const http = require('node:http');
const server = http.createServer({ keepAliveTimeout: 120000 }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
`;

export interface EchoServer {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

/** A raw Node HTTP echo server in its own process: the floor any HTTP-fronted platform on this host stands on. */
export async function startEchoServer(): Promise<EchoServer> {
  const child = spawn(process.execPath, ['-e', echoSource], {
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const unregister = onCleanup(stop);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /port (\d+)/.exec(out);
      if (m?.[1]) resolve(Number(m[1]));
    });
    void exited.then(() => reject(new Error('the echo server exited before listening')));
  });
  return {
    port,
    pid: child.pid ?? 0,
    async stop() {
      unregister();
      await stop();
    },
  };
}
