// Event invoke config routes on Lambda's 2019-09-25 paths; `?Qualifier=` (or a qualified name) picks the
// version or alias, and no qualifier means `$LATEST`.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { asyncInvokeLimits } from '../model/index.js';
import { servicesFor, type ServicesOf } from './account-services.js';
import { intParam } from './query-params.js';
import { eventInvokeConfigBody, parseJsonBody } from './requests.js';

type Req = FastifyRequest<{
  Params: { FunctionName: string };
  Querystring: Record<string, string | undefined>;
}>;

const P = '/2019-09-25/functions/:FunctionName/event-invoke-config';

export function registerEventInvokeConfig(app: FastifyInstance, servicesOf: ServicesOf): void {
  const configsOf = (req: Req) => servicesFor(servicesOf, req).eventInvokeConfigs;

  app.put(P, { config: { operation: 'PutFunctionEventInvokeConfig' } }, async (req: Req) =>
    configsOf(req).put(
      req.params.FunctionName,
      req.query.Qualifier,
      parseJsonBody(eventInvokeConfigBody, req.body),
    ),
  );

  app.post(P, { config: { operation: 'UpdateFunctionEventInvokeConfig' } }, async (req: Req) =>
    configsOf(req).update(
      req.params.FunctionName,
      req.query.Qualifier,
      parseJsonBody(eventInvokeConfigBody, req.body),
    ),
  );

  app.get(P, { config: { operation: 'GetFunctionEventInvokeConfig' } }, async (req: Req) =>
    configsOf(req).get(req.params.FunctionName, req.query.Qualifier),
  );

  app.delete(P, { config: { operation: 'DeleteFunctionEventInvokeConfig' } }, async (req: Req, reply) => {
    configsOf(req).delete(req.params.FunctionName, req.query.Qualifier);
    return reply.code(204).send();
  });

  app.get(`${P}/list`, { config: { operation: 'ListFunctionEventInvokeConfigs' } }, async (req: Req) => {
    const q = req.query;
    const page = configsOf(req).list(
      req.params.FunctionName,
      intParam('maxItems', q.MaxItems, 1, asyncInvokeLimits.listMaxItems),
      q.Marker,
    );
    return {
      FunctionEventInvokeConfigs: page.items,
      ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}),
    };
  });
}
