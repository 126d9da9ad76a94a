// The management API routes for functions, on Lambda's REST paths.
import { createReadStream } from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { limits, validationError } from '../model/index.js';
import type { CodeStore } from '../store/index.js';
import { servicesFor, type ServicesOf } from './account-services.js';
import type { CodeUrlSigner } from './code-url.js';
import type { Resolved } from './version-service.js';
import { registerVersionRoutes } from './version-routes.js';
import { functionConfiguration } from './function-view.js';
import { intParam } from './query-params.js';
import { createFunctionBody, parseJsonBody, updateCodeBody, updateConfigBody } from './requests.js';

export interface ControlPlaneDeps {
  /** Every route works in its caller's account. */
  readonly servicesOf: ServicesOf;
  readonly code: CodeStore;
  readonly codeUrls: CodeUrlSigner;
  /** Each account's concurrency limit, reported by GetAccountSettings. */
  readonly concurrencyLimit: number;
}

type Req = FastifyRequest<{
  Params: { FunctionName: string; sha: string };
  Querystring: Record<string, string | undefined>;
}>;

const F = '/2015-03-31/functions';

export function registerControlPlane(app: FastifyInstance, d: ControlPlaneDeps): void {
  const codeLimit = limits.codeRequestBytes;
  /** The caller's services, and views that name the caller's account in their ARNs. */
  const scope = (req: FastifyRequest) => {
    const s = servicesFor(d.servicesOf, req);
    return {
      ...s,
      view: (rec: Parameters<typeof functionConfiguration>[1]) => functionConfiguration(s.account, rec),
      viewResolved: (r: Resolved) => functionConfiguration(s.account, r.record, r.arnQualifier),
    };
  };

  app.post(F, { bodyLimit: codeLimit, config: { operation: 'CreateFunction' } }, async (req, reply) => {
    const s = scope(req);
    const rec = await s.functions.create(parseJsonBody(createFunctionBody, req.body));
    return reply.code(201).send(s.view(rec));
  });

  app.get(F, { config: { operation: 'ListFunctions' } }, async (req: Req) => {
    const q = req.query;
    if (q.FunctionVersion !== undefined && q.FunctionVersion !== 'ALL') {
      throw validationError(
        'functionVersion',
        q.FunctionVersion,
        'Member must satisfy enum value set: [ALL]',
      );
    }
    const s = scope(req);
    const page = s.functions.list(intParam('maxItems', q.MaxItems, 1, 10000), q.Marker);
    return { Functions: page.items.map(s.view), ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}) };
  });

  app.get(`${F}/:FunctionName`, { config: { operation: 'GetFunction' } }, async (req: Req) => {
    const s = scope(req);
    const resolved = s.functions.get(req.params.FunctionName, req.query.Qualifier);
    const rec = resolved.record;
    const host = req.headers.host ?? `${req.hostname}`;
    return {
      Configuration: s.viewResolved(resolved),
      Code: {
        RepositoryType: 'S3',
        Location: `${req.protocol}://${host}${d.codeUrls.path(rec.code.sha256Hex)}`,
      },
      ...(Object.keys(rec.tags).length > 0 ? { Tags: rec.tags } : {}),
      ...concurrencyOf(s.metadata.getReservedConcurrency(rec.config.name)),
    };
  });

  app.get(
    `${F}/:FunctionName/configuration`,
    { config: { operation: 'GetFunctionConfiguration' } },
    async (req: Req) => {
      const s = scope(req);
      return s.viewResolved(s.functions.get(req.params.FunctionName, req.query.Qualifier));
    },
  );

  app.put(
    `${F}/:FunctionName/code`,
    { bodyLimit: codeLimit, config: { operation: 'UpdateFunctionCode' } },
    async (req: Req) => {
      const s = scope(req);
      return s.view(
        await s.functions.updateCode(req.params.FunctionName, parseJsonBody(updateCodeBody, req.body)),
      );
    },
  );

  app.put(
    `${F}/:FunctionName/configuration`,
    { config: { operation: 'UpdateFunctionConfiguration' } },
    async (req: Req) => {
      const s = scope(req);
      return s.view(
        s.functions.updateConfiguration(req.params.FunctionName, parseJsonBody(updateConfigBody, req.body)),
      );
    },
  );

  app.delete(`${F}/:FunctionName`, { config: { operation: 'DeleteFunction' } }, async (req: Req, reply) => {
    await scope(req).functions.delete(req.params.FunctionName, req.query.Qualifier);
    return reply.code(204).send();
  });

  registerVersionRoutes(app, d.servicesOf);

  app.get('/2016-08-19/account-settings', { config: { operation: 'GetAccountSettings' } }, async (req) => {
    const s = scope(req);
    const usage = s.functions.usage();
    return {
      AccountLimit: {
        TotalCodeSize: limits.totalCodeBytes,
        CodeSizeUnzipped: limits.unzippedBytes,
        CodeSizeZipped: limits.zippedBytes,
        ConcurrentExecutions: d.concurrencyLimit,
        UnreservedConcurrentExecutions: d.concurrencyLimit - s.metadata.reservedConcurrencyTotal(),
      },
      AccountUsage: { TotalCodeSize: usage.totalCodeSize, FunctionCount: usage.functionCount },
    };
  });

  app.get(
    '/_kiln/code/:sha',
    { config: { operation: 'GetCode', access: 'public' } },
    async (req: Req, reply) => {
      const sha = req.params.sha.replace(/\.zip$/, '');
      if (
        !/^[0-9a-f]{64}$/.test(sha) ||
        !d.codeUrls.verify(sha, req.query.Expires, req.query.Signature) ||
        !d.code.has(sha)
      ) {
        // Same answer for a bad signature and a missing package: the URL reveals nothing.
        return reply
          .code(403)
          .header('content-type', 'application/xml')
          .send(
            '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired or the signature does not match; call GetFunction for a fresh Code.Location.</Message></Error>',
          );
      }
      return reply.header('content-type', 'application/zip').send(createReadStream(d.code.pathOf(sha)));
    },
  );
}

const concurrencyOf = (
  reserved: number | undefined,
): { Concurrency?: { ReservedConcurrentExecutions: number } } =>
  reserved === undefined ? {} : { Concurrency: { ReservedConcurrentExecutions: reserved } };
