// The Lambda Runtime API (2018-06-01) for one execution environment, on a unix socket.
//
// Status codes, error bodies and state rules follow AWS's RAPID (aws-lambda-runtime-interface-emulator,
// lambda/rapi and lambda/core/states.go) so that every runtime client sees what it sees on Lambda:
//   - 202 {"status":"OK"} for accepted posts;
//   - 400 InvalidRequestID when the id in the path is not the invocation in flight;
//   - 403 InvalidStateTransition when the runtime's call is illegal in its current state
//     (a second /next while one is parked, a second post for the same invocation, init/error after init);
//   - 413 RequestEntityTooLarge for an oversized /response, which also fails the invocation
//     with Function.ResponseSizeTooLarge (the RIC does not post /error after a 413);
//   - a /next while an invocation is delivered but unanswered re-delivers that same invocation
//     (RAPID's Ready state renders the current event again), so two are never in flight at once.
// Bodies of /response, /error and /init/error are capped at maxResponseBytes (RAPID applies the same
// MaxPayloadSize to error payloads); the rest of an oversized body is read and discarded, never buffered.
import { chmod, chown, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../shared/index.js';
import type { InitOutcome, InvocationOutcome, InvocationRequest } from './types.js';
import {
  NEXT_PATH,
  INIT_ERROR_PATH,
  INVOCATION_PREFIX,
  PING_PATH,
  SPECIALIZE_PATH,
  ERROR_TYPE_HEADER,
  RESPONSE_MODE_HEADER,
  NOT_ALLOWED,
  GATE_INTEGRITY,
  ACCEPTED,
  INVALID_REQUEST_ID,
  INVALID_RESPONSE_MODE,
  NOT_FOUND,
  METHOD_NOT_ALLOWED,
  INTERNAL_ERROR,
  noop,
  nextHeaders,
  send,
  errorJson,
  firstHeader,
  normaliseError,
  readBody,
  streamedOutcome,
} from './wire.js';

/** Lambda's response payload limit: 6 MiB + 100 bytes (RAPID's interop.MaxPayloadSize). */
export const DEFAULT_MAX_RESPONSE_BYTES = 6_291_556;

export interface RuntimeApiServerOptions {
  /** Listen on this unix socket (a stale file there is removed first). */
  readonly socketPath: string;
  readonly log: Logger;
  /** chown the socket after listen, for a sandbox running as an unprivileged uid; it is chmod 0600 either way. */
  readonly socketOwner?: { readonly uid: number; readonly gid: number };
  /** Cap on /response, /error and /init/error bodies; default 6_291_556. */
  readonly maxResponseBytes?: number;
  /**
   * Serves a pre-initialised runtime: it long-polls SPECIALIZE_PATH once, and specialize() answers it with the
   * function it becomes. Off by default, when the path is as unknown as any other.
   */
  readonly zygote?: boolean;
}

export type RuntimeApiErrorReason = 'busy' | 'closed' | 'abandoned' | 'init-failed';

/** Why invoke(), waitReady() or waitForNext() did not produce an outcome. */
export class RuntimeApiError extends Error {
  constructor(
    readonly reason: RuntimeApiErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'RuntimeApiError';
  }
}

// RAPID's state names (lambda/core/runtime_state_names.go); they appear in InvalidStateTransition messages.
type RuntimeState =
  | 'Started'
  | 'InitError'
  | 'Ready'
  | 'InvocationResponse'
  | 'InvocationErrorResponse'
  | 'RuntimeResponseSentState';

interface Invocation {
  readonly req: InvocationRequest;
  readonly resolve: (o: InvocationOutcome) => void;
  readonly reject: (e: Error) => void;
  /** The /next answer, built once and reused if the runtime asks for the event again. */
  headers?: string[];
  settled: boolean;
}

export class RuntimeApiServer {
  private readonly server: Server;
  private readonly log: Logger;
  private readonly socketPath: string;
  private readonly socketOwner: { readonly uid: number; readonly gid: number } | undefined;
  private readonly maxBytes: number;
  private readonly tooLargeBody: Buffer;

  private state: RuntimeState = 'Started';
  /** The runtime's long-polling GET /next, when it has one and nothing to deliver. */
  private parked: ServerResponse | undefined;
  /** Given to invoke() and not yet delivered. */
  private queued: Invocation | undefined;
  /** Delivered to the runtime and not yet answered. */
  private current: Invocation | undefined;
  /** Answered, and the runtime has not asked for the next one yet (RAPID's RuntimeResponseSentState). */
  private lastId: string | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** The connection a /response or /error body is being read from, and a /next that came in behind it. */
  private reading: { socket: Socket | null; next?: ServerResponse } | undefined;

  private readonly ready: Promise<InitOutcome>;
  private settleReady: ((o: InitOutcome) => void) | undefined;
  private failReady: ((e: Error) => void) | undefined;
  private nextWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  /** Pre-initialised runtimes only: its parked specialisation poll, the answer once known, who waits for the poll. */
  private zygote: { polled?: ServerResponse; answer?: Buffer; done: boolean } | undefined;
  private zygoteWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(opts: RuntimeApiServerOptions) {
    this.socketPath = opts.socketPath;
    this.socketOwner = opts.socketOwner;
    this.log = opts.log;
    this.maxBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    if (opts.zygote === true) this.zygote = { done: false };
    this.tooLargeBody = errorJson(
      'RequestEntityTooLarge',
      `Exceeded maximum allowed payload size (${this.maxBytes} bytes).`,
    );
    this.ready = new Promise<InitOutcome>((resolve, reject) => {
      this.settleReady = resolve;
      this.failReady = reject;
    });
    // Nobody may be waiting when close() rejects it; the rejection still reaches whoever awaits it later.
    this.ready.catch(noop);

    this.server = createServer(
      {
        // A long poll lasts as long as the environment stays idle, so no request deadline at all.
        requestTimeout: 0,
        headersTimeout: 30_000,
        // Runtimes keep their connections across invocations (and across a freeze); never close idle ones.
        keepAliveTimeout: 0,
        // Generous for the RIC's X-Ray error-cause header, yet a bound on what one request can make us hold.
        maxHeaderSize: 128 * 1024,
        // Custom runtimes on the unix socket may omit Host; RAPID does not require it.
        requireHostHeader: false,
      },
      (req, res) => this.handle(req, res),
    );
    // A runtime needs two or three connections; this only stops one from exhausting descriptors.
    this.server.maxConnections = 64;
    this.server.on('error', (err) =>
      this.log.error({ err, socket: this.socketPath }, 'runtime API server error'),
    );
  }

  async listen(): Promise<void> {
    if (this.closed) throw new RuntimeApiError('closed', 'Runtime API server is closed');
    await rm(this.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    await chmod(this.socketPath, 0o600);
    if (this.socketOwner) await chown(this.socketPath, this.socketOwner.uid, this.socketOwner.gid);
  }

  /** Resolves {kind:'ready'} at the runtime's first GET /next, or init-error at POST /runtime/init/error; never both. */
  waitReady(): Promise<InitOutcome> {
    return this.ready;
  }

  /**
   * Resolves once the runtime is parked on GET /next with nothing to deliver: it is idle between invocations
   * (safe to freeze). Resolves at once if it is parked now.
   */
  waitForNext(): Promise<void> {
    if (this.closed) return Promise.reject(new RuntimeApiError('closed', 'Runtime API server is closed'));
    if (this.parked !== undefined && !this.parked.destroyed) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.nextWaiters.push({ resolve, reject }));
    p.catch(noop);
    return p;
  }

  /** Resolves once a pre-initialised runtime waits for its function (it has polled SPECIALIZE_PATH). */
  waitZygote(): Promise<void> {
    if (this.closed) return Promise.reject(new RuntimeApiError('closed', 'Runtime API server is closed'));
    if (this.zygote === undefined)
      throw new Error('waitZygote: this Runtime API server was not made for a zygote');
    if (this.zygote.polled !== undefined && !this.zygote.polled.destroyed) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.zygoteWaiters.push({ resolve, reject }));
    p.catch(noop);
    return p;
  }

  /**
   * Answers the pre-initialised runtime's specialisation poll with `body` (the function's environment), now or
   * when it polls. Once only: from then on the path is unknown, so function code can never ask again.
   */
  specialize(body: Buffer): void {
    const z = this.zygote;
    if (z === undefined || z.done) throw new Error('specialize: not a zygote, or already specialised');
    z.done = true;
    const polled = z.polled;
    z.polled = undefined;
    if (polled !== undefined && !polled.destroyed) send(polled, 200, body);
    else z.answer = body;
  }

  /**
   * Delivers one invocation: answers the runtime's parked (or next) GET /next with it, and resolves with what
   * it posts to /response or /error. Rejects with a RuntimeApiError if an invocation is already in flight,
   * the server is closed, the runtime failed its init, or the invocation is abandoned.
   */
  invoke(req: InvocationRequest): Promise<InvocationOutcome> {
    if (this.closed) return Promise.reject(new RuntimeApiError('closed', 'Runtime API server is closed'));
    if (this.queued !== undefined || this.current !== undefined) {
      return Promise.reject(new RuntimeApiError('busy', 'An invocation is already in flight'));
    }
    if (this.state === 'InitError') {
      return Promise.reject(new RuntimeApiError('init-failed', 'The runtime failed its initialisation'));
    }
    let inv!: Invocation;
    const p = new Promise<InvocationOutcome>((resolve, reject) => {
      inv = { req, resolve, reject, settled: false };
    });
    // Callers usually race this against a timeout and then abandon it: keep that rejection from going unhandled.
    p.catch(noop);
    const parked = this.takeParked();
    if (parked !== undefined) {
      this.current = inv;
      this.deliver(parked, inv);
    } else {
      this.queued = inv;
    }
    return p;
  }

  /** Forgets the invocation (timeout, runtime exited): its invoke() rejects and later posts for its id get 400. */
  abandon(requestId: string): void {
    const inv =
      this.current?.req.requestId === requestId
        ? this.current
        : this.queued?.req.requestId === requestId
          ? this.queued
          : undefined;
    if (inv === undefined) return;
    if (inv === this.current) {
      this.current = undefined;
      // A post being read for it is answered 400 when it ends; the runtime's next /next parks.
      if (this.state === 'InvocationResponse' || this.state === 'InvocationErrorResponse')
        this.state = 'Ready';
    } else {
      this.queued = undefined;
    }
    inv.settled = true;
    inv.reject(new RuntimeApiError('abandoned', `Invocation ${requestId} was abandoned`));
  }

  /** Ends pending long polls and connections, rejects whatever still waits, closes and removes the socket. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    const err = new RuntimeApiError('closed', 'Runtime API server is closed');
    for (const inv of [this.queued, this.current]) {
      if (inv !== undefined && !inv.settled) {
        inv.settled = true;
        inv.reject(err);
      }
    }
    this.queued = undefined;
    this.current = undefined;
    this.parked = undefined;
    this.failReady?.(err);
    this.settleReady = undefined;
    this.failReady = undefined;
    for (const w of this.nextWaiters.splice(0)) w.reject(err);
    for (const w of this.zygoteWaiters.splice(0)) w.reject(err);
    await new Promise<void>((resolve) => {
      // The callback gets ERR_SERVER_NOT_RUNNING if listen() never ran; closed is closed.
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await rm(this.socketPath, { force: true });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    try {
      this.route(req, res);
    } catch (err) {
      this.internalError(res, err);
    }
  }

  private internalError(res: ServerResponse, err: unknown): void {
    this.log.error({ err, socket: this.socketPath }, 'runtime API request failed');
    send(res, 500, INTERNAL_ERROR);
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    if (this.closed) {
      res.destroy();
      return;
    }
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method;
    if (path === NEXT_PATH) {
      if (method === 'GET') this.onNext(res);
      else this.methodNotAllowed(res, 'GET');
      return;
    }
    if (path.startsWith(INVOCATION_PREFIX)) {
      const rest = path.slice(INVOCATION_PREFIX.length);
      const slash = rest.indexOf('/');
      const action = slash > 0 ? rest.slice(slash + 1) : '';
      if (action === 'response' || action === 'error') {
        if (method === 'POST') this.onPost(req, res, rest.slice(0, slash), action);
        else this.methodNotAllowed(res, 'POST');
        return;
      }
    } else if (path === INIT_ERROR_PATH) {
      if (method === 'POST') this.onInitError(req, res);
      else this.methodNotAllowed(res, 'POST');
      return;
    } else if (path === SPECIALIZE_PATH && method === 'GET' && this.zygote !== undefined) {
      this.onSpecializationPoll(res, this.zygote);
      return;
    } else if (path === PING_PATH && method === 'GET') {
      // RAPID keeps /ping for old clients.
      res.writeHead(200, ['Content-Type', 'text/plain', 'Content-Length', '4']);
      res.end('pong');
      return;
    }
    this.log.debug({ method, url }, 'runtime API: unknown path');
    send(res, 404, NOT_FOUND);
  }

  private onSpecializationPoll(
    res: ServerResponse,
    z: { polled?: ServerResponse; answer?: Buffer; done: boolean },
  ): void {
    if (z.answer !== undefined) {
      send(res, 200, z.answer);
      z.answer = undefined;
      return;
    }
    if (z.done || (z.polled !== undefined && !z.polled.destroyed) || this.state !== 'Started') {
      send(res, 404, NOT_FOUND);
      return;
    }
    z.polled = res;
    for (const w of this.zygoteWaiters.splice(0)) w.resolve();
  }

  private methodNotAllowed(res: ServerResponse, allow: string): void {
    send(res, 405, METHOD_NOT_ALLOWED, ['Allow', allow]);
  }

  // Refusals are the runtime's mistakes, not ours: debug level, so a misbehaving runtime cannot flood the log.
  private stateError(res: ServerResponse, from: RuntimeState, to: RuntimeState, cause: string): void {
    const errorMessage = `State transition from ${from} to ${to} failed for runtime. Error: ${cause}`;
    this.log.debug({ socket: this.socketPath, from, to }, 'runtime API: invalid state transition');
    send(res, 403, Buffer.from(JSON.stringify({ errorMessage, errorType: 'InvalidStateTransition' })));
  }

  private invalidRequestId(res: ServerResponse): void {
    this.log.debug({ socket: this.socketPath }, 'runtime API: invalid request id');
    send(res, 400, INVALID_REQUEST_ID);
  }

  private onNext(res: ServerResponse): void {
    const reading = this.reading;
    if (reading !== undefined && reading.next === undefined && reading.socket === res.req.socket) {
      // Pipelined behind the post on the same connection. RAPID (Go's net/http) reads a connection's next
      // request only once the previous one is answered; Node's server hands it over at once, mid-body.
      reading.next = res;
      return;
    }
    const state = this.state;
    if (state === 'InitError' || state === 'InvocationResponse' || state === 'InvocationErrorResponse') {
      this.stateError(res, state, 'Ready', NOT_ALLOWED);
      return;
    }
    if (this.parked !== undefined) {
      if (!this.parked.destroyed && this.parked.socket?.destroyed === false) {
        // RAPID lets one /next through the runtime-ready gate; a second one fails it.
        this.stateError(res, state, 'Ready', GATE_INTEGRITY);
        return;
      }
      this.parked = undefined;
    }
    if (state === 'Started') {
      this.state = 'Ready';
      this.settleReady?.({ kind: 'ready' });
      this.settleReady = undefined;
      this.failReady = undefined;
    } else if (state === 'RuntimeResponseSentState') {
      this.state = 'Ready';
      this.lastId = undefined;
    }
    let inv = this.current;
    if (inv === undefined && this.queued !== undefined) {
      inv = this.queued;
      this.queued = undefined;
      this.current = inv;
    }
    if (inv !== undefined) {
      this.deliver(res, inv);
      return;
    }
    this.parked = res;
    res.once('close', this.onParkedClose);
    if (this.nextWaiters.length > 0) for (const w of this.nextWaiters.splice(0)) w.resolve();
  }

  private readonly onParkedClose = (): void => {
    // 'close' also follows a normal answer, after parked has moved on; only a dead parked poll is dropped.
    if (this.parked?.destroyed === true) this.parked = undefined;
  };

  private takeParked(): ServerResponse | undefined {
    const p = this.parked;
    this.parked = undefined;
    return p !== undefined && !p.destroyed ? p : undefined;
  }

  private deliver(res: ServerResponse, inv: Invocation): void {
    // If the connection is already gone the event stays current, and the runtime's next /next gets it again.
    if (res.writableEnded || res.destroyed) return;
    try {
      inv.headers ??= nextHeaders(inv.req);
      res.writeHead(200, inv.headers);
      res.end(inv.req.payload);
    } catch (err) {
      // Header values are sanitised, so this is a bug; the runtime sees a reset and can poll again.
      this.log.error({ err, requestId: inv.req.requestId }, 'runtime API: could not deliver an invocation');
      res.destroy();
    }
  }

  private onPost(
    req: IncomingMessage,
    res: ServerResponse,
    rawId: string,
    action: 'response' | 'error',
  ): void {
    let id: string;
    try {
      id = rawId.includes('%') ? decodeURIComponent(rawId) : rawId;
    } catch {
      this.invalidRequestId(res);
      return;
    }
    const target: RuntimeState = action === 'response' ? 'InvocationResponse' : 'InvocationErrorResponse';
    const inv = this.current;
    if (inv === undefined || inv.req.requestId !== id) {
      // RAPID still knows the answered id until the runtime asks for more: posting again is a state error.
      if (id === this.lastId) this.stateError(res, this.state, target, NOT_ALLOWED);
      else this.invalidRequestId(res);
      return;
    }
    if (this.state !== 'Ready') {
      // Another post for this invocation is still being read.
      this.stateError(res, this.state, target, NOT_ALLOWED);
      return;
    }
    if (action === 'response') this.onResponse(req, res, inv);
    else this.onError(req, res, inv);
  }

  private onResponse(req: IncomingMessage, res: ServerResponse, inv: Invocation): void {
    const mode = firstHeader(req.headers[RESPONSE_MODE_HEADER])?.toLowerCase();
    if (mode !== undefined && mode !== 'streaming' && mode !== 'buffered') {
      // RAPID fails the invocation with Runtime.InvalidResponseModeHeader and tells the runtime why.
      const errorType = 'Runtime.InvalidResponseModeHeader';
      this.settle(inv, {
        kind: 'error',
        errorType,
        payload: errorJson(errorType, 'Invalid function response mode'),
      });
      send(res, 400, INVALID_RESPONSE_MODE);
      return;
    }
    this.readOutcome(req, res, inv, 'InvocationResponse', 'function response too large', (body) =>
      mode === 'streaming' ? streamedOutcome(req, body) : { kind: 'success', payload: body },
    );
  }

  private onError(req: IncomingMessage, res: ServerResponse, inv: Invocation): void {
    this.readOutcome(req, res, inv, 'InvocationErrorResponse', 'function error payload too large', (body) => {
      const { errorType, payload } = normaliseError(
        body,
        firstHeader(req.headers[ERROR_TYPE_HEADER]),
        firstHeader(req.headers['content-type']),
      );
      return { kind: 'error', errorType, payload };
    });
  }

  /**
   * Reads a /response or /error body and settles the invocation with `outcome(body)`. An oversized body fails
   * the invocation at once and gets its 413 once fully received; a runtime that hangs up mid-body leaves the
   * invocation in flight until it posts again or is abandoned.
   */
  private readOutcome(
    req: IncomingMessage,
    res: ServerResponse,
    inv: Invocation,
    state: 'InvocationResponse' | 'InvocationErrorResponse',
    tooLargeMessage: string,
    outcome: (body: Buffer) => InvocationOutcome,
  ): void {
    this.state = state;
    const reading: { socket: Socket | null; next?: ServerResponse } = { socket: req.socket };
    this.reading = reading;
    let tooLarge = false;
    readBody(
      req,
      this.maxBytes,
      () => {
        if (inv.settled) return;
        tooLarge = true;
        this.settle(inv, this.responseTooLarge());
        this.log.warn({ requestId: inv.req.requestId, max: this.maxBytes }, tooLargeMessage);
      },
      (body, complete) => {
        try {
          if (tooLarge) {
            send(res, 413, this.tooLargeBody);
          } else if (inv.settled) {
            this.invalidRequestId(res);
          } else if (!complete || body === undefined) {
            if (this.current === inv) this.state = 'Ready';
          } else {
            this.settle(inv, outcome(body));
            send(res, 202, ACCEPTED);
          }
        } catch (err) {
          this.internalError(res, err);
        }
        if (this.reading === reading) this.reading = undefined;
        const next = reading.next;
        if (next !== undefined && !next.destroyed) this.handle(next.req, next);
      },
    );
  }

  private onInitError(req: IncomingMessage, res: ServerResponse): void {
    if (this.state !== 'Started') {
      this.stateError(res, this.state, 'InitError', NOT_ALLOWED);
      return;
    }
    // Decided on arrival, as RAPID does, so a /next racing the body read cannot also report ready.
    this.state = 'InitError';
    const headerType = firstHeader(req.headers[ERROR_TYPE_HEADER]);
    let tooLarge = false;
    readBody(
      req,
      this.maxBytes,
      () => {
        tooLarge = true;
      },
      (body, complete) => {
        try {
          let outcome: { errorType: string; payload: Buffer };
          if (tooLarge) {
            const errorType = headerType ?? 'Unhandled';
            outcome = {
              errorType,
              payload: errorJson(
                errorType,
                `Init error payload size exceeded maximum allowed payload size (${this.maxBytes} bytes).`,
              ),
            };
          } else {
            // Even a truncated report is the runtime's word that init failed.
            outcome = normaliseError(
              body ?? Buffer.alloc(0),
              headerType,
              firstHeader(req.headers['content-type']),
            );
          }
          this.failInit(outcome.errorType, outcome.payload);
          if (tooLarge) send(res, 413, this.tooLargeBody);
          else if (complete) send(res, 202, ACCEPTED);
        } catch (err) {
          this.internalError(res, err);
        }
      },
    );
  }

  private failInit(errorType: string, payload: Buffer): void {
    this.settleReady?.({ kind: 'init-error', errorType, payload });
    this.settleReady = undefined;
    this.failReady = undefined;
    // An invocation waiting for this runtime fails with the init error, as Lambda does for a suppressed init.
    const inv = this.queued;
    this.queued = undefined;
    if (inv !== undefined && !inv.settled) {
      inv.settled = true;
      inv.resolve({ kind: 'error', errorType, payload });
    }
    for (const w of this.nextWaiters.splice(0))
      w.reject(new RuntimeApiError('init-failed', 'The runtime failed its initialisation'));
  }

  private responseTooLarge(): InvocationOutcome {
    const errorType = 'Function.ResponseSizeTooLarge';
    return {
      kind: 'error',
      errorType,
      payload: errorJson(
        errorType,
        `Response payload size exceeded maximum allowed payload size (${this.maxBytes} bytes).`,
      ),
    };
  }

  private settle(inv: Invocation, outcome: InvocationOutcome): void {
    inv.settled = true;
    if (this.current === inv) this.current = undefined;
    this.lastId = inv.req.requestId;
    this.state = 'RuntimeResponseSentState';
    inv.resolve(outcome);
  }
}
