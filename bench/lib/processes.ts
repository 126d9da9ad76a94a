// Processes the benchmarks start themselves: the process-start baselines, the loopback echo server and the relay floor.
// Each gets an explicit, minimal environment: the host's (NODE_EXTRA_CA_CERTS alone adds ~70 ms to a Node
// start) must not tilt a baseline.
import { spawn } from 'node:child_process';
import { lstatSync, readlinkSync, rmSync } from 'node:fs';
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

// The least a platform with a separate runtime process can do per request: an HTTP server that hands each body
// to a runtime process over a unix socket (length-prefixed, no HTTP) and answers with what comes back. The
// runtime answers `null` at once. It prints its port once the runtime is connected.
const relaySource = `
const http = require('node:http');
const net = require('node:net');
const { spawn } = require('node:child_process');
const socketPath = process.argv[1];
const runtimeSource = \`
const s = require('node:net').connect(process.argv[1]);
let buf = Buffer.alloc(0);
s.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
    buf = buf.subarray(4 + buf.readUInt32BE(0));
    s.write(Buffer.from([0, 0, 0, 4, 110, 117, 108, 108]));
  }
});
\`;
const waiting = [];
let runtime;
let buf = Buffer.alloc(0);
const runtimes = net.createServer((s) => {
  runtime = s;
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const body = buf.subarray(4, 4 + buf.readUInt32BE(0));
      buf = buf.subarray(4 + body.length);
      const res = waiting.shift();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    }
  });
  const server = http.createServer({ keepAliveTimeout: 120000 }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(body.length);
      waiting.push(res);
      runtime.write(Buffer.concat([len, body]));
    });
  });
  server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
});
runtimes.listen(socketPath, () => {
  const child = spawn(process.execPath, ['-e', runtimeSource, socketPath], { env: { PATH: '/usr/bin:/bin' }, stdio: 'ignore' });
  process.on('SIGTERM', () => { child.kill('SIGKILL'); process.exit(0); });
});
`;

export interface EchoServer {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

/** A raw Node HTTP echo server in its own process: the floor any HTTP-fronted platform on this host stands on. */
export function startEchoServer(): Promise<EchoServer> {
  return startServerProcess(['-e', echoSource]);
}

/**
 * The floor of a platform that runs functions in processes of their own (see relaySource): the echo floor plus
 * one round trip to another process. `socketPath` must not exist; it is removed with the process.
 */
export async function startRelayFloor(socketPath: string): Promise<EchoServer> {
  const server = await startServerProcess(['-e', relaySource, socketPath]);
  return {
    ...server,
    async stop() {
      await server.stop();
      rmSync(socketPath, { force: true });
    },
  };
}

async function startServerProcess(args: readonly string[]): Promise<EchoServer> {
  const child = spawn(process.execPath, args, {
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
    void exited.then(() =>
      reject(new Error(`the server process (${args.join(' ').slice(0, 40)}…) exited before listening`)),
    );
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
