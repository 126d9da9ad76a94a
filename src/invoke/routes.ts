// POST /2015-03-31/functions/{FunctionName}/invocations, with Lambda's headers.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { callerOf } from '../http/index.js';
import { ApiError } from '../model/index.js';
import type { InvokeService } from './invoke-service.js';

/** Lambda's synchronous request payload limit. */
export const maxSyncPayload = 6_291_456;
/** The deprecated InvokeAsync operation's payload limit. */
const maxInvokeAsyncPayload = 262_144;

type Req = FastifyRequest<{ Params: { FunctionName: string }; Querystring: { Qualifier?: string } }>;

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** `invokeOf` gives an account's InvokeService: a request invokes only its caller's functions. */
export function registerInvoke(app: FastifyInstance, invokeOf: (accountId: string) => InvokeService): void {
  const serviceOf = (req: FastifyRequest) => invokeOf(callerOf(req).accountId);

  app.post(
    '/2015-03-31/functions/:FunctionName/invocations',
    { bodyLimit: maxSyncPayload, config: { operation: 'Invoke', tooLarge: 'RequestTooLargeException' } },
    async (req: Req, reply) => {
      const out = await serviceOf(req).invoke({
        requestId: req.id,
        functionName: req.params.FunctionName,
        qualifier: req.query.Qualifier,
        invocationType: header(req, 'x-amz-invocation-type'),
        logType: header(req, 'x-amz-log-type'),
        clientContext: header(req, 'x-amz-client-context'),
        payload: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
      });
      // Lambda answers with the invocation's own request id, the one the function saw.
      return reply
        .code(out.status)
        .headers({ ...out.headers, 'x-amzn-RequestId': out.requestId })
        .send(out.body);
    },
  );

  // Deprecated by Lambda but still served by it (and by older SDKs): an Event invocation answering {"Status":202}.
  app.post(
    '/2014-11-13/functions/:FunctionName/invoke-async',
    { bodyLimit: maxSyncPayload, config: { operation: 'InvokeAsync', tooLarge: 'RequestTooLargeException' } },
    async (req: Req, reply) => {
      const payload = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (payload.length > maxInvokeAsyncPayload) {
        throw new ApiError(
          'RequestTooLargeException',
          `${payload.length} byte payload is too large for the InvokeAsync operation (limit ${maxInvokeAsyncPayload} bytes)`,
        );
      }
      const out = await serviceOf(req).invoke({
        requestId: req.id,
        functionName: req.params.FunctionName,
        qualifier: undefined,
        invocationType: 'Event',
        logType: undefined,
        clientContext: undefined,
        payload,
      });
      return reply.code(202).headers({ 'x-amzn-RequestId': out.requestId }).send({ Status: 202 });
    },
  );
}
