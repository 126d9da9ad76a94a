// The AWS JSON protocol edge: `POST /` with `X-Amz-Target: <Prefix>.<Operation>` and a JSON body, as
// CloudWatch Logs (JSON 1.1) and SQS (JSON 1.0) speak it. Services register a target prefix and a
// table of operations; this file owns body parsing, dispatch and the error shape.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, JsonServiceError } from '../model/index.js';
import { callerOf, type Caller } from './caller.js';

/**
 * One operation: takes the parsed JSON object and who sent it, returns the JSON answer (validated by the
 * service).
 */
export type JsonOperation = (input: Readonly<Record<string, unknown>>, caller: Caller) => unknown;

export interface JsonService {
  /** The part of X-Amz-Target before the dot, e.g. `Logs_20140328`. */
  readonly targetPrefix: string;
  /** The SigV4 service name its clients sign with, e.g. `logs`. */
  readonly signingName: string;
  /** `application/x-amz-json-1.1` or `-1.0`, echoed on answers. */
  readonly contentType: string;
  readonly operations: Readonly<Record<string, JsonOperation>>;
}

/** Writes `{"__type","message"}` with `x-amzn-ErrorType`, which both botocore and SDK v3 parse. */
export function sendJsonError(
  reply: FastifyReply,
  err: JsonServiceError,
  contentType = 'application/x-amz-json-1.1',
): FastifyReply {
  return reply
    .code(err.status)
    .header('x-amzn-ErrorType', err.code)
    .header('content-type', contentType)
    .send(JSON.stringify({ __type: err.code, message: err.message }));
}

/** JSON-protocol requests are small (CloudWatch Logs' largest, PutLogEvents, is 1 MB). */
const defaultBodyLimit = 1024 * 1024 + 64 * 1024;

/** Registers `POST /` dispatching on X-Amz-Target to the given services. */
export function registerJsonServices(
  app: FastifyInstance,
  services: readonly JsonService[],
  bodyLimit = defaultBodyLimit,
): void {
  const byPrefix = new Map(services.map((s) => [s.targetPrefix, s]));
  const routeOptions = {
    bodyLimit,
    config: { operation: 'AwsJson', signingNames: services.map((s) => s.signingName) },
    // Failures before the handler runs (an oversized or unreadable body) keep this protocol's error
    // shape, not Lambda's.
    errorHandler: (err: Error, _req: FastifyRequest, reply: FastifyReply) => {
      const tooLarge =
        (err as { statusCode?: number }).statusCode === 413 || err.name === 'RequestEntityTooLargeException';
      // Authentication failures: these services answer every caller fault with 400.
      if (err instanceof ApiError && !tooLarge) {
        return sendJsonError(
          reply,
          new JsonServiceError(err.code, err.message, err.fault === 'User' ? 400 : 500),
        );
      }
      return sendJsonError(
        reply,
        new JsonServiceError(
          'SerializationException',
          tooLarge
            ? `The request body must be at most ${bodyLimit} bytes.`
            : `The request body could not be read: ${err.message}`,
          tooLarge ? 413 : 400,
        ),
      );
    },
  };
  app.post('/', routeOptions, async (req, reply) => {
    const raw = req.headers['x-amz-target'];
    const target = Array.isArray(raw) ? raw[0] : raw;
    const dot = target?.lastIndexOf('.') ?? -1;
    const service = target && dot > 0 ? byPrefix.get(target.slice(0, dot)) : undefined;
    const opName = target?.slice(dot + 1) ?? '';
    const operation =
      service && Object.hasOwn(service.operations, opName) ? service.operations[opName] : undefined;
    const contentType = service?.contentType ?? 'application/x-amz-json-1.1';
    try {
      if (!service || !operation) {
        throw new JsonServiceError('UnknownOperationException', unknownTarget(target, service, byPrefix));
      }
      const input = parseJsonBody(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
      const output = await operation(input, callerOf(req));
      return reply
        .code(200)
        .header('content-type', contentType)
        .send(JSON.stringify(output ?? {}));
    } catch (err) {
      if (err instanceof JsonServiceError) return sendJsonError(reply, err, contentType);
      req.log.error({ err, target }, 'unhandled error in a JSON operation');
      return sendJsonError(
        reply,
        new JsonServiceError(
          'ServiceUnavailableException',
          `Kiln failed to process ${target ?? 'the request'} (request id ${req.id}); see the server log.`,
          500,
        ),
        contentType,
      );
    }
  });
}

function unknownTarget(
  target: string | undefined,
  service: JsonService | undefined,
  byPrefix: ReadonlyMap<string, JsonService>,
): string {
  if (!target) {
    const prefixes = [...byPrefix.keys()].map((p) => `${p}.<Operation>`).join(', ');
    return `POST / needs an X-Amz-Target header naming the operation: ${prefixes}.`;
  }
  if (service) {
    const ops = Object.keys(service.operations).join(', ');
    return `Kiln does not implement ${target}; the ${service.targetPrefix} operations it serves are ${ops}.`;
  }
  return `Unknown X-Amz-Target ${target}: Kiln serves ${[...byPrefix.keys()].join(', ')} on POST /.`;
}

function parseJsonBody(body: Buffer): Record<string, unknown> {
  // botocore sends `{}` for operations without members; an empty body means the same.
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new JsonServiceError(
      'SerializationException',
      `The request body is not valid JSON (${(e as Error).message}); send a JSON object.`,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new JsonServiceError(
      'SerializationException',
      'The request body must be a JSON object of the operation’s members.',
    );
  }
  return parsed as Record<string, unknown>;
}
