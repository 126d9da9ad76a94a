// Kiln's own runtime clients (src/runtimes/), run as real processes on the host against the real
// Runtime API server on a unix socket. Each test writes a task directory, starts a runtime with a clean
// Lambda environment and drives it through RuntimeApiServer, waiting on events (posts, output, exit).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import {
  RuntimeApiServer,
  type InitOutcome,
  type InvocationOutcome,
  type InvocationRequest,
} from '../../src/runtime-api/index.js';
import { silentLogger } from '../../src/shared/index.js';

const runtimesDir = resolve(import.meta.dirname, '..', '..', '..', 'src', 'runtimes');
// What the worker launches today; bootstrap.cjs is the faster entry it loads (tested below too).
const NODE_BOOTSTRAP = join(runtimesDir, 'nodejs', 'bootstrap.cjs');
const NODE_BOOTSTRAP_CJS = join(runtimesDir, 'nodejs', 'bootstrap.cjs');
const PYTHON_BOOTSTRAP = join(runtimesDir, 'python', 'bootstrap.py');
// Debian's interpreter, as in the sandbox; the python3 first on a developer's PATH may be another install.
const PYTHON = '/usr/bin/python3';
const ARN = 'arn:aws:lambda:us-east-1:000000000000:function:hello';
const TRACE = 'Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1';
const LOG_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t/;

const root = mkdtempSync(join(tmpdir(), 'kiln-runtimes-'));
after(() => rmSync(root, { recursive: true, force: true }));

type Lang = 'node' | 'python';

interface Started {
  readonly server: RuntimeApiServer;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
  /** Resolves with stdout once it matches; rejects if the runtime exits first. */
  waitForStdout(re: RegExp): Promise<string>;
  /** The same for stderr: what a runtime writes there reaches us on a pipe of its own, in no set order. */
  waitForStderr(re: RegExp): Promise<string>;
  invoke(event: unknown, extra?: Partial<InvocationRequest>): Promise<InvocationOutcome>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

let seq = 0;
function taskDir(files: Record<string, string>): string {
  const dir = join(root, `task-${++seq}`);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Exactly what a sandbox gives a runtime: Lambda's variables and nothing from the host. */
function lambdaEnv(lang: Lang, task: string, handler: string, sock: string | undefined, api: string) {
  const env: Record<string, string> = {
    PATH: '/usr/local/bin:/usr/bin/:/bin:/opt/bin',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    LD_LIBRARY_PATH:
      '/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib',
    _HANDLER: handler,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EXECUTION_ENV: lang === 'node' ? 'AWS_Lambda_nodejs20.x' : 'AWS_Lambda_python3.11',
    AWS_LAMBDA_FUNCTION_NAME: 'hello',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
    AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/hello',
    AWS_LAMBDA_LOG_STREAM_NAME: '2024/01/01/[$LATEST]abc',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_RUNTIME_API: api,
    LAMBDA_TASK_ROOT: task,
    LAMBDA_RUNTIME_DIR: runtimesDir,
  };
  if (lang === 'node') env.NODE_PATH = `/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:${task}`;
  else env.PYTHONPATH = runtimesDir;
  if (sock !== undefined) env.KILN_RUNTIME_API_SOCKET = sock;
  return env;
}

interface StartOptions {
  env?: Record<string, string>;
  /** Reach the Runtime API through AWS_LAMBDA_RUNTIME_API (a TCP relay) instead of the socket variable. */
  tcp?: boolean;
  /** The Node.js entry file; bootstrap.cjs by default. */
  nodeEntry?: string;
  /** Interpreter flags for Python, e.g. ['-u'] as the worker passes. */
  pythonFlags?: string[];
  /** Start as a pre-initialised runtime (KILN_ZYGOTE=1) that waits to be specialised; see specializeZygote. */
  zygote?: boolean;
}

async function start(lang: Lang, files: Record<string, string>, handler: string, opts: StartOptions = {}) {
  const task = taskDir(files);
  const sock = join(root, `rapi-${seq}.sock`);
  const server = new RuntimeApiServer({
    socketPath: sock,
    log: silentLogger(),
    ...(opts.zygote === true ? { zygote: true } : {}),
  });
  await server.listen();
  let relay: Server | undefined;
  // Port 9 (discard) on loopback has no listener: a runtime that ignored the socket variable would fail.
  let api = '127.0.0.1:9';
  if (opts.tcp) {
    relay = createServer((c) => {
      const up = connect(sock);
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => relay?.listen(0, '127.0.0.1', r));
    const addr = relay.address();
    api = `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  }
  const env = {
    ...lambdaEnv(lang, task, handler, opts.tcp ? undefined : sock, api),
    ...(opts.zygote === true ? { KILN_ZYGOTE: '1', _HANDLER: 'not-yet' } : {}),
    ...opts.env,
  };
  const argv =
    lang === 'node'
      ? [process.execPath, opts.nodeEntry ?? NODE_BOOTSTRAP]
      : [PYTHON, ...(opts.pythonFlags ?? []), PYTHON_BOOTSTRAP];
  const child = spawn(argv[0] as string, argv.slice(1), {
    cwd: task,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const watchers = new Set<() => void>();
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    for (const w of watchers) w();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString('utf8');
    for (const w of watchers) w();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once('close', (code, signal) => res({ code, signal })),
  );
  let dead = false;
  void exited.then(() => {
    dead = true;
    for (const w of watchers) w();
  });
  cleanups.push(async () => {
    if (!dead) child.kill('SIGKILL');
    await exited;
    await server.close();
    relay?.close();
  });
  const waitFor = (name: string, text: () => string, re: RegExp): Promise<string> =>
    new Promise((res, rej) => {
      const check = (): void => {
        if (re.test(text())) {
          watchers.delete(check);
          res(text());
        } else if (dead) {
          watchers.delete(check);
          rej(new Error(`runtime exited before ${name} matched ${re}\nstdout: ${out}\nstderr: ${err}`));
        }
      };
      watchers.add(check);
      check();
    });
  const started: Started = {
    server,
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    waitForStdout: (re) => waitFor('stdout', () => out, re),
    waitForStderr: (re) => waitFor('stderr', () => err, re),
    invoke: (event, extra = {}) =>
      server.invoke({
        requestId: randomUUID(),
        payload: Buffer.from(JSON.stringify(event)),
        deadlineMs: Date.now() + 30_000,
        invokedFunctionArn: ARN,
        traceId: TRACE,
        ...extra,
      }),
  };
  return started;
}

/** Starts a runtime and asserts its init succeeded. */
async function ready(lang: Lang, files: Record<string, string>, handler: string, opts?: StartOptions) {
  const rt = await start(lang, files, handler, opts);
  const outcome = await rt.server.waitReady();
  assert.deepEqual(outcome, { kind: 'ready' }, `init failed: ${rt.stdout()} ${rt.stderr()}`);
  return rt;
}

/**
 * Starts a pre-initialised Node runtime and, once it waits, specialises it to `files` with the environment a
 * cold start gets (`extra` adds or overrides variables, given the task directory). Resolves before INIT ends.
 */
async function specialisedNode(
  files: Record<string, string>,
  extra: (task: string) => Record<string, string> = () => ({}),
) {
  const rt = await start('node', files, 'index.handler', { zygote: true });
  await rt.server.waitZygote();
  const task = join(root, `task-${seq}`);
  const env = lambdaEnv('node', task, 'index.handler', undefined, '127.0.0.1:9');
  rt.server.specialize(Buffer.from(JSON.stringify({ env: { ...env, ...extra(task) } })));
  return rt;
}

function success(o: InvocationOutcome): unknown {
  assert.equal(o.kind, 'success', `expected success, got ${o.kind}: ${o.payload.toString()}`);
  return JSON.parse(o.payload.toString('utf8'));
}

function failure(o: InvocationOutcome): { errorType: string; body: Record<string, unknown> } {
  assert.equal(o.kind, 'error', `expected an error, got ${o.payload.toString()}`);
  return { errorType: o.errorType, body: JSON.parse(o.payload.toString('utf8')) as Record<string, unknown> };
}

/**
 * A success, a throw, a response over the limit (413), each followed by a success: with `GET /next` pipelined
 * behind every post, each invocation must still be delivered after the previous one's answer, whatever it was.
 */
async function successThrowTooLarge(rt: {
  invoke: (event: unknown) => Promise<InvocationOutcome>;
}): Promise<void> {
  assert.deepEqual(success(await rt.invoke({ n: 1 })), { n: 1 });
  assert.equal(failure(await rt.invoke({ kind: 'throw' })).body.errorMessage, 'boom');
  assert.deepEqual(success(await rt.invoke({ n: 2 })), { n: 2 });
  assert.equal(failure(await rt.invoke({ kind: 'huge' })).errorType, 'Function.ResponseSizeTooLarge');
  assert.deepEqual(success(await rt.invoke({ n: 3 })), { n: 3 });
}

function initError(o: InitOutcome): { errorType: string; body: Record<string, unknown> } {
  assert.equal(o.kind, 'init-error');
  return { errorType: o.errorType, body: JSON.parse(o.payload.toString('utf8')) as Record<string, unknown> };
}

// ------------------------------------------------------------------------------------------------------
// A broken runtime shows up as a wait that never ends; fail it instead of hanging the run.
const suite = { timeout: 120_000 };

describe('nodejs runtime', suite, () => {
  it('runs a CommonJS async handler, with the context Lambda gives and warm state kept', async () => {
    const rt = await ready(
      'node',
      {
        'index.js': `
          let calls = 0;
          exports.handler = async (event, context) => {
            calls++;
            const first = context.getRemainingTimeInMillis();
            await new Promise((r) => setTimeout(r, 25));
            return {
              calls, event, first, second: context.getRemainingTimeInMillis(),
              context: JSON.parse(JSON.stringify(context)),
              keys: Object.keys(context),
              identity: context.identity, clientContext: context.clientContext,
              trace: process.env._X_AMZN_TRACE_ID,
              socketVisible: 'KILN_RUNTIME_API_SOCKET' in process.env,
            };
          };`,
      },
      'index.handler',
    );
    const id = randomUUID();
    const deadlineMs = Date.now() + 10_000;
    const r1 = success(
      await rt.invoke(
        { action: 'ok', n: 1 },
        {
          requestId: id,
          deadlineMs,
          clientContext: '{"client":{"installation_id":"i1"},"custom":{"a":1},"env":{"platform":"x"}}',
          cognitoIdentity: '{"cognitoIdentityId":"cid","cognitoIdentityPoolId":"pool"}',
        },
      ),
    ) as Record<string, unknown>;
    assert.equal(r1.calls, 1);
    assert.deepEqual(r1.event, { action: 'ok', n: 1 });
    assert.deepEqual(r1.context, {
      callbackWaitsForEmptyEventLoop: true,
      functionVersion: '$LATEST',
      functionName: 'hello',
      memoryLimitInMB: '128',
      logGroupName: '/aws/lambda/hello',
      logStreamName: '2024/01/01/[$LATEST]abc',
      clientContext: { client: { installation_id: 'i1' }, custom: { a: 1 }, env: { platform: 'x' } },
      identity: { cognitoIdentityId: 'cid', cognitoIdentityPoolId: 'pool' },
      invokedFunctionArn: ARN,
      awsRequestId: id,
    });
    for (const k of ['succeed', 'fail', 'done', 'getRemainingTimeInMillis']) {
      assert.ok((r1.keys as string[]).includes(k), k);
    }
    const first = r1.first as number;
    const second = r1.second as number;
    assert.ok(first <= 10_000 && first > 5_000, `remaining ${first}`);
    assert.ok(second <= first - 20, `remaining time went ${first} -> ${second}`);
    assert.equal(r1.trace, TRACE);
    assert.equal(r1.socketVisible, false);

    const r2 = success(await rt.invoke({ n: 2 }, { traceId: '' })) as Record<string, unknown>;
    assert.equal(r2.calls, 2, 'module state survives between invocations');
    assert.equal(r2.trace, undefined, 'no trace header: _X_AMZN_TRACE_ID is removed');
    assert.equal(r2.clientContext, undefined);
    assert.equal(r2.identity, undefined);
  });

  it('loads ES modules: .mjs, "type": "module", nested paths and nested handler names', async () => {
    const files = {
      'esm.mjs': `export const handler = async (e) => ({ kind: 'mjs', e });`,
      'src/package.json': '{"type":"module"}',
      'src/app.js': `export const handlers = { main: async () => ({ kind: 'type-module', meta: typeof import.meta.url }) };`,
      'lib/util.cjs': `module.exports.handler = async () => 'cjs';`,
    };
    const mjs = await ready('node', files, 'esm.handler');
    assert.deepEqual(success(await mjs.invoke({ x: 1 })), { kind: 'mjs', e: { x: 1 } });
    const typeModule = await ready('node', files, 'src/app.handlers.main');
    assert.deepEqual(success(await typeModule.invoke({})), { kind: 'type-module', meta: 'string' });
    const cjs = await ready('node', files, 'lib/util.handler');
    assert.deepEqual(success(await cjs.invoke({})), 'cjs');
  });

  it('callback handlers wait for an empty event loop unless told not to', async () => {
    const files = {
      'index.js': `
        exports.wait = (event, context, callback) => {
          const result = { timerFired: false };
          setTimeout(() => { result.timerFired = true; }, 30);
          callback(null, result);
        };
        exports.nowait = (event, context, callback) => {
          context.callbackWaitsForEmptyEventLoop = false;
          const result = { timerFired: false };
          setTimeout(() => { result.timerFired = true; }, 30);
          callback(null, result);
        };
        exports.legacy = (event, context) => { context.succeed({ legacy: true }); };
        exports.sync = () => 'ignored: the result of a non-promise handler is not the response';
        exports.cbError = (event, context, callback) => callback(new Error('callback error'));
      `,
    };
    const wait = await ready('node', files, 'index.wait');
    assert.deepEqual(success(await wait.invoke({})), { timerFired: true });
    // Warm again: the loop drained, the connection is back to /next and serves the next event.
    assert.deepEqual(success(await wait.invoke({})), { timerFired: true });

    const nowait = await ready('node', files, 'index.nowait');
    assert.deepEqual(success(await nowait.invoke({})), { timerFired: false });
    assert.deepEqual(success(await nowait.invoke({})), { timerFired: false });

    const legacy = await ready('node', files, 'index.legacy');
    assert.deepEqual(success(await legacy.invoke({})), { legacy: true });

    const sync = await ready('node', files, 'index.sync');
    assert.equal(success(await sync.invoke({})), null);

    const cbError = await ready('node', files, 'index.cbError');
    const { errorType, body } = failure(await cbError.invoke({}));
    assert.equal(errorType, 'Error');
    assert.equal(body.errorMessage, 'callback error');
  });

  it('reports thrown errors, rejected strings and unserialisable results as Lambda does', async () => {
    const files = {
      'index.js': `
        exports.throws = async () => { const e = new TypeError('kaboom from handler'); throw e; };
        exports.custom = async () => { const e = new Error('custom'); e.name = 'MyCustomError'; throw e; };
        exports.rejectString = () => Promise.reject('plain string rejection');
        exports.circular = async () => { const o = {}; o.self = o; return o; };
        exports.undef = async () => undefined;
        exports.str = async () => 'just a string';
      `,
    };
    const rt = await ready('node', files, 'index.throws');
    const thrown = failure(await rt.invoke({}));
    assert.equal(thrown.errorType, 'TypeError');
    assert.equal(thrown.body.errorType, 'TypeError');
    assert.equal(thrown.body.errorMessage, 'kaboom from handler');
    const trace = thrown.body.trace as string[];
    assert.equal(trace[0], 'TypeError: kaboom from handler');
    assert.match(trace[1] ?? '', /index\.js:2:/);
    const log = await rt.waitForStdout(/\tERROR\tInvoke Error \t\{/);
    const line = log.split('\n').find((l) => l.includes('Invoke Error')) ?? '';
    const logged = JSON.parse(line.slice(line.indexOf('\t{') + 1)) as Record<string, unknown>;
    assert.equal(logged.errorType, 'TypeError');
    assert.equal(logged.errorMessage, 'kaboom from handler');
    assert.ok(Array.isArray(logged.stack));

    const custom = await ready('node', files, 'index.custom');
    assert.equal(failure(await custom.invoke({})).errorType, 'MyCustomError');

    const str = await ready('node', files, 'index.rejectString');
    assert.deepEqual(failure(await str.invoke({})), {
      errorType: 'string',
      body: { errorType: 'string', errorMessage: 'plain string rejection', trace: [] },
    });

    const circular = await ready('node', files, 'index.circular');
    const c = failure(await circular.invoke({}));
    assert.equal(c.errorType, 'Error');
    assert.equal(c.body.errorMessage, 'Unable to stringify response body');

    const undef = await ready('node', files, 'index.undef');
    const o = await undef.invoke({});
    assert.equal(o.kind, 'success');
    assert.equal(o.payload.toString(), 'null');

    const s = await ready('node', files, 'index.str');
    assert.equal((await s.invoke({})).payload.toString(), '"just a string"');
    // Lambda validates payloads before they reach a runtime; should one slip through, the invocation
    // fails and the runtime lives on.
    assert.equal(failure(await s.invoke({}, { payload: Buffer.from('not json') })).errorType, 'SyntaxError');
    assert.equal((await s.invoke({})).payload.toString(), '"just a string"');
  });

  it('writes console output as "<time>\\t<request id>\\t<LEVEL>\\t<message>" records', async () => {
    const rt = await ready(
      'node',
      {
        'index.js': `
          console.log('at init');
          exports.handler = async () => {
            console.log('log %s %d', 'formatted', 42, { a: 1 });
            console.info('info');
            console.warn('warn');
            console.error('error');
            console.debug('debug');
            console.trace('trace');
            console.log('two\\nlines');
            return 'ok';
          };`,
      },
      'index.handler',
    );
    const id = randomUUID();
    success(await rt.invoke({}, { requestId: id }));
    const out = await rt.waitForStdout(/two\rlines\n/);
    const lines = out.split('\n').filter((l) => l !== '');
    for (const l of lines) assert.match(l, LOG_LINE);
    const fields = lines.map((l) => l.split('\t').slice(1));
    assert.deepEqual(fields, [
      ['undefined', 'INFO', 'at init'],
      [id, 'INFO', 'log formatted 42 { a: 1 }'],
      [id, 'INFO', 'info'],
      [id, 'WARN', 'warn'],
      [id, 'ERROR', 'error'],
      [id, 'DEBUG', 'debug'],
      [id, 'TRACE', 'trace'],
      [id, 'INFO', 'two\rlines'],
    ]);
  });

  it('honours AWS_LAMBDA_LOG_FORMAT=JSON and AWS_LAMBDA_LOG_LEVEL', async () => {
    const rt = await ready(
      'node',
      {
        'index.js': `exports.handler = async () => { console.debug('hidden'); console.info('shown', 1); return 1; };`,
      },
      'index.handler',
      { env: { AWS_LAMBDA_LOG_FORMAT: 'JSON', AWS_LAMBDA_LOG_LEVEL: 'INFO' } },
    );
    const id = randomUUID();
    success(await rt.invoke({}, { requestId: id }));
    const out = await rt.waitForStdout(/shown/);
    const records = out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(records.length, 1);
    assert.equal(records[0]?.level, 'INFO');
    assert.equal(records[0]?.requestId, id);
    assert.equal(records[0]?.message, 'shown 1');
  });

  it('reports each kind of init error with its type, then exits', async () => {
    const cases: { files: Record<string, string>; handler: string; type: string; message: RegExp }[] = [
      {
        files: { 'index.js': 'exports.handler = async () => 1;' },
        handler: 'missing.handler',
        type: 'Runtime.ImportModuleError',
        message: /^Error: Cannot find module 'missing'\nRequire stack:\n- .*nodejs\/bootstrap\.cjs/,
      },
      {
        files: { 'index.js': 'exports.handler = async () => 1;' },
        handler: 'index.nope',
        type: 'Runtime.HandlerNotFound',
        message: /^index\.nope is undefined or not exported$/,
      },
      {
        files: { 'index.js': 'exports.handler = 42;' },
        handler: 'index.handler',
        type: 'Runtime.HandlerNotFound',
        message: /^index\.handler is not a function$/,
      },
      {
        files: { 'index.js': 'exports.handler = async () => 1;' },
        handler: 'index',
        type: 'Runtime.MalformedHandlerName',
        message: /^Bad handler$/,
      },
      {
        files: { 'index.js': 'exports.handler = async () => 1;' },
        handler: '../index.handler',
        type: 'Runtime.MalformedHandlerName',
        message: /is not a valid handler name/,
      },
      {
        files: { 'index.js': 'exports.handler = async () => {;' },
        handler: 'index.handler',
        type: 'Runtime.UserCodeSyntaxError',
        message: /^SyntaxError: /,
      },
      {
        files: { 'index.mjs': 'export const handler = async () => {;' },
        handler: 'index.handler',
        type: 'Runtime.UserCodeSyntaxError',
        message: /^SyntaxError: /,
      },
      {
        files: { 'index.js': "throw new Error('init failed at module load');" },
        handler: 'index.handler',
        type: 'Error',
        message: /^init failed at module load$/,
      },
    ];
    for (const c of cases) {
      const rt = await start('node', c.files, c.handler);
      const { errorType, body } = initError(await rt.server.waitReady());
      assert.equal(errorType, c.type, c.handler);
      assert.equal(body.errorType, c.type);
      assert.match(String(body.errorMessage), c.message);
      assert.ok(Array.isArray(body.trace));
      assert.equal((await rt.exited).code, 129);
      const line = rt.stdout().split('\n')[0] ?? '';
      assert.match(line, /^\d{4}-\d\d-\d\dT[\d:.]+Z\tundefined\tERROR\tUncaught Exception \t\{/);
      const logged = JSON.parse(line.slice(line.indexOf('\t{') + 1)) as Record<string, unknown>;
      assert.equal(logged.errorType, c.type);
    }
  });

  it('fails the invocation and exits on an uncaught exception or an unhandled rejection', async () => {
    const files = {
      'index.js': `
        exports.uncaught = (event, context) => { setTimeout(() => { throw new Error('late throw'); }, 0); };
        exports.rejection = async () => { Promise.reject(new Error('nobody caught me')); return new Promise(() => setTimeout(() => {}, 60000)); };
      `,
    };
    const uncaught = await ready('node', files, 'index.uncaught');
    const u = failure(await uncaught.invoke({}));
    assert.equal(u.errorType, 'Error');
    assert.equal(u.body.errorMessage, 'late throw');
    assert.equal((await uncaught.exited).code, 129);
    assert.match(
      uncaught.stdout(),
      /\tERROR\tUncaught Exception \t\{"errorType":"Error","errorMessage":"late throw"/,
    );

    const rejection = await ready('node', files, 'index.rejection');
    const r = failure(await rejection.invoke({}));
    assert.equal(r.errorType, 'Runtime.UnhandledPromiseRejection');
    assert.equal(r.body.errorMessage, 'Error: nobody caught me');
    assert.equal((r.body.trace as string[])[0], 'Runtime.UnhandledPromiseRejection: Error: nobody caught me');
    assert.equal((await rejection.exited).code, 128);
  });

  it('asks for the next invocation whatever became of the last: a success, an error, a 413, a drained loop', async () => {
    // The client sends its /next right behind each post on the same connection; each answer must still
    // reach the right request, and the next event the handler.
    const rt = await ready(
      'node',
      {
        'index.js': `
          exports.handler = (event, context, callback) => {
            if (event.kind === 'throw') return Promise.reject(new Error('boom'));
            if (event.kind === 'huge') return Promise.resolve('x'.repeat(7_000_000));
            if (event.kind === 'wait') {
              const result = { timerFired: false };
              setTimeout(() => { result.timerFired = true; }, 20);
              return callback(null, result);
            }
            return Promise.resolve(event);
          };`,
      },
      'index.handler',
    );
    await successThrowTooLarge(rt);
    assert.deepEqual(success(await rt.invoke({ kind: 'wait' })), { timerFired: true });
    assert.deepEqual(success(await rt.invoke({ n: 4 })), { n: 4 });
    await rt.waitForStderr(/Failed to post handler success response\. Http response code: 413\./);
  });

  it('starts from bootstrap.cjs directly, the fast entry', async () => {
    const files = { 'index.js': 'let n = 0;\nexports.handler = async (e) => ({ n: ++n, e });' };
    const rt = await ready('node', files, 'index.handler', { nodeEntry: NODE_BOOTSTRAP_CJS });
    assert.deepEqual(success(await rt.invoke({ a: 1 })), { n: 1, e: { a: 1 } });
    assert.deepEqual(success(await rt.invoke({ a: 2 })), { n: 2, e: { a: 2 } });
    const bad = await start('node', files, 'index.nope', { nodeEntry: NODE_BOOTSTRAP_CJS });
    assert.equal(initError(await bad.server.waitReady()).errorType, 'Runtime.HandlerNotFound');
    assert.equal((await bad.exited).code, 129);
  });

  it('as a pre-initialised runtime, rehearses an invocation before it has a function and leaves no trace', async () => {
    const files = {
      'index.js': `
        exports.handler = async (event, context) => ({
          event,
          requestId: context.awsRequestId,
          global: globalThis[Symbol.for('aws.lambda.runtime.requestId')],
          rehearsal: [...Object.keys(require.cache), ...require.main.children.map((m) => m.id)].filter((k) =>
            k.includes('rehearsal'),
          ),
          trace: process.env._X_AMZN_TRACE_ID,
          handler: process.env._HANDLER,
        });`,
    };
    const rt = await specialisedNode(files);
    assert.deepEqual(await rt.server.waitReady(), { kind: 'ready' }, rt.stderr());
    const requestId = randomUUID();
    assert.deepEqual(success(await rt.invoke({ a: 1 }, { requestId })), {
      event: { a: 1 },
      requestId,
      global: requestId,
      rehearsal: [],
      trace: TRACE,
      handler: 'index.handler',
    });
    // The rehearsal printed nothing, and a log line of the function is its own.
    assert.equal(rt.stdout(), '');
    assert.equal(rt.stderr(), '');
  });

  it('as a pre-initialised runtime, shows the function exactly what a fresh start shows', async () => {
    // What a function could notice of a rehearsal before it: variables, working directory, globals, the loader's
    // caches, process listeners at load time; open descriptors and the rehearsal's socket once invoked. Paths
    // under the task directory differ between the two starts only by the directory's name.
    const files = {
      'index.js': `
        const { readdirSync, readFileSync, readlinkSync } = require('node:fs');
        const task = process.cwd();
        const rel = (v) => v.split(task).join('<task>');
        const atLoad = {
          env: Object.fromEntries(Object.entries(process.env).map(([k, v]) => [k, rel(v)])),
          cwd: task === process.env.LAMBDA_TASK_ROOT,
          globals: Reflect.ownKeys(globalThis).map(String),
          requestId: globalThis[Symbol.for('aws.lambda.runtime.requestId')],
          cache: Object.keys(require.cache).map(rel),
          children: require.main.children.map((m) => rel(m.id)),
          pathCache: Object.entries(require('node:module')._pathCache).map(([k, v]) => rel(k) + ' => ' + rel(v)),
          listeners: process.eventNames().map((n) => String(n) + ':' + process.listenerCount(n)),
        };
        exports.handler = async () => ({
          atLoad,
          fds: readdirSync('/proc/self/fd')
            .map((fd) => { try { return readlinkSync('/proc/self/fd/' + fd).replace(/\\d+/g, 'N'); } catch { return 'gone'; } })
            .sort(),
          rehearsalSockets: readFileSync('/proc/net/unix', 'utf8').split('\\n').filter((l) => l.includes('rehearsal')),
        });`,
    };
    const fresh = await ready('node', files, 'index.handler');
    const expected = success(await fresh.invoke({}));

    const rt = await specialisedNode(files);
    assert.deepEqual(await rt.server.waitReady(), { kind: 'ready' }, rt.stderr());
    assert.deepEqual(success(await rt.invoke({})), expected);
    assert.equal(rt.stdout(), '');
    assert.equal(rt.stderr(), '');
  });

  it('as a pre-initialised runtime, searches the module paths HOME and NODE_PATH give, as a fresh start does', async () => {
    const files = { 'index.js': "exports.handler = async () => require.resolve.paths('some-package');" };
    const rt = await specialisedNode(files, (task) => ({
      HOME: '/home/fn',
      NODE_PATH: `/opt/extra:${task}`,
    }));
    assert.deepEqual(await rt.server.waitReady(), { kind: 'ready' }, rt.stderr());
    const paths = success(await rt.invoke({})) as string[];
    for (const dir of ['/opt/extra', '/home/fn/.node_modules', '/home/fn/.node_libraries'])
      assert.ok(paths.includes(dir), `${dir} in ${JSON.stringify(paths)}`);
    assert.ok(!paths.includes('/opt/nodejs/node_modules'), 'the NODE_PATH the zygote started with is gone');
  });

  it('as a pre-initialised runtime, still reports a failing handler as an init error', async () => {
    const rt = await specialisedNode({ 'index.js': 'throw new Error("broken at load");' });
    const init = initError(await rt.server.waitReady());
    assert.equal(init.errorType, 'Error');
    assert.equal(init.body.errorMessage, 'broken at load');
    assert.equal((await rt.exited).code, 129);
  });

  it('talks TCP to AWS_LAMBDA_RUNTIME_API when KILN_RUNTIME_API_SOCKET is not set', async () => {
    const rt = await ready('node', { 'index.js': 'exports.handler = async (e) => e;' }, 'index.handler', {
      tcp: true,
    });
    assert.deepEqual(success(await rt.invoke({ via: 'tcp' })), { via: 'tcp' });
    assert.deepEqual(success(await rt.invoke({ again: true })), { again: true });
  });
});

// ------------------------------------------------------------------------------------------------------
describe('python runtime', suite, () => {
  it('runs a handler with the context Lambda gives, keeping module state warm', async () => {
    const rt = await ready(
      'python',
      {
        'app.py': `
import os
import time

calls = 0


def handler(event, context):
    global calls
    calls += 1
    first = context.get_remaining_time_in_millis()
    time.sleep(0.025)
    cc = context.client_context
    return {
        "calls": calls,
        "event": event,
        "first": first,
        "second": context.get_remaining_time_in_millis(),
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        "client_context": None if cc is None else [cc.custom, cc.env, cc.client.installation_id],
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "socket_visible": "KILN_RUNTIME_API_SOCKET" in os.environ,
        "cwd": os.getcwd(),
    }
`,
      },
      'app.handler',
    );
    const id = randomUUID();
    const r1 = success(
      await rt.invoke(
        { action: 'ok' },
        {
          requestId: id,
          deadlineMs: Date.now() + 10_000,
          clientContext: '{"client":{"installation_id":"i1"},"custom":{"a":1},"env":{"platform":"x"}}',
          cognitoIdentity: '{"cognitoIdentityId":"cid","cognitoIdentityPoolId":"pool"}',
        },
      ),
    ) as Record<string, unknown>;
    assert.equal(r1.calls, 1);
    assert.deepEqual(r1.event, { action: 'ok' });
    assert.equal(r1.function_name, 'hello');
    assert.equal(r1.function_version, '$LATEST');
    assert.equal(r1.invoked_function_arn, ARN);
    assert.equal(r1.memory_limit_in_mb, '128');
    assert.equal(r1.aws_request_id, id);
    assert.equal(r1.log_group_name, '/aws/lambda/hello');
    assert.equal(r1.log_stream_name, '2024/01/01/[$LATEST]abc');
    assert.deepEqual(r1.identity, ['cid', 'pool']);
    assert.deepEqual(r1.client_context, [{ a: 1 }, { platform: 'x' }, 'i1']);
    assert.equal(r1.trace, TRACE);
    assert.equal(r1.socket_visible, false);
    const first = r1.first as number;
    assert.ok(first <= 10_000 && first > 5_000, `remaining ${first}`);
    assert.ok((r1.second as number) <= first - 20, `remaining time went ${first} -> ${String(r1.second)}`);

    const r2 = success(await rt.invoke({}, { traceId: '' })) as Record<string, unknown>;
    assert.equal(r2.calls, 2);
    assert.equal(r2.trace, null);
    assert.deepEqual(r2.identity, [null, null]);
    assert.equal(r2.client_context, null);
  });

  it('imports dotted packages and path-style handlers', async () => {
    const files = {
      'pkg/__init__.py': '',
      'pkg/mod.py': 'def fn(event, context):\n    return {"where": __name__}\n',
    };
    const dotted = await ready('python', files, 'pkg.mod.fn');
    assert.deepEqual(success(await dotted.invoke({})), { where: 'pkg.mod' });
    const slashed = await ready('python', files, 'pkg/mod.fn');
    assert.deepEqual(success(await slashed.invoke({})), { where: 'pkg.mod' });
  });

  it('logs print() and the root logger the way Lambda does', async () => {
    const rt = await ready(
      'python',
      {
        'app.py': `
import logging

# A no-op, as on Lambda: the root logger already has the runtime's handler.
logging.basicConfig(format="IGNORED %(message)s")
logger = logging.getLogger()
logger.setLevel(logging.INFO)
print("at init")


def handler(event, context):
    print("printed", end="")
    print()
    logger.info("info %s", "arg")
    logger.debug("hidden")
    logging.getLogger("child").warning("warned")
    return "ok"
`,
      },
      'app.handler',
    );
    const id = randomUUID();
    success(await rt.invoke({}, { requestId: id }));
    const out = await rt.waitForStdout(/warned\n/);
    const lines = out.split('\n').filter((l) => l !== '');
    assert.equal(lines[0], 'at init');
    assert.equal(lines[1], 'printed');
    assert.match(
      lines[2] ?? '',
      new RegExp(`^\\[INFO\\]\\t\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\t${id}\\tinfo arg$`),
    );
    assert.match(lines[3] ?? '', new RegExp(`^\\[WARNING\\]\\t[^\\t]+Z\\t${id}\\twarned$`));
    assert.equal(lines.length, 4);

    // logging imported only inside the handler gets the same treatment.
    const lazy = await ready(
      'python',
      {
        'lazy.py':
          'def handler(event, context):\n    import logging\n    logging.warning("lazy")\n    return 1\n',
      },
      'lazy.handler',
    );
    const lazyId = randomUUID();
    success(await lazy.invoke({}, { requestId: lazyId }));
    const lazyOut = await lazy.waitForStdout(/lazy\n/);
    assert.match(lazyOut, new RegExp(`^\\[WARNING\\]\\t[^\\t]+Z\\t${lazyId}\\tlazy\\n$`));
  });

  it('reports handler errors and unserialisable results as Lambda does', async () => {
    const files = {
      'app.py': `
import decimal


def boom(event, context):
    raise ValueError("boom")


def unserialisable(event, context):
    return {"s": {1, 2}}


def decimals(event, context):
    return {"d": decimal.Decimal("1.10"), "i": decimal.Decimal("5")}


def raw(event, context):
    return b"raw bytes"
`,
    };
    const rt = await ready('python', files, 'app.boom');
    const id = randomUUID();
    const b = failure(await rt.invoke({}, { requestId: id }));
    assert.equal(b.errorType, 'ValueError');
    assert.equal(b.body.errorMessage, 'boom');
    assert.equal(b.body.requestId, id);
    assert.deepEqual(Object.keys(b.body), ['errorMessage', 'errorType', 'requestId', 'stackTrace']);
    const stack = b.body.stackTrace as string[];
    assert.equal(stack.length, 1, 'the runtime frames are left out');
    assert.match(stack[0] ?? '', /^ {2}File ".*app\.py", line 6, in boom\n {4}raise ValueError\("boom"\)\n$/);
    const out = await rt.waitForStdout(/\[ERROR\] ValueError: boom\r/);
    assert.match(out, /\[ERROR\] ValueError: boom\rTraceback \(most recent call last\):\r\u00a0\u00a0File /);

    const bad = await ready('python', files, 'app.unserialisable');
    const u = failure(await bad.invoke({}));
    assert.equal(u.errorType, 'Runtime.MarshalError');
    assert.equal(
      u.body.errorMessage,
      'Unable to marshal response: Object of type set is not JSON serializable',
    );
    assert.deepEqual(u.body.stackTrace, []);

    const dec = await ready('python', files, 'app.decimals');
    assert.equal((await dec.invoke({})).payload.toString(), '{"d": 1.10, "i": 5}');

    const raw = await ready('python', files, 'app.raw');
    assert.equal((await raw.invoke({})).payload.toString(), 'raw bytes');
    const notJson = failure(await raw.invoke({}, { payload: Buffer.from('not json') }));
    assert.equal(notJson.errorType, 'Runtime.UnmarshalError');
    assert.equal(
      notJson.body.errorMessage,
      'Unable to unmarshal input: Expecting value: line 1 column 1 (char 0)',
    );
  });

  it('asks for the next invocation whatever became of the last: a success, an error, a 413', async () => {
    // The client writes its /next along with each post; each answer must still reach the right request.
    const rt = await ready(
      'python',
      {
        'app.py': [
          'def handler(event, context):',
          '    kind = event.get("kind")',
          '    if kind == "throw":',
          '        raise ValueError("boom")',
          '    if kind == "huge":',
          '        return "x" * 7000000',
          '    return event',
        ].join('\n'),
      },
      'app.handler',
    );
    await successThrowTooLarge(rt);
    await rt.waitForStderr(/Http response code: 413\./);
  });

  it('reports each kind of init error with its type, then exits', async () => {
    const cases: {
      files: Record<string, string>;
      handler: string;
      type: string;
      message: string | RegExp;
    }[] = [
      {
        files: { 'app.py': 'def handler(e, c):\n    return 1\n' },
        handler: 'missing.handler',
        type: 'Runtime.ImportModuleError',
        message: "Unable to import module 'missing': No module named 'missing'",
      },
      {
        files: { 'app.py': 'import not_installed_anywhere\n' },
        handler: 'app.handler',
        type: 'Runtime.ImportModuleError',
        message: "Unable to import module 'app': No module named 'not_installed_anywhere'",
      },
      {
        files: { 'app.py': 'def handler(e, c):\n    return 1\n' },
        handler: 'app.nope',
        type: 'Runtime.HandlerNotFound',
        message: "Handler 'nope' missing on module 'app'",
      },
      {
        files: { 'app.py': 'def handler(e, c):\n    return 1\n' },
        handler: 'app',
        type: 'Runtime.MalformedHandlerName',
        message: "Bad handler 'app': not enough values to unpack (expected 2, got 1)",
      },
      {
        files: { 'app.py': 'def handler(e, c:\n    return 1\n' },
        handler: 'app.handler',
        type: 'Runtime.UserCodeSyntaxError',
        message: /^Syntax error in module 'app': /,
      },
      {
        files: { 'app.py': 'raise RuntimeError("init failed")\n' },
        handler: 'app.handler',
        type: 'RuntimeError',
        message: 'init failed',
      },
    ];
    for (const c of cases) {
      const rt = await start('python', c.files, c.handler);
      const { errorType, body } = initError(await rt.server.waitReady());
      assert.equal(errorType, c.type, c.handler);
      assert.equal(body.errorType, c.type);
      if (typeof c.message === 'string') assert.equal(body.errorMessage, c.message);
      else assert.match(String(body.errorMessage), c.message);
      assert.equal(body.requestId, '');
      assert.ok(Array.isArray(body.stackTrace));
      assert.equal((await rt.exited).code, 1);
      assert.match(rt.stdout(), new RegExp(`\\[ERROR\\] ${c.type.replace('.', '\\.')}: `));
    }
  });

  it('talks TCP to AWS_LAMBDA_RUNTIME_API when KILN_RUNTIME_API_SOCKET is not set', async () => {
    const rt = await ready('python', { 'app.py': 'def handler(e, c):\n    return e\n' }, 'app.handler', {
      tcp: true,
    });
    assert.deepEqual(success(await rt.invoke({ via: 'tcp' })), { via: 'tcp' });
    assert.deepEqual(success(await rt.invoke({ again: true })), { again: true });
  });

  it('runs under -u, as the worker starts it, with output unbuffered', async () => {
    const files = { 'app.py': 'def handler(e, c):\n    print("unbuffered", end="")\n    return e\n' };
    const rt = await ready('python', files, 'app.handler', { pythonFlags: ['-u'] });
    assert.deepEqual(success(await rt.invoke({ u: true })), { u: true });
    // A block-buffered stdout would hold this until exit, and the runtime does not exit.
    await rt.waitForStdout(/^unbuffered$/);
  });
});
