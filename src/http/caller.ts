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

/**
 * Who may call a route: `account` (the default) any account's valid signature; `admin` an admin account's;
 * `operator` an admin's signature or any request from a loopback address (a local metrics scraper);
 * `public` anyone (the route checks its own credential, e.g. a presigned URL).
 */
export type RouteAccess = 'account' | 'admin' | 'operator' | 'public';

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
  interface FastifyContextConfig {
    access?: RouteAccess;
    /** SigV4 service names this route's signatures may be scoped to; `lambda` when absent. */
    signingNames?: readonly string[];
  }
}

/**
 * Decides the caller of a request whose body has been read (undefined for a `public` route); throws an
 * ApiError to refuse it.
 */
export type Authenticate = (req: FastifyRequest) => Caller | undefined;

/** The caller of a request past authentication. */
export function callerOf(req: FastifyRequest): Caller {
  if (req.caller === undefined) {
    throw new Error(`request ${req.id} reached a route before authentication decided its caller`);
  }
  return req.caller;
}
