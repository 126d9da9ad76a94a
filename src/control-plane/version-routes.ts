// Routes for versions and aliases, on Lambda's REST paths.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { functionConfiguration, aliasConfiguration } from './function-view.js';
import { createAliasBody, parseJsonBody, publishVersionBody, updateAliasBody } from './requests.js';
import { servicesFor, type ServicesOf } from './account-services.js';
import { intParam } from './query-params.js';

type Req = FastifyRequest<{
  Params: { FunctionName: string; Name: string };
  Querystring: Record<string, string | undefined>;
}>;

const F = '/2015-03-31/functions/:FunctionName';

export function registerVersionRoutes(app: FastifyInstance, servicesOf: ServicesOf): void {
  const scope = (req: Req) => servicesFor(servicesOf, req);

  app.post(`${F}/versions`, { config: { operation: 'PublishVersion' } }, async (req: Req, reply) => {
    const { account, functions } = scope(req);
    const rec = functions.publish(req.params.FunctionName, parseJsonBody(publishVersionBody, req.body));
    return reply.code(201).send(functionConfiguration(account, rec));
  });

  app.get(`${F}/versions`, { config: { operation: 'ListVersionsByFunction' } }, async (req: Req) => {
    const { account, functions } = scope(req);
    const name = functions.get(req.params.FunctionName).record.config.name;
    const page = functions.versions.list(
      name,
      intParam('maxItems', req.query.MaxItems, 1, 10000),
      req.query.Marker,
    );
    return {
      Versions: page.items.map((r) => functionConfiguration(account, r.record, r.arnQualifier)),
      ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}),
    };
  });

  app.post(`${F}/aliases`, { config: { operation: 'CreateAlias' } }, async (req: Req, reply) => {
    const { account, functions } = scope(req);
    const alias = functions.aliases.create(req.params.FunctionName, parseJsonBody(createAliasBody, req.body));
    return reply.code(201).send(aliasConfiguration(account, alias));
  });

  app.get(`${F}/aliases`, { config: { operation: 'ListAliases' } }, async (req: Req) => {
    const { account, functions } = scope(req);
    const q = req.query;
    const page = functions.aliases.list(
      req.params.FunctionName,
      q.FunctionVersion,
      intParam('maxItems', q.MaxItems, 1, 10000),
      q.Marker,
    );
    return {
      Aliases: page.items.map((a) => aliasConfiguration(account, a)),
      ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}),
    };
  });

  app.get(`${F}/aliases/:Name`, { config: { operation: 'GetAlias' } }, async (req: Req) => {
    const { account, functions } = scope(req);
    return aliasConfiguration(account, functions.aliases.get(req.params.FunctionName, req.params.Name));
  });

  app.put(`${F}/aliases/:Name`, { config: { operation: 'UpdateAlias' } }, async (req: Req) => {
    const { account, functions } = scope(req);
    return aliasConfiguration(
      account,
      functions.aliases.update(
        req.params.FunctionName,
        req.params.Name,
        parseJsonBody(updateAliasBody, req.body),
      ),
    );
  });

  app.delete(`${F}/aliases/:Name`, { config: { operation: 'DeleteAlias' } }, async (req: Req, reply) => {
    scope(req).functions.aliases.delete(req.params.FunctionName, req.params.Name);
    return reply.code(204).send();
  });
}
