// Who sent a request: the account its access key belongs to. Every route scopes what it reads and
// changes to that account; `authenticate` (given to createHttpServer) decides it once per request.
import type { FastifyRequest } from 'fastify';

export interface Caller {
  /** The 12-digit account id that owns everything this request may see or change. */
  readonly accountId: string;
  /** The access key that signed the request; absent when authentication is off. */
  readonly accessKeyId?: string;
  /** Admin keys may also manage accounts and read the platform's own endpoints. */
  readonly admin: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}

/** Decides the caller of a request whose body has been read; throws an ApiError to refuse it. */
export type Authenticate = (req: FastifyRequest) => Caller;

/** The caller of a request past authentication. */
export function callerOf(req: FastifyRequest): Caller {
  if (req.caller === undefined) {
    throw new Error(`request ${req.id} reached a route before authentication decided its caller`);
  }
  return req.caller;
}
