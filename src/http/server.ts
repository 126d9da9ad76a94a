// The shared HTTP edge: request ids, opaque bodies, and every failure rendered as an AWS JSON error.
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { ApiError } from '../model/index.js';
import { newId, type Logger } from '../shared/index.js';
import { readBody, tooLarge } from './body.js';
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

export interface HttpServerOptions {
  readonly log: Logger;
  /** Default request-body cap; routes that take code raise it. */
  readonly bodyLimit: number;
}

export function createHttpServer(opts: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.log,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => newId(),
    requestIdHeader: false,
    bodyLimit: opts.bodyLimit,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 2048 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
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

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-amzn-RequestId', req.id);
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
