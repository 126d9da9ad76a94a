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

const { connect, createServer } = require('node:net');
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

  // Callbacks rather than promises from here down: a warm invocation makes four requests' worth of promise
  // reactions and microtask hops otherwise, each of them memory to allocate and code to run.

  /** Long-polls for the next event: calls back with (err) or (undefined, { status, headers, body }). */
  nextInvocation(cb) {
    this.exchange('GET', this.nextRequest, (err, res) => cb(nextError(err, res), res));
  }

  /**
   * Serialises synchronously, throwing into the caller like Lambda's client does, then posts. With `next`,
   * asks for the next invocation right behind the post (see post); else calls `then` once it is over.
   */
  postInvocationResponse(result, id, next, then) {
    const body = serialize(result);
    this.post(`${API}/invocation/${encodeURIComponent(id)}/response`, body, undefined, 'success', next, then);
  }

  postInvocationError(rapidResponse, id, next, then) {
    const body = serialize(rapidResponse);
    this.post(
      `${API}/invocation/${encodeURIComponent(id)}/error`,
      body,
      rapidResponse.errorType,
      'error',
      next,
      then,
    );
  }

  postInitError(rapidResponse, then) {
    const body = serialize(rapidResponse);
    this.post(`${API}/init/error`, body, rapidResponse.errorType, 'init error', undefined, then);
  }

  /**
   * A refused post is the platform's business (it turns a 413 into an error result), so, like Lambda's
   * client, log and carry on; a dead endpoint surfaces at the next /next.
   *
   * With `next`, the GET /next goes out on the same connection right behind the post instead of once its 202
   * is in: one write, and the server reads both at one wake-up, and often answers both at one wake-up of
   * ours. Both RAPID and Kiln's server take a connection's requests one after the other, so the /next is
   * handled once the post is. Should the connection fail before the post is answered, the post is made again
   * on a fresh one and only then the /next, as without pipelining.
   */
  post(path, body, errorType, what, next, then) {
    let head = 'Content-Type: application/json\r\n';
    if (errorType !== undefined) {
      head += `Lambda-Runtime-Function-Error-Type: ${String(errorType).replace(INVALID_HEADER_CHARS, '')}\r\n`;
    }
    const raw = this.requestText('POST', path, head, body);
    const report = (err, res) => {
      if (err !== undefined) logRuntimeError(`Failed to post handler ${what} response: ${err.message}`);
      else if (res.status >= 300)
        logRuntimeError(`Failed to post handler ${what} response. Http response code: ${res.status}.`);
    };
    const conn = this.conn;
    if (next === undefined || conn === undefined || conn.busy || conn.closed) {
      this.exchange('POST', raw, (err, res) => {
        report(err, res);
        if (next === undefined) then();
        else this.nextInvocation(next);
      });
      return;
    }
    let again = false;
    // One write for both, so that the server finds them together.
    conn.send(raw + this.nextRequest, (err, res) => {
      if (err !== undefined && err.beforeResponse) {
        again = true;
        this.exchangeFresh(raw, (err2, res2) => {
          report(err2, res2);
          this.nextInvocation(next);
        });
      } else {
        report(err, res);
      }
    });
    conn.expect((err, res) => {
      if (again) return;
      // The post was answered (its callback ran first), so asking again elsewhere cannot overtake it.
      if (err !== undefined && err.beforeResponse) this.nextInvocation(next);
      else next(nextError(err, res), res);
    });
  }

  /**
   * The text of one request; `head` is extra header lines. One string, written as is: the socket encodes it
   * straight into its write, with no Buffers of ours.
   */
  requestText(method, path, head, body) {
    let raw = `${method} ${path} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n${head}`;
    if (method !== 'GET' || body.length > 0) raw += `Content-Length: ${Buffer.byteLength(body, 'utf8')}\r\n`;
    return raw + '\r\n' + body;
  }

  /**
   * One request on the shared keep-alive connection when it is idle; a request made while it is busy (an
   * error posted while /next is pending) gets a connection of its own.
   */
  request(method, path, head, body, cb) {
    this.exchange(method, this.requestText(method, path, head, body), cb);
  }

  exchange(_method, raw, cb) {
    const conn = this.conn;
    if (conn === undefined || conn.busy || conn.closed) {
      this.exchangeFresh(raw, cb);
      return;
    }
    conn.send(raw, (err, res) => {
      // The server may drop an idle keep-alive connection just as it is reused; it processed nothing
      // then, so one retry on a fresh connection is safe.
      if (err !== undefined && err.beforeResponse) this.exchangeFresh(raw, cb);
      else cb(err, res);
    });
  }

  exchangeFresh(raw, cb) {
    const fresh = new Connection(this.endpoint);
    if (!this.conn || this.conn.closed) this.conn = fresh;
    fresh.send(raw, (err, res) => {
      if (fresh !== this.conn) fresh.close();
      cb(err, res);
    });
  }
}

function nextError(err, res) {
  if (err !== undefined || res.status === 200) return err;
  return new Error(`Runtime API /next answered ${res.status}: ${res.body.toString('utf8')}`);
}

/**
 * One socket and the requests written on it, answered in order (HTTP/1.1 pipelining); each response is
 * parsed as it streams in.
 */
class Connection {
  constructor(endpoint) {
    this.busy = false;
    this.closed = false;
    /** The callbacks of the requests in flight, oldest first. */
    this.waiting = [];
    /** Whether any of the oldest request's answer has arrived. */
    this.gotBytes = false;
    this.parser = undefined;
    this.socket = endpoint.socketPath
      ? connect({ path: endpoint.socketPath })
      : connect({ host: endpoint.host, port: endpoint.port, noDelay: true });
    this.socket.on('data', (chunk) => this.onData(chunk));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error('Runtime API connection closed')));
  }

  send(raw, cb) {
    if (this.waiting.length === 0) {
      this.busy = true;
      // Only a request in flight may keep the process alive. An idle connection must let the event loop
      // drain, or callbackWaitsForEmptyEventLoop would never see it empty.
      this.socket.ref();
      this.gotBytes = false;
      this.parser = new ResponseParser();
    }
    this.waiting.push(cb);
    this.socket.write(raw);
  }

  /** For a request written along with the one sent last. */
  expect(cb) {
    this.waiting.push(cb);
  }

  close() {
    this.closed = true;
    this.socket.destroy();
  }

  onData(chunk) {
    let data = chunk;
    while (data !== undefined && this.waiting.length > 0) {
      this.gotBytes = true;
      let res;
      try {
        res = this.parser.push(data);
      } catch (err) {
        this.fail(err);
        return;
      }
      if (res === undefined) return;
      data = this.parser.rest();
      this.deliver(res, data !== undefined);
      if (this.closed) return;
    }
  }

  onEnd() {
    if (this.waiting.length > 0 && this.parser.untilClose) this.deliver(this.parser.endOfStream(), false);
    else this.fail(new Error('Runtime API closed the connection'));
  }

  /** Hands the oldest request its response; `more` says bytes past it arrived. */
  deliver(res, more) {
    const cb = this.waiting.shift();
    this.gotBytes = false;
    if (this.waiting.length > 0) {
      this.parser = new ResponseParser();
      if (res.close) this.close();
    } else {
      this.busy = false;
      // Bytes nobody asked for: the connection is out of step.
      if (res.close || more) this.close();
      else this.socket.unref();
    }
    cb(undefined, res);
  }

  fail(err) {
    this.closed = true;
    this.busy = false;
    this.socket.destroy();
    const waiting = this.waiting;
    if (waiting.length === 0) return;
    this.waiting = [];
    err.beforeResponse = !this.gotBytes;
    waiting[0](err);
    for (let i = 1; i < waiting.length; i++) {
      const later = new Error(err.message);
      later.beforeResponse = true;
      waiting[i](later);
    }
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

  /** Bytes past the complete response: the start of the next one, if any. */
  rest() {
    if (!this.extra) return undefined;
    return this.mode === 'length' ? this.buf.subarray(this.remaining) : this.buf;
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

/** The invocation in flight, for crash reports; undefined until the first (a crash then is an init error). */
let currentId;

let exiting = false;
/** Posts a crash as the current invocation's error (or the init error), then exits; the first crash decides. */
function crash(error, code) {
  const exit = exiting ? noop : () => process.exit(code);
  exiting = true;
  const rapidResponse = toRapidResponse(error);
  if (currentId === undefined) client.postInitError(rapidResponse, exit);
  else client.postInvocationError(rapidResponse, currentId, undefined, exit);
}

function fatal(err) {
  process.stderr.write(`Kiln runtime: ${err?.stack ?? err}\n`);
  process.exit(1);
}

/**
 * What follows an invocation's post: the next invocation, asked for right behind it (see RapidClient.post).
 * Straight on, not through setImmediate: the answer comes in a later turn of the event loop anyway.
 */
function postResponse(result, id) {
  client.postInvocationResponse(result, id, rehearsal ?? invoke);
}

function postError(rapidResponse, id) {
  client.postInvocationError(rapidResponse, id, rehearsal ?? invoke);
}

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

/**
 * Runs one invocation. The callback, and the succeed/fail/done part of the context: only the first call of
 * any of them counts (one that throws, as an unserialisable result does, does not count). Errors are posted at
 * once; a callback success waits for the event loop to drain unless callbackWaitsForEmptyEventLoop was set to
 * false. A handler that neither returns a promise nor calls back succeeds with null once the loop drains.
 */
function invoke(err, res) {
  if (err !== undefined) {
    fatal(err);
    return;
  }
  const headers = res.headers;
  const id = headers['lambda-runtime-aws-request-id'];
  if (!id) {
    fatal(new Error('Runtime API sent an invocation without Lambda-Runtime-Aws-Request-Id'));
    return;
  }
  globalThis[REQUEST_ID] = id;
  currentId = id;

  let completed = false;
  const reportError = (error) => {
    logError('Invoke Error', error);
    postError(toRapidResponse(error), id);
  };
  const complete = (result) => {
    if (completed) {
      console.error(
        'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
      );
      return;
    }
    completed = true;
    // An unserialisable result throws here, into whoever completed the invocation, as on Lambda.
    postResponse(result, id);
  };
  const done = (error, result) => {
    beforeExit = noop;
    if (error !== undefined && error !== null) reportError(error);
    else complete(result);
  };
  let waitForEmptyEventLoop = true;
  let finished = false;
  const callback = (error, result) => {
    if (finished) return;
    beforeExit = noop;
    if (error !== undefined && error !== null) reportError(error);
    else if (!waitForEmptyEventLoop) complete(result);
    else beforeExit = () => setImmediate(() => complete(result));
    finished = true;
  };
  const succeed = (result) => {
    if (finished) return;
    done(null, result);
    finished = true;
  };
  const fail = (error) => {
    if (finished) return;
    if (error === undefined || error === null) done('handled');
    else done(error, null);
    finished = true;
  };

  try {
    beforeExit = () => {
      completed = true;
      postResponse(null, id);
    };
    const trace = headers['lambda-runtime-trace-id'];
    if (trace) env._X_AMZN_TRACE_ID = trace;
    else delete env._X_AMZN_TRACE_ID;
    const deadline = Number(headers['lambda-runtime-deadline-ms']);
    const clientContext = parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext');
    const identity = parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity');
    // One literal, in the order of Lambda's context object, rather than properties added to it one by one.
    const context = {
      get callbackWaitsForEmptyEventLoop() {
        return waitForEmptyEventLoop;
      },
      set callbackWaitsForEmptyEventLoop(value) {
        waitForEmptyEventLoop = value;
      },
      succeed,
      fail,
      done: (error, result) => {
        if (finished) return;
        done(error, result);
        finished = true;
      },
      functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
      functionName: env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
      clientContext,
      identity,
      invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
      awsRequestId: id,
      tenantId: headers['lambda-runtime-aws-tenant-id'],
      getRemainingTimeInMillis: () => deadline - Date.now(),
    };
    const result = handler(JSON.parse(res.body.toString('utf8')), context, callback);
    if (result && typeof result.then === 'function') result.then(succeed, fail).catch(fail);
  } catch (error) {
    callback(error);
  }
}

// ===== start ==============================================================================================

function start() {
  patchConsole();
  process.on('beforeExit', () => beforeExit());
  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    crash(error, EXIT_UNCAUGHT);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', error);
    crash(error, EXIT_REJECTION);
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
      client.nextInvocation(invoke);
    },
    (error) => {
      beforeExit = noop;
      logError('Uncaught Exception', error);
      crash(error, EXIT_UNCAUGHT);
    },
  );
}

// ===== rehearsal (pre-initialised environments only) =====================================================
// V8 compiles a function on its first call and its inline caches learn on the first few; Node's module loader,
// streams and socket code warm up on first use. Done for the first time inside a function's cold start, that
// is milliseconds of its INIT and first invocations. A zygote therefore goes through cold starts of a bundled
// no-op function before it asks for its own, through the same code: a specialisation answer and the variables
// swapped, the handler's file looked up and required from a real directory with a package.json, then a few
// invocations, each post with its pipelined /next, read and written by the real client on a real unix socket.
// The Runtime API it talks to is a canned one inside this process, on an abstract socket: no file, and in the
// sandbox's own network namespace nothing else can reach it. Nothing of it stays visible: no output (the
// console is patched only later), the module is dropped from the loader's caches, per-invocation state is put
// back, its connection and server are closed before the real poll, and the variables it set (and the trace id)
// go when the real specialisation replaces the whole environment.

// Each code path is then a few runs old rather than one: measurably faster again, for ~8 ms more zygote start.
const REHEARSALS = 3;
const REHEARSAL_INVOCATIONS = 3;
const SPECIALIZATION_PATH = '/kiln/zygote/specialization';

/** Set while rehearsing: gets the answers to the /next asked for behind each post, in invoke's place. */
let rehearsal;

/** Answers each request as it arrives, in order: the client pipelines, and Kiln answers that way too. */
function rehearsalConnection(socket) {
  let pending = '';
  let invocations = 0;
  const reply = (status, head, body) =>
    `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `${head}Date: ${new Date().toUTCString()}\r\nConnection: keep-alive\r\n\r\n${body}`;
  const answer = (requestLine) => {
    if (requestLine.startsWith(`GET ${SPECIALIZATION_PATH} `)) {
      // The variables as they are, plus one, so that the swap takes the path of a real one.
      return reply('200 OK', '', JSON.stringify({ env: { ...env, KILN_REHEARSAL: '1' } }));
    }
    if (requestLine.startsWith('POST ')) return reply('202 Accepted', '', '{"status":"OK"}');
    invocations++;
    return reply(
      '200 OK',
      `Lambda-Runtime-Aws-Request-Id: rehearsal-${invocations}\r\n` +
        `Lambda-Runtime-Deadline-Ms: ${Date.now() + 60_000}\r\n` +
        'Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:rehearsal\r\n' +
        'Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n',
      `{"rehearsal":${invocations}}`,
    );
  };
  socket.setEncoding('latin1');
  // The client's side of any failure is what counts; this side only must not throw it again.
  socket.on('error', () => socket.destroy());
  socket.on('data', (text) => {
    pending += text;
    for (;;) {
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = /\r\ncontent-length: *(\d+)/i.exec(pending.slice(0, end));
      const size = end + 4 + (length === null ? 0 : Number(length[1]));
      if (pending.length < size) return;
      const requestLine = pending.slice(0, pending.indexOf('\r\n'));
      pending = pending.slice(size);
      socket.write(answer(requestLine));
    }
  });
}

/**
 * Long-polls for the function this zygote becomes and becomes it, then calls `then`: start() for real, the
 * rest of the rehearsal while rehearsing. Straight from the connection's callback, with no promise between
 * the answer and the function's INIT.
 */
function awaitSpecialization(then) {
  client.request('GET', SPECIALIZATION_PATH, '', '', (err, answer) => {
    try {
      if (err !== undefined) throw err;
      specialize(answer);
    } catch (error) {
      fatal(error);
      return;
    }
    then();
  });
}

/** Drops a module the rehearsal required from every cache a function could look into. */
function forgetModule(file) {
  Reflect.deleteProperty(require.cache, file);
  const children = module.children;
  for (let i = children.length - 1; i >= 0; i--) if (children[i].id === file) children.splice(i, 1);
  const pathCache = require('node:module')._pathCache;
  for (const key of Object.keys(pathCache)) {
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
    if (pathCache[key] === file) delete pathCache[key];
  }
}

async function rehearse() {
  const server = createServer(rehearsalConnection);
  // Unique on a host without a sandbox (tests); in a sandbox's network namespace there is only this one.
  const path = `\0kiln-rehearsal-${process.pid}`;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  const real = client;
  try {
    for (let i = 0; i < REHEARSALS; i++) await rehearseColdStart(path);
  } finally {
    client = real;
    await new Promise((resolve) => server.close(resolve));
  }
  emptyYoungGeneration();
}

/**
 * Left part-full by the rehearsal, V8's young generation reaches the mark where V8 schedules a scavenge within
 * the first allocations after the wake-up, and that scavenge (1-5 ms measured) then runs inside the function's
 * INIT or first invocation: in half to all of the cold starts measured. Allocating garbage until two scavenges
 * have run (the second promotes what survived the first) leaves it nearly empty instead.
 */
function emptyYoungGeneration() {
  // Required here: node:v8 is not loaded at startup, and a fresh start has no use for it.
  const { getHeapSpaceStatistics } = require('node:v8');
  const used = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_used_size ?? 0;
  let scavenges = 0;
  let before = used();
  // Bounded (32 MB), should V8 ever report its young generation differently.
  for (let i = 0; scavenges < 2 && i < 512; i++) {
    new Array(8192).fill(0);
    const now = used();
    if (now < before) scavenges++;
    before = now;
  }
}

/** One cold start of the rehearsal function, on a connection of its own as a real one would be. */
async function rehearseColdStart(path) {
  // Below a directory with a package.json, so that both the lookup and Node's own walk up to it are exercised.
  const dir = join(__dirname, 'rehearsal', 'function');
  client = new RapidClient({ socketPath: path });
  try {
    await new Promise((resolve) => awaitSpecialization(resolve));
    handler = await loadHandler(dir, 'index.handler');
    forgetModule(join(dir, 'index.js'));
    // A failure on the way is fatal(), as it would be after the rehearsal.
    await new Promise((resolve) => {
      let left = REHEARSAL_INVOCATIONS;
      rehearsal = (err, res) => {
        if (err !== undefined || --left > 0) invoke(err, res);
        else resolve();
      };
      client.nextInvocation(invoke);
    });
  } finally {
    rehearsal = undefined;
    client.conn?.close();
    handler = undefined;
    currentId = undefined;
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
  const { HOME, NODE_PATH } = env;
  // process.env is the process's environment itself: deleting a name unsets the variable. Only what differs
  // changes: assigning TZ, even its same value, makes Node reset ICU's time zone, which costs tens of ms.
  for (const name of Object.keys(env)) {
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
    if (!Object.hasOwn(next, name)) delete env[name];
  }
  for (const name of Object.keys(next)) if (env[name] !== next[name]) env[name] = next[name];
  delete env.KILN_RUNTIME_API_SOCKET;
  // The global module paths come from these two, read once at startup: read them again as a cold start would
  // have, if they changed (a function with NODE_* variables gets no zygote; one may set HOME).
  if (env.HOME !== HOME || env.NODE_PATH !== NODE_PATH) require('node:module')._initPaths();
  // The working directory is still the empty directory the code was mounted over.
  process.chdir(env.LAMBDA_TASK_ROOT || '/var/task');
}

if (env.KILN_ZYGOTE === '1') {
  rehearse().then(() => awaitSpecialization(start), fatal);
} else {
  start();
}
