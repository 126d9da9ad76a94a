// Provisioned concurrency routes on Lambda's 2019-09-30 path; `?List=ALL` lists, `?Qualifier=` names one.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { validationError } from '../model/index.js';
import { servicesFor, type ServicesOf } from './account-services.js';
import { intParam } from './query-params.js';
import { parseJsonBody } from './requests.js';

type Req = FastifyRequest<{
  Params: { FunctionName: string };
  Querystring: Record<string, string | undefined>;
}>;

const P = '/2019-09-30/functions/:FunctionName/provisioned-concurrency';
const putBody = z.object({ ProvisionedConcurrentExecutions: z.number().int() }).partial();

export function registerProvisioned(app: FastifyInstance, servicesOf: ServicesOf): void {
  const provisionedOf = (req: Req) => servicesFor(servicesOf, req).provisioned;

  app.put(P, { config: { operation: 'PutProvisionedConcurrencyConfig' } }, async (req: Req, reply) => {
    const body = parseJsonBody(putBody, req.body);
    const view = provisionedOf(req).put(
      req.params.FunctionName,
      req.query.Qualifier,
      body.ProvisionedConcurrentExecutions,
    );
    return reply.code(202).send(view);
  });

  app.get(P, { config: { operation: 'GetProvisionedConcurrencyConfig' } }, async (req: Req) => {
    const q = req.query;
    const provisioned = provisionedOf(req);
    if (q.List === undefined) return provisioned.get(req.params.FunctionName, q.Qualifier);
    if (q.List !== 'ALL') throw validationError('list', q.List, 'Member must satisfy enum value set: [ALL]');
    const page = provisioned.list(req.params.FunctionName, intParam('maxItems', q.MaxItems, 1, 50), q.Marker);
    return {
      ProvisionedConcurrencyConfigs: page.items,
      ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}),
    };
  });

  app.delete(P, { config: { operation: 'DeleteProvisionedConcurrencyConfig' } }, async (req: Req, reply) => {
    provisionedOf(req).delete(req.params.FunctionName, req.query.Qualifier);
    return reply.code(204).send();
  });
}
