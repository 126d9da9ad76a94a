// The peer platforms the `peers` scenario compares Kiln with: serverless-offline (under serverless v3) and
// lambda-local, installed from npm into bench/peers (never into the root package), each started as its own
// loopback server around the same no-op handler and stopped, with its whole process group, however the run ends.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, removeDir, repoRoot } from '../../test/support/server.js';
import { onCleanup } from './cleanup.js';

export const peersDir = join(repoRoot, 'bench', 'peers');
const modules = join(peersDir, 'node_modules');

/** Installs bench/peers' locked dependencies unless they are already there; says so on stderr. */
export function ensurePeersInstalled(): void {
  const wanted = ['serverless', 'serverless-offline', 'lambda-local'];
  if (wanted.every((p) => existsSync(join(modules, p, 'package.json')))) return;
  console.error(`bench: peers: installing ${wanted.join(', ')} (npm ci --prefix bench/peers, once)`);
  const npm = spawnSync('npm', ['ci', '--prefix', peersDir, '--no-audit', '--no-fund'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 300_000,
  });
  if (npm.status !== 0) {
    throw new Error(
      `npm ci --prefix bench/peers failed (${npm.error?.message ?? `exit ${npm.status}`}): the peers scenario ` +
        'needs the npm registry once; run it by hand to see why',
    );
  }
}

export interface PeerServer {
  readonly port: number;
  readonly pid: number;
  /** The function name to invoke on this server. */
  readonly functionName: string;
  stop(): Promise<void>;
}

/**
 * Spawns a server in its own process group with an explicit environment and resolves once `ready` matched its
 * output. Its output keeps being read (and dropped) so a peer that logs every invocation never blocks on a pipe.
 */
async function startServer(
  label: string,
  argv: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  timeoutMs = 60_000,
): Promise<{ pid: number; stop: () => Promise<void>; match: RegExpExecArray }> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error(`${label}: nothing to run`);
  const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    const pid = child.pid;
    if (pid !== undefined && child.exitCode === null && child.signalCode === null) {
      // The group, so nothing the peer forked outlives it; SIGKILL if it ignores SIGTERM.
      process.kill(-pid, 'SIGTERM');
      const timer = setTimeout(() => {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }, 5000);
      await exited;
      clearTimeout(timer);
    }
  };
  const unregister = onCleanup(stop);
  let out = '';
  try {
    const match = await new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${label} did not start within ${timeoutMs} ms:\n${out.slice(-2000)}`)),
        timeoutMs,
      );
      const onData = (d: Buffer): void => {
        if (out.length < 100_000) out += d.toString();
        const m = ready.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${label} exited before it was ready:\n${out.slice(-2000)}`));
      });
    });
    return {
      pid: child.pid ?? 0,
      match,
      stop: async () => {
        unregister();
        await stop();
      },
    };
  } catch (err) {
    unregister();
    await stop();
    throw err;
  }
}

/** A service directory holding the handler, with bench/peers' modules reachable from it; removed at cleanup. */
function serviceDir(handlerSource: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-peer-'));
  writeFileSync(join(dir, 'handler.js'), handlerSource);
  symlinkSync(modules, join(dir, 'node_modules'));
  const unregister = onCleanup(async () => removeDir(dir));
  return {
    dir,
    remove: () => {
      unregister();
      removeDir(dir);
    },
  };
}

// The host's environment is not passed on (NODE_EXTRA_CA_CERTS alone adds ~70 ms to a Node start); HOME is the
// service dir, so neither peer reads or writes the user's ~/.aws or ~/.serverless.
const peerEnv = (home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  PATH: `${join(process.execPath, '..')}:/usr/bin:/bin`,
  LANG: 'C.UTF-8',
  HOME: home,
  ...extra,
});

/** Every platform's function timeout: long, so that a loaded host shows slow samples rather than killed runtimes. */
export const peerTimeoutSeconds = 30;

/** The serverless-offline run mode the scenario uses and reports: its fastest, handlers in its own process. */
export const serverlessOfflineMode =
  'useInProcess (handlers run in the serverless process; no worker threads)';

/**
 * `serverless offline start` (serverless v3 + serverless-offline 13) serving the Lambda Invoke API on a free
 * loopback port. No http events are declared, so only its Lambda server listens.
 */
export async function startServerlessOffline(handlerSource: string): Promise<PeerServer> {
  const service = serviceDir(handlerSource);
  const port = await freePort();
  writeFileSync(
    join(service.dir, 'serverless.yml'),
    [
      'service: kiln-bench-peer',
      "frameworkVersion: '3'",
      'provider:',
      '  name: aws',
      '  runtime: nodejs20.x',
      '  region: us-east-1',
      '  memorySize: 128',
      `  timeout: ${peerTimeoutSeconds}`,
      'functions:',
      '  noop:',
      '    handler: handler.handler',
      'plugins:',
      '  - serverless-offline',
      'custom:',
      '  serverless-offline:',
      '    useInProcess: true',
      '    host: 127.0.0.1',
      `    lambdaPort: ${port}`,
      '',
    ].join('\n'),
  );
  try {
    const server = await startServer(
      'serverless offline',
      [process.execPath, join(modules, 'serverless', 'bin', 'serverless.js'), 'offline', 'start'],
      service.dir,
      peerEnv(service.dir, { SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' }),
      /\* noop: (\S+)/,
    );
    return {
      port,
      pid: server.pid,
      functionName: server.match[1] ?? 'kiln-bench-peer-dev-noop',
      stop: async () => {
        await server.stop();
        service.remove();
      },
    };
  } catch (err) {
    service.remove();
    throw err;
  }
}

// lambda-local's own HTTP mode (`--watch`) wraps the payload in an API Gateway event, answers 500 for a handler
// that returns nothing and listens on every interface, so the Invoke API here is a minimal node:http server in
// front of its programmatic execute(), the same shape as the echo server. `lambdaFunc` (the module, loaded once)
// rather than `lambdaPath`, which deletes the handler from require's cache and loads it again on every call.
const lambdaLocalHost = `
const http = require('node:http');
const lambdaLocal = require('lambda-local');
const lambdaFunc = require(process.argv[1]);
const server = http.createServer({ keepAliveTimeout: 120000 }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const reply = (status, body, headers) => {
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
      res.end(body);
    };
    let event;
    try {
      event = JSON.parse(Buffer.concat(chunks).toString() || '{}');
    } catch (err) {
      return reply(400, JSON.stringify({ Type: 'InvalidRequestContentException', Message: err.message }));
    }
    lambdaLocal
      .execute({ event, lambdaFunc, lambdaHandler: 'handler', timeoutMs: Number(process.argv[2]) * 1000, verboseLevel: 0 })
      .then(
        (result) => reply(200, JSON.stringify(result === undefined ? null : result)),
        (err) => reply(200, JSON.stringify({ errorMessage: String(err && err.message) }), { 'x-amz-function-error': 'Unhandled' }),
      );
  });
});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
`;

/** lambda-local's execute() behind a loopback Invoke API (POST /2015-03-31/functions/{name}/invocations). */
export async function startLambdaLocal(handlerSource: string): Promise<PeerServer> {
  const service = serviceDir(handlerSource);
  try {
    const server = await startServer(
      'lambda-local',
      [process.execPath, '-e', lambdaLocalHost, join(service.dir, 'handler.js'), String(peerTimeoutSeconds)],
      service.dir,
      peerEnv(service.dir),
      /port (\d+)/,
    );
    return {
      port: Number(server.match[1]),
      pid: server.pid,
      functionName: 'noop',
      stop: async () => {
        await server.stop();
        service.remove();
      },
    };
  } catch (err) {
    service.remove();
    throw err;
  }
}
