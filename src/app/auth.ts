// Who is calling: the account of the access key that signed the request, checked with AWS Signature V4
// (src/http/sigv4.ts) against the keys in accounts.db. Each route declares who may call it
// (`config.access`, see src/http/caller.ts) and which SigV4 service names its signatures carry.
import type { FastifyRequest } from 'fastify';
import { isLoopback, type Config } from '../config/index.js';
import { verifySigV4, type Authenticate, type Caller } from '../http/index.js';
import { ApiError } from '../model/index.js';
import type { Clock } from '../shared/index.js';
import type { AccountStore } from '../store/index.js';

export interface AuthOptions {
  readonly mode: Config['auth'];
  readonly region: string;
  readonly accounts: AccountStore;
  /** The account unsigned requests act as in `local` mode. */
  readonly adminAccountId: string;
  readonly clock: Clock;
}

export function authenticator(opts: AuthOptions): Authenticate {
  const admin: Caller = { accountId: opts.adminAccountId, admin: true };
  const signed = opts.mode === 'local' ? unchecked(opts, admin) : verified(opts);
  return (req) => {
    // Kiln's own endpoints are for admins unless a route says otherwise.
    const access =
      req.routeOptions.config.access ?? (req.routeOptions.url?.startsWith('/_kiln/') ? 'admin' : 'account');
    if (access === 'public') return undefined;
    if (access === 'operator' && isLoopback(req.socket.remoteAddress ?? '')) return admin;
    const caller = signed(req);
    if ((access === 'admin' || access === 'operator') && !caller.admin) {
      const op = req.routeOptions.config.operation ?? 'this operation';
      throw new ApiError(
        'AccessDeniedException',
        `Account ${caller.accountId} is not authorized to perform kiln:${op}: only admin accounts may; sign with an admin account's key.`,
      );
    }
    return caller;
  };
}

function verified(opts: AuthOptions): (req: FastifyRequest) => Caller {
  return (req) => {
    let owner: ReturnType<AccountStore['ownerOf']>;
    const result = verifySigV4(
      {
        method: req.method,
        url: req.raw.url ?? req.url,
        headers: req.headers,
        body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
      },
      {
        secretOf: (id) => (owner = opts.accounts.ownerOf(id))?.secretAccessKey,
        services: req.routeOptions.config.signingNames ?? ['lambda'],
        region: opts.region,
        nowMs: opts.clock.now(),
      },
    );
    if (!result.ok) throw new ApiError(result.code, result.message);
    if (owner === undefined) throw new Error('a verified signature has no key owner');
    return {
      accountId: owner.account.accountId,
      accessKeyId: result.accessKeyId,
      admin: owner.account.admin,
    };
  };
}

/** `local` mode: a known access key still selects its account, but no signature is checked. */
function unchecked(opts: AuthOptions, admin: Caller): (req: FastifyRequest) => Caller {
  return (req) => {
    const auth = req.headers.authorization;
    const keyId = typeof auth === 'string' ? /Credential=([^/,\s]+)\//.exec(auth)?.[1] : undefined;
    const owner = keyId === undefined ? undefined : opts.accounts.ownerOf(keyId);
    if (owner === undefined || keyId === undefined) return admin;
    return { accountId: owner.account.accountId, accessKeyId: keyId, admin: owner.account.admin };
  };
}
