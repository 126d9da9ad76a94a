// Kiln's Node.js runtime client. It runs inside the execution environment, loads the function's handler
// and serves invocations from the Lambda Runtime API (2018-06-01), behaving like Lambda's nodejs20.x
// runtime. Only node: builtins: nothing from the platform, no npm packages.
//
// Why one CommonJS file: cold start. On Node 20 an ES-module entry point costs ~10 ms more than a
// CommonJS one (the ESM loader is compiled and reads files asynchronously), and every extra module file
// costs about a millisecond more; both are a large share of a ~45 ms process start.
/* global __dirname, Buffer, console, module, process, require, setImmediate */
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS on purpose, see above */
'use strict';

const { connect } = require('node:net');
const { existsSync, readFileSync, writeSync } = require('node:fs');
const { basename, dirname, join, resolve } = require('node:path');
const { pathToFileURL } = require('node:url');
const { format, types } = require('node:util');

const env = process.env;

// ===== errors: the Runtime.* classes and the shapes Lambda posts and logs ===============================

class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {}
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    // Error(reason) stringifies it: a rejected Error becomes the message "Error: boom", as on Lambda.
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
for (const cls of [
  ImportModuleError,
  HandlerNotFound,
  MalformedHandlerName,
  UserCodeSyntaxError,
  UnhandledPromiseRejection,
]) {
  cls.prototype.name = `Runtime.${cls.name}`;
}

function looksLikeError(obj) {
  return (
    obj &&
    obj.name &&
    obj.message &&
    obj.stack &&
    typeof obj.name === 'string' &&
    typeof obj.message === 'string' &&
    typeof obj.stack === 'string'
  );
}

/** The body of /error and /init/error. Anything thrown that is not an Error has errorType = typeof it. */
function toRapidResponse(error) {
  try {
    if (types.isNativeError(error) || looksLikeError(error)) {
      return { errorType: error.name, errorMessage: error.message, trace: error.stack.split('\n') };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

const intoError = (err) => (err instanceof Error ? err : new Error(err));

/** The tab-prefixed JSON Lambda appends to "Invoke Error" / "Uncaught Exception" log lines. */
function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withEnumerableProperties(v));
  } catch {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

// name, message, code and stack are not enumerable, so JSON.stringify would drop them.
function withEnumerableProperties(error) {
  if (!(error instanceof Error)) return error;
  const ret = Object.assign({ errorType: error.name, errorMessage: error.message, code: error.code }, error);
  if (typeof error.stack === 'string') ret.stack = error.stack.split('\n');
  return ret;
}

// ===== console: one record per call on stdout ===========================================================
// "<ISO time>\t<request id>\t<LEVEL>\t<message>", or one JSON object with AWS_LAMBDA_LOG_FORMAT=JSON;
// "\n" inside a message becomes "\r" so that a multi-line message stays one record.

const LEVELS = {
  TRACE: { name: 'TRACE', priority: 1 },
  DEBUG: { name: 'DEBUG', priority: 2 },
  INFO: { name: 'INFO', priority: 3 },
  WARN: { name: 'WARN', priority: 4 },
  ERROR: { name: 'ERROR', priority: 5 },
  FATAL: { name: 'FATAL', priority: 6 },
};

// Libraries (e.g. Powertools) read the current request id from this well-known global.
const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');

let stdoutIsStream = false;
/**
 * Synchronous writes keep records in order and put them in the pipe before the response is posted. A
 * non-blocking stdout (EAGAIN) falls back to the stream, which queues instead.
 */
function writeOut(text) {
  if (stdoutIsStream) {
    process.stdout.write(text);
    return;
  }
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  try {
    while (off < buf.length) off += writeSync(1, buf, off);
  } catch (err) {
    if (err.code !== 'EAGAIN') throw err;
    stdoutIsStream = true;
    process.stdout.write(buf.subarray(off));
  }
}

function textRecord(level, message, ...params) {
  const line = `${new Date().toISOString()}\t${globalThis[REQUEST_ID]}\t${level.name}\t${format(message, ...params)}`;
  writeOut(line.replace(/\n/g, '\r') + '\n');
}

function jsonErrorReplacer(_key, value) {
  if (!(value instanceof Error)) return value;
  return Object.assign(
    {
      errorType: value?.constructor?.name ?? 'UnknownError',
      errorMessage: value.message,
      stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
    },
    value,
  );
}

function jsonRecord(level, ...params) {
  const record = {
    timestamp: new Date().toISOString(),
    level: level.name,
    requestId: globalThis[REQUEST_ID],
  };
  let line;
  if (params.length === 1) {
    record.message = params[0];
    try {
      line = JSON.stringify(record, jsonErrorReplacer);
    } catch {
      record.message = format(record.message);
      line = JSON.stringify(record);
    }
  } else {
    record.message = format(...params);
    const error = params.find((p) => p instanceof Error);
    if (error) {
      record.errorType = error?.constructor?.name ?? 'UnknownError';
      record.errorMessage = error.message;
      record.stackTrace = typeof error.stack === 'string' ? error.stack.split('\n') : [];
    }
    line = JSON.stringify(record);
  }
  writeOut(line.replace(/\n/g, '\r') + '\n');
}

/** Logs an error the runtime reports ("Invoke Error", "Uncaught Exception") the way Lambda formats it. */
let logError = () => {};

function patchConsole() {
  const json = env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';
  const record = json ? jsonRecord : textRecord;
  const min = (LEVELS[env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase()] ?? LEVELS.TRACE).priority;
  const nop = () => {};
  const at = (level) => (level.priority >= min ? (msg, ...params) => record(level, msg, ...params) : nop);
  console.trace = at(LEVELS.TRACE);
  console.debug = at(LEVELS.DEBUG);
  console.info = at(LEVELS.INFO);
  console.log = console.info;
  console.warn = at(LEVELS.WARN);
  console.error = at(LEVELS.ERROR);
  console.fatal = (msg, ...params) => record(LEVELS.FATAL, msg, ...params);
  const error = console.error;
  logError = json
    ? (_msg, err) => error(intoError(err))
    : (msg, err) => error(msg, toFormatted(intoError(err)));
}

// ===== handler loading: "[path/]module.function[.nested]", file lookup in Lambda's order ================

const FUNCTION_EXPR = /^([^.]*)\.(.*)$/;

function tryRequireFile(file, extension = '') {
  const path = file + extension;
  return existsSync(path) ? require(path) : undefined;
}

async function tryImport(file, extension) {
  const path = file + extension;
  return existsSync(path) ? import(pathToFileURL(path).href) : undefined;
}

/** True when the nearest package.json above `folder` says "type": "module" (node_modules stops the walk). */
function folderIsModule(folder) {
  for (;;) {
    if (folder.endsWith('/node_modules')) return false;
    const pj = join(folder, 'package.json');
    if (existsSync(pj)) {
      try {
        return JSON.parse(readFileSync(pj, 'utf8'))?.type === 'module';
      } catch (e) {
        console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
        return false;
      }
    }
    const parent = resolve(folder, '..');
    if (parent === folder) return false;
    folder = parent;
  }
}

async function loadModule(appRoot, moduleRoot, module) {
  const lambdaStylePath = resolve(appRoot, moduleRoot, module);
  const extensionless = tryRequireFile(lambdaStylePath);
  if (extensionless) return extensionless;
  const isModule = folderIsModule(dirname(lambdaStylePath));
  if (!isModule) {
    const loaded = tryRequireFile(lambdaStylePath, '.js');
    if (loaded) return loaded;
  }
  const loaded =
    (isModule && (await tryImport(lambdaStylePath, '.js'))) ||
    (await tryImport(lambdaStylePath, '.mjs')) ||
    tryRequireFile(lambdaStylePath, '.cjs');
  if (loaded) return loaded;
  // Last resort, as on Lambda: Node's own resolution from the task root (a package in node_modules, a
  // directory with index.js). Its "Cannot find module" becomes the ImportModuleError message.
  return require(require.resolve(module, { paths: [appRoot, moduleRoot] }));
}

async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const handlerString = basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(handlerString));
  const match = handlerString.match(FUNCTION_EXPR);
  if (!match || match.length !== 3) throw new MalformedHandlerName('Bad handler');
  const [, module, handlerPath] = match;

  let userApp;
  try {
    userApp = await loadModule(appRoot, moduleRoot, module);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    if (e?.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e);
    throw e;
  }
  const handler = handlerPath.split('.').reduce((nested, key) => nested && nested[key], userApp);
  if (!handler) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return handler;
}

// ===== Runtime API client ==============================================================================
// A minimal HTTP/1.1 client on node:net rather than node:http: one local endpoint, one request at a time,
// and skipping node:http and its parser is measurable on every cold start.

const API = '/2018-06-01/runtime';
const CRLF_CRLF = Buffer.from('\r\n\r\n');
// Characters Node's own http client refuses in header values.
const INVALID_HEADER_CHARS = /[^\t\x20-\x7e\x80-\xff]/g;

function serialize(value) {
  try {
    return JSON.stringify(value === undefined ? null : value);
  } catch {
    throw new Error('Unable to stringify response body');
  }
}

function logRuntimeError(message) {
  process.stderr.write(`[ERROR] [${Date.now()}] LAMBDA_RUNTIME ${message}\n`);
}

class RapidClient {
  /** @param {{ socketPath?: string, host?: string, port?: number }} endpoint */
  constructor(endpoint) {
    this.endpoint = endpoint;
    this.hostHeader = endpoint.socketPath ? 'localhost' : `${endpoint.host}:${endpoint.port}`;
    /** The keep-alive connection; undefined until first used, replaced once it closed. */
    this.conn = undefined;
    this.nextRequest = `GET ${API}/invocation/next HTTP/1.1\r\nHost: ${this.hostHeader}\r\n\r\n`;
  }

  /** Long-polls for the next event: { body: string, headers: lower-cased names }. */
  async nextInvocation() {
    const res = await this.exchange('GET', this.nextRequest);
    if (res.status !== 200) {
      throw new Error(`Runtime API /next answered ${res.status}: ${res.body.toString('utf8')}`);
    }
    return { body: res.body.toString('utf8'), headers: res.headers };
  }

  /** Serialises synchronously, throwing into the caller like Lambda's client does, then posts. */
  postInvocationResponse(result, id) {
    const body = serialize(result);
    return this.post(`${API}/invocation/${encodeURIComponent(id)}/response`, body, undefined, 'success');
  }

  postInvocationError(rapidResponse, id) {
    const body = serialize(rapidResponse);
    return this.post(
      `${API}/invocation/${encodeURIComponent(id)}/error`,
      body,
      rapidResponse.errorType,
      'error',
    );
  }

  postInitError(rapidResponse) {
    return this.post(`${API}/init/error`, serialize(rapidResponse), rapidResponse.errorType, 'init error');
  }

  /**
   * Never rejects. A refused post is the platform's business (it turns a 413 into an error result), so,
   * like Lambda's client, log and carry on; a dead endpoint surfaces at the next /next.
   */
  async post(path, body, errorType, what) {
    let head = 'Content-Type: application/json\r\n';
    if (errorType !== undefined) {
      head += `Lambda-Runtime-Function-Error-Type: ${String(errorType).replace(INVALID_HEADER_CHARS, '')}\r\n`;
    }
    try {
      const res = await this.request('POST', path, head, body);
      if (res.status >= 300)
        logRuntimeError(`Failed to post handler ${what} response. Http response code: ${res.status}.`);
    } catch (err) {
      logRuntimeError(`Failed to post handler ${what} response: ${err.message}`);
    }
  }

  /**
   * One request on the shared keep-alive connection when it is idle; a request made while it is busy (an
   * error posted while /next is pending) gets a connection of its own. `head` is extra header lines.
   */
  request(method, path, head = '', body = '') {
    // One string, written as is: the socket encodes it straight into its write, with no Buffers of ours.
    let raw = `${method} ${path} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n${head}`;
    if (method !== 'GET' || body.length > 0) raw += `Content-Length: ${Buffer.byteLength(body, 'utf8')}\r\n`;
    return this.exchange(method, raw + '\r\n' + body);
  }

  async exchange(_method, raw) {
    if (this.conn && !this.conn.busy && !this.conn.closed) {
      try {
        return await this.conn.send(raw);
      } catch (err) {
        // The server may drop an idle keep-alive connection just as it is reused; it processed nothing
        // then, so one retry on a fresh connection is safe.
        if (!err.beforeResponse) throw err;
      }
    }
    const fresh = new Connection(this.endpoint);
    if (!this.conn || this.conn.closed) this.conn = fresh;
    try {
      return await fresh.send(raw);
    } finally {
      if (fresh !== this.conn) fresh.close();
    }
  }
}

/** One socket, at most one request in flight, the response parsed as it streams in. */
class Connection {
  constructor(endpoint) {
    this.busy = false;
    this.closed = false;
    this.pending = undefined;
    this.parser = undefined;
    this.socket = endpoint.socketPath
      ? connect({ path: endpoint.socketPath })
      : connect({ host: endpoint.host, port: endpoint.port, noDelay: true });
    this.socket.on('data', (chunk) => this.onData(chunk));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error('Runtime API connection closed')));
  }

  send(raw) {
    this.busy = true;
    // Only a request in flight may keep the process alive. An idle connection must let the event loop
    // drain, or callbackWaitsForEmptyEventLoop would never see it empty.
    this.socket.ref();
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, gotBytes: false };
      this.parser = new ResponseParser();
      this.socket.write(raw);
    });
  }

  close() {
    this.closed = true;
    this.socket.destroy();
  }

  onData(chunk) {
    if (!this.pending) return;
    this.pending.gotBytes = true;
    let res;
    try {
      res = this.parser.push(chunk);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (res) this.finish(res);
  }

  onEnd() {
    if (this.pending && this.parser.untilClose) this.finish(this.parser.endOfStream());
    else this.fail(new Error('Runtime API closed the connection'));
  }

  finish(res) {
    const { resolve } = this.pending;
    this.pending = undefined;
    this.busy = false;
    if (res.close || this.parser.extra) this.close();
    else this.socket.unref();
    resolve(res);
  }

  fail(err) {
    this.closed = true;
    this.busy = false;
    this.socket.destroy();
    if (!this.pending) return;
    const { reject, gotBytes } = this.pending;
    this.pending = undefined;
    err.beforeResponse = !gotBytes;
    reject(err);
  }
}

/** Incremental parser for one HTTP/1.1 response: Content-Length, chunked or read-until-close bodies. */
class ResponseParser {
  constructor() {
    // Usually a whole response arrives in one chunk; buf is only kept when it does not.
    this.buf = undefined;
    this.head = undefined;
    this.mode = undefined;
    this.remaining = 0;
    this.chunkLeft = undefined;
    this.inTrailers = false;
    this.bodyChunks = undefined;
    this.untilClose = false;
    this.extra = false;
  }

  /** The response once complete, else undefined. */
  push(chunk) {
    let buf = this.buf === undefined ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.head === undefined) {
      const end = buf.indexOf(CRLF_CRLF);
      if (end < 0) {
        if (buf.length > 1 << 20) throw new Error('Runtime API response head too large');
        this.buf = buf;
        return undefined;
      }
      // The server sends non-ASCII header text (client context JSON) as its UTF-8 bytes.
      this.head = parseHead(buf.toString('utf8', 0, end));
      buf = buf.subarray(end + 4);
      const te = this.head.headers['transfer-encoding'];
      const cl = this.head.headers['content-length'];
      if (te !== undefined && /chunked/i.test(te)) {
        this.mode = 'chunked';
        this.bodyChunks = [];
      } else if (cl !== undefined) {
        this.mode = 'length';
        this.remaining = Number.parseInt(cl, 10);
        if (!(this.remaining >= 0)) throw new Error(`Bad Content-Length from Runtime API: ${cl}`);
      } else if (this.head.status === 204 || this.head.status === 304) {
        this.mode = 'length';
        this.remaining = 0;
      } else {
        this.mode = 'close';
        this.untilClose = true;
        this.bodyChunks = [];
      }
    }
    this.buf = buf;
    if (this.mode === 'length') {
      if (buf.length < this.remaining) return undefined;
      this.extra = buf.length > this.remaining;
      return this.result(this.extra ? buf.subarray(0, this.remaining) : buf);
    }
    if (this.mode === 'chunked') return this.pushChunked();
    this.bodyChunks.push(buf);
    this.buf = undefined;
    return undefined;
  }

  pushChunked() {
    for (;;) {
      const eol = this.buf.indexOf('\r\n');
      if (this.inTrailers) {
        if (eol < 0) return undefined;
        this.buf = this.buf.subarray(eol + 2);
        if (eol === 0) {
          this.extra = this.buf.length > 0;
          return this.result(Buffer.concat(this.bodyChunks));
        }
        continue;
      }
      if (this.chunkLeft === undefined) {
        if (eol < 0) return undefined;
        const size = Number.parseInt(this.buf.subarray(0, eol).toString('latin1'), 16);
        if (Number.isNaN(size)) throw new Error('Bad chunk size from Runtime API');
        this.buf = this.buf.subarray(eol + 2);
        if (size === 0) this.inTrailers = true;
        else this.chunkLeft = size;
        continue;
      }
      if (this.buf.length < this.chunkLeft + 2) return undefined;
      this.bodyChunks.push(this.buf.subarray(0, this.chunkLeft));
      this.buf = this.buf.subarray(this.chunkLeft + 2);
      this.chunkLeft = undefined;
    }
  }

  endOfStream() {
    if (this.buf !== undefined) this.bodyChunks.push(this.buf);
    return { ...this.result(Buffer.concat(this.bodyChunks)), close: true };
  }

  result(body) {
    const { status, headers } = this.head;
    const connection = headers.connection;
    return { status, headers, body, close: connection !== undefined && /close/i.test(connection) };
  }
}

const STATUS_LINE = /^HTTP\/1\.[01] \d\d\d/;

/** Status and lower-cased headers, walking the text once rather than splitting it into lines. */
function parseHead(text) {
  if (!STATUS_LINE.test(text)) {
    throw new Error(`Bad status line from Runtime API: ${JSON.stringify(text.split('\r\n', 1)[0])}`);
  }
  const status = (text.charCodeAt(9) - 48) * 100 + (text.charCodeAt(10) - 48) * 10 + text.charCodeAt(11) - 48;
  const headers = {};
  let eol = text.indexOf('\r\n');
  while (eol >= 0) {
    const start = eol + 2;
    eol = text.indexOf('\r\n', start);
    const end = eol < 0 ? text.length : eol;
    const colon = text.indexOf(':', start);
    if (colon <= start || colon >= end) continue;
    const name = text.slice(start, colon).trim().toLowerCase();
    const value = text.slice(colon + 1, end).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status, headers };
}

// ===== the invocation loop ==============================================================================

function runtimeEndpoint() {
  const socketPath = env.KILN_RUNTIME_API_SOCKET;
  // The socket is Kiln's private fast path; the function's code sees only Lambda's variables.
  delete env.KILN_RUNTIME_API_SOCKET;
  if (socketPath) return { socketPath };
  const api = env.AWS_LAMBDA_RUNTIME_API ?? '';
  const colon = api.lastIndexOf(':');
  if (colon < 0) throw new Error(`AWS_LAMBDA_RUNTIME_API must be host:port, got ${JSON.stringify(api)}`);
  const host = api.slice(0, colon);
  const bracketed = host.startsWith('[') && host.endsWith(']');
  return { host: bracketed ? host.slice(1, -1) : host, port: Number(api.slice(colon + 1)) };
}

let client = new RapidClient(runtimeEndpoint());
const EXIT_UNCAUGHT = 129;
const EXIT_REJECTION = 128;
let handler;

// One 'beforeExit' listener slot. Node emits 'beforeExit' once the event loop has nothing left to do; the
// runtime's connection is unref'd while a handler runs, so that moment means "the function's work is done".
const noop = () => {};
let beforeExit = noop;

let exiting = false;
function exitAfter(post, code) {
  if (exiting) return;
  exiting = true;
  post.finally(() => process.exit(code));
}

// Until the first invocation a crash is an init error; from then on it fails the current invocation.
let errorCallbacks = {
  uncaughtException: (error) => exitAfter(client.postInitError(toRapidResponse(error)), EXIT_UNCAUGHT),
  unhandledRejection: (error) => exitAfter(client.postInitError(toRapidResponse(error)), EXIT_REJECTION),
};

function setErrorCallbacks(id) {
  errorCallbacks = {
    uncaughtException: (error) =>
      exitAfter(client.postInvocationError(toRapidResponse(error), id), EXIT_UNCAUGHT),
    unhandledRejection: (error) =>
      exitAfter(client.postInvocationError(toRapidResponse(error), id), EXIT_REJECTION),
  };
}

function fatal(err) {
  process.stderr.write(`Kiln runtime: ${err?.stack ?? err}\n`);
  process.exit(1);
}

function scheduleNext() {
  if (rehearsal !== undefined) {
    rehearsal();
    return;
  }
  setImmediate(() => handleOnce().catch(fatal));
}

/**
 * The callback, and the succeed/fail/done part of the context, of one invocation. Only the first call of
 * any of them counts. Errors are posted at once; a callback success waits for the event loop to drain
 * unless callbackWaitsForEmptyEventLoop was set to false.
 */
function buildCallbackContext(id) {
  const postError = (err) => {
    logError('Invoke Error', err);
    client.postInvocationError(toRapidResponse(err), id).then(scheduleNext);
  };
  let completed = false;
  const complete = (result) => {
    if (completed) {
      console.error(
        'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
      );
      return;
    }
    completed = true;
    // An unserialisable result throws here, into whoever completed the invocation, as on Lambda.
    client.postInvocationResponse(result, id).then(scheduleNext);
  };
  let waitForEmptyEventLoop = true;
  const callback = (err, result) => {
    beforeExit = noop;
    if (err !== undefined && err !== null) postError(err);
    else if (!waitForEmptyEventLoop) complete(result);
    else beforeExit = () => setImmediate(() => complete(result));
  };
  const done = (err, result) => {
    beforeExit = noop;
    if (err !== undefined && err !== null) postError(err);
    else complete(result);
  };
  let finished = false;
  const firstCallOnly =
    (fn) =>
    (...args) => {
      if (finished) return;
      fn(...args);
      finished = true;
    };
  const context = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed: firstCallOnly((result) => done(null, result)),
    fail: firstCallOnly((err) => (err === undefined || err === null ? done('handled') : done(err, null))),
    done: firstCallOnly(done),
  };
  const markCompleted = () => {
    completed = true;
  };
  return [firstCallOnly(callback), context, markCompleted];
}

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

function attachEnvironmentData(context, headers) {
  const trace = headers['lambda-runtime-trace-id'];
  if (trace) env._X_AMZN_TRACE_ID = trace;
  else delete env._X_AMZN_TRACE_ID;
  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  return Object.assign(context, {
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
    identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    tenantId: headers['lambda-runtime-aws-tenant-id'],
    getRemainingTimeInMillis: () => deadline - Date.now(),
  });
}

async function handleOnce() {
  const { body, headers } = await client.nextInvocation();
  const id = headers['lambda-runtime-aws-request-id'];
  if (!id) throw new Error('Runtime API sent an invocation without Lambda-Runtime-Aws-Request-Id');
  globalThis[REQUEST_ID] = id;
  const [callback, callbackContext, markCompleted] = buildCallbackContext(id);
  try {
    setErrorCallbacks(id);
    // A handler that neither returns a promise nor calls back succeeds with null once the loop drains.
    beforeExit = () => {
      markCompleted();
      client.postInvocationResponse(null, id).then(scheduleNext);
    };
    const context = attachEnvironmentData(callbackContext, headers);
    const result = handler(JSON.parse(body), context, callback);
    if (result && typeof result.then === 'function') {
      result.then(callbackContext.succeed, callbackContext.fail).catch(callbackContext.fail);
    }
  } catch (err) {
    callback(err);
  }
}

// ===== start ==============================================================================================

function start() {
  patchConsole();
  process.on('beforeExit', () => beforeExit());
  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', error);
    errorCallbacks.unhandledRejection(error);
  });
  // An ES module whose top-level await never settles leaves nothing to run: say so, as Node would (13).
  beforeExit = () => {
    process.stderr.write("Warning: Detected unsettled top-level await in the function's module\n");
    process.exit(13);
  };
  loadHandler(env.LAMBDA_TASK_ROOT || process.cwd(), env._HANDLER ?? '').then(
    (fn) => {
      beforeExit = noop;
      handler = fn;
      scheduleNext();
    },
    (error) => {
      beforeExit = noop;
      logError('Uncaught Exception', error);
      errorCallbacks.uncaughtException(error);
    },
  );
}

// ===== rehearsal (pre-initialised environments only) =====================================================
// V8 compiles a function on its first call, and Node's module loader warms its caches on first use: done for
// the first time inside a function's cold start, that is milliseconds of its INIT and first invocation. A zygote
// therefore loads a bundled no-op handler through the same lookup as a function's, then runs one invocation of
// it through the real invocation code against canned Runtime API answers, before it asks for its function.
// Nothing of it stays visible: no I/O, no console output (the console is patched only later), the module is
// dropped from the require cache, and every piece of per-invocation state is put back.

/** Set while rehearsing: called where the loop would fetch the next invocation. */
let rehearsal;

class RehearsalClient extends RapidClient {
  constructor() {
    super({ socketPath: '/' });
  }

  exchange(method) {
    const body = method === 'GET' ? '{}' : '{"status":"OK"}';
    const head =
      method === 'GET'
        ? 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: rehearsal\r\n' +
          `Lambda-Runtime-Deadline-Ms: ${Date.now() + 60_000}\r\n` +
          'Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:rehearsal\r\n'
        : 'HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n';
    const res = new ResponseParser().push(
      Buffer.from(`${head}Content-Length: ${body.length}\r\n\r\n${body}`),
    );
    return Promise.resolve(res);
  }
}

async function rehearse() {
  const dir = join(__dirname, 'rehearsal');
  const file = join(dir, 'index.cjs');
  const real = client;
  const initCallbacks = errorCallbacks;
  try {
    handler = await loadHandler(dir, 'index.handler');
    Reflect.deleteProperty(require.cache, file);
    const children = module.children;
    for (let i = children.length - 1; i >= 0; i--) if (children[i].id === file) children.splice(i, 1);
    client = new RehearsalClient();
    await new Promise((resolve, reject) => {
      rehearsal = resolve;
      handleOnce().catch(reject);
    });
  } finally {
    rehearsal = undefined;
    client = real;
    handler = undefined;
    errorCallbacks = initCallbacks;
    beforeExit = noop;
    Reflect.deleteProperty(globalThis, REQUEST_ID);
  }
}

// A pre-initialised environment (a zygote): Node and this client are loaded before any function exists. Kiln
// answers the one specialisation poll once it has mounted the function's code at /var/task and set its memory
// limit; the answer is the function's environment, exactly what a cold start gets, which replaces this process's
// own before anything reads it. Then everything proceeds as on a cold start.
function specialize(answer) {
  if (answer.status !== 200) {
    throw new Error(
      `Kiln answered the specialisation poll with ${answer.status}: ${answer.body.toString('utf8')}`,
    );
  }
  const next = JSON.parse(answer.body.toString('utf8')).env;
  // process.env is the process's environment itself: deleting a name unsets the variable. Only what differs
  // changes: assigning TZ, even its same value, makes Node reset ICU's time zone, which costs tens of ms.
  for (const name of Object.keys(env)) {
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
    if (!Object.hasOwn(next, name)) delete env[name];
  }
  for (const name of Object.keys(next)) if (env[name] !== next[name]) env[name] = next[name];
  delete env.KILN_RUNTIME_API_SOCKET;
  // NODE_PATH is read once at startup; read it again as a cold start would have.
  require('node:module')._initPaths();
  // The working directory is still the empty directory the code was mounted over.
  process.chdir(env.LAMBDA_TASK_ROOT || '/var/task');
}

if (env.KILN_ZYGOTE === '1') {
  rehearse()
    .then(() => client.request('GET', '/kiln/zygote/specialization'))
    .then((answer) => {
      specialize(answer);
      start();
    })
    .catch(fatal);
} else {
  start();
}
