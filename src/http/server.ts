// The shared HTTP edge: request ids, opaque bodies, and every failure rendered as an AWS JSON error.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { ApiError } from '../model/index.js';
import { newId, type Logger } from '../shared/index.js';
import { readBody, tooLarge } from './body.js';
import type { Authenticate } from './caller.js';
import { unimplementedOperation } from './lambda-operations.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The AWS operation name, used in error messages. */
    operation?: string;
    /** The error type for an oversized body (Invoke uses RequestTooLargeException). */
    tooLarge?: 'RequestTooLargeException' | 'RequestEntityTooLargeException';
  }
}

/** Writes `x-amzn-ErrorType` and `{"Type","Message"}`, the error shape every AWS client parses. */
export function sendApiError(reply: FastifyReply, err: ApiError): FastifyReply {
  return reply
    .code(err.status)
    .header('x-amzn-ErrorType', err.code)
    .header('content-type', 'application/json')
    .send(JSON.stringify({ Type: err.fault, Message: err.message, ...err.extra }));
}

/**
 * The JSON error as raw HTTP, for requests Node's parser refused before Fastify saw them (malformed
 * request lines or headers, headers over Node's 16 KB limit): clients still get an AWS error to parse.
 */
function rawApiError(err: ApiError): string {
  const body = JSON.stringify({ Type: err.fault, Message: err.message });
  return [
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? ''}`,
    `x-amzn-RequestId: ${newId()}`,
    `x-amzn-ErrorType: ${err.code}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

function clientError(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const apiError =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new ApiError(
          'RequestEntityTooLargeException',
          'Request headers must be smaller than 16384 bytes in all.',
        )
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new ApiError('InvalidRequestContentException', 'The request was not received completely in time.')
        : new ApiError(
            'InvalidRequestContentException',
            `Malformed HTTP request (${err.code ?? err.message}).`,
          );
  this.log.debug({ err }, 'malformed HTTP request');
  // As Node does: once an answer has been written on this connection, a second one would corrupt it.
  if (socket.writable && socket.bytesWritten === 0) socket.write(rawApiError(apiError));
  socket.destroy();
}

/** Query objects in which a parameter name appeared more than once, with that name. */
const repeatedParams = new WeakMap<object, string>();

/**
 * Query strings become string values only, as every route expects. A repeated name is remembered and
 * refused before routing: guessing which value the caller meant is how ambiguous requests slip through.
 * Never throws (it runs inside the router, where an exception would escape Fastify's error handling).
 */
function parseQuery(text: string): Record<string, string> {
  const query: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of new URLSearchParams(text)) {
    if (Object.hasOwn(query, name)) repeatedParams.set(query, name);
    else query[name] = value;
  }
  return query;
}

/** Longer than any function name, ARN or alias Lambda accepts, so a longer one is refused early. */
const maxParamLength = 2048;

/** Requests Fastify refuses before routing: a path that is not valid percent-encoded UTF-8, or too long. */
function frameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.header('x-amzn-RequestId', req.id);
  const message =
    err.code === 'FST_ERR_BAD_URL'
      ? 'The request path is not valid percent-encoded UTF-8.'
      : err.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? `A path parameter is longer than ${maxParamLength} characters.`
        : `The request cannot be routed (${err.code}).`;
  return sendApiError(reply, new ApiError('InvalidParameterValueException', message));
}

export interface HttpServerOptions {
  readonly log: Logger;
  /** Default request-body cap; routes that take code raise it. */
  readonly bodyLimit: number;
  /** Runs once the body is read, before every route's handler. */
  readonly authenticate: Authenticate;
}

export function createHttpServer(opts: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.log,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => newId(),
    requestIdHeader: false,
    bodyLimit: opts.bodyLimit,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength, querystringParser: parseQuery },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    clientErrorHandler: clientError,
    frameworkErrors: frameworkError,
  }) as unknown as FastifyInstance;

  // Bodies are opaque bytes: Invoke payloads arrive with any content type or none (the AWS CLI sends none),
  // and JSON operations parse their own bodies so a parse failure becomes a Lambda error.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (req, payload, done) => {
    const limit = req.routeOptions.bodyLimit ?? opts.bodyLimit;
    const { operation = 'this', tooLarge: code } = req.routeOptions.config;
    readBody(payload, limit, operation === 'Invoke' ? 'InvokeFunction' : operation, code).then(
      (body) => done(null, body),
      (err: Error) => done(err, undefined),
    );
  });

  // Callback-style hooks: an async hook costs every request a promise and a turn of the microtask queue.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-amzn-RequestId', req.id);
    const repeated = repeatedParams.get(req.query as object);
    if (repeated === undefined) {
      done();
      return;
    }
    done(
      new ApiError(
        'InvalidParameterValueException',
        `Query parameter '${repeated}' appears more than once; send it once.`,
      ),
    );
  });

  app.addHook('preHandler', (req, _reply, done) => {
    let caller;
    try {
      caller = opts.authenticate(req);
    } catch (err) {
      done(err as Error);
      return;
    }
    if (caller !== undefined) req.caller = caller;
    done();
  });

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    if (err instanceof ApiError) return sendApiError(reply, err);
    const op = req.routeOptions.config.operation ?? 'this';
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendApiError(reply, tooLarge(req.routeOptions.bodyLimit ?? opts.bodyLimit, op));
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return sendApiError(
        reply,
        new ApiError('InvalidRequestContentException', `${err.message} (${op} operation)`),
      );
    }
    req.log.error({ err }, 'unhandled error');
    return sendApiError(
      reply,
      new ApiError(
        'ServiceException',
        `Kiln failed to process the ${op} request (request id ${req.id}); see the server log.`,
      ),
    );
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? req.url;
    const op = unimplementedOperation(req.method, path);
    if (op) {
      return sendApiError(
        reply,
        new ApiError(
          'NotImplementedException',
          `Kiln does not implement the ${op} operation yet (${req.method} ${path}).`,
        ),
      );
    }
    return sendApiError(
      reply,
      new ApiError(
        'UnknownOperationException',
        `Unknown operation ${req.method} ${path}: not a Lambda API route.`,
      ),
    );
  });
  return app;
}
