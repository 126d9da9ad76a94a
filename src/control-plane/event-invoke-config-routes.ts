// Event invoke config routes on Lambda's 2019-09-25 paths; `?Qualifier=` (or a qualified name) picks the
// version or alias, and no qualifier means `$LATEST`.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { asyncInvokeLimits } from '../model/index.js';
import type { EventInvokeConfigService } from './event-invoke-config-service.js';
import { intParam } from './query-params.js';
import { eventInvokeConfigBody, parseJsonBody } from './requests.js';

type Req = FastifyRequest<{
  Params: { FunctionName: string };
  Querystring: Record<string, string | undefined>;
}>;

const P = '/2019-09-25/functions/:FunctionName/event-invoke-config';

export function registerEventInvokeConfig(app: FastifyInstance, configs: EventInvokeConfigService): void {
  app.put(P, { config: { operation: 'PutFunctionEventInvokeConfig' } }, async (req: Req) =>
    configs.put(req.params.FunctionName, req.query.Qualifier, parseJsonBody(eventInvokeConfigBody, req.body)),
  );

  app.post(P, { config: { operation: 'UpdateFunctionEventInvokeConfig' } }, async (req: Req) =>
    configs.update(
      req.params.FunctionName,
      req.query.Qualifier,
      parseJsonBody(eventInvokeConfigBody, req.body),
    ),
  );

  app.get(P, { config: { operation: 'GetFunctionEventInvokeConfig' } }, async (req: Req) =>
    configs.get(req.params.FunctionName, req.query.Qualifier),
  );

  app.delete(P, { config: { operation: 'DeleteFunctionEventInvokeConfig' } }, async (req: Req, reply) => {
    configs.delete(req.params.FunctionName, req.query.Qualifier);
    return reply.code(204).send();
  });

  app.get(`${P}/list`, { config: { operation: 'ListFunctionEventInvokeConfigs' } }, async (req: Req) => {
    const q = req.query;
    const page = configs.list(
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
