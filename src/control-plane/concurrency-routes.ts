// Reserved concurrency: PutFunctionConcurrency / DeleteFunctionConcurrency on the 2017-10-31 paths and
// GetFunctionConcurrency on 2019-09-30, as Lambda serves them.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  ApiError,
  functionArn,
  limits,
  notFound,
  parseFunctionName,
  requireAtLeast,
} from '../model/index.js';
import { servicesFor, type ServicesOf } from './account-services.js';
import { parseJsonBody } from './requests.js';
import { z } from 'zod';

export interface ConcurrencyRoutesDeps {
  readonly servicesOf: ServicesOf;
  /** Each account's concurrency limit: reservations of one account never touch another's. */
  readonly accountLimit: number;
}

type Req = FastifyRequest<{ Params: { FunctionName: string } }>;

const putBody = z.object({ ReservedConcurrentExecutions: z.number().int() }).partial();

export function registerConcurrency(app: FastifyInstance, d: ConcurrencyRoutesDeps): void {
  /**
   * The caller's metadata, and the function a request names in it: reserved concurrency belongs to the
   * function, never to a version or alias.
   */
  const functionOf = (req: Req) => {
    const { account, metadata } = servicesFor(d.servicesOf, req);
    const ref = parseFunctionName(req.params.FunctionName, account);
    if (ref.qualifier !== undefined) {
      throw new ApiError(
        'InvalidParameterValueException',
        'Reserved concurrency applies to a function, not to a qualifier: drop the qualifier.',
      );
    }
    if (!metadata.get(ref.name)) throw notFound(`Function not found: ${functionArn(account, ref.name)}`);
    return { metadata, name: ref.name };
  };

  app.put(
    '/2017-10-31/functions/:FunctionName/concurrency',
    { config: { operation: 'PutFunctionConcurrency' } },
    async (req: Req) => {
      const body = parseJsonBody(putBody, req.body);
      const value = requireAtLeast('reservedConcurrentExecutions', body.ReservedConcurrentExecutions, 0);
      const { metadata, name } = functionOf(req);
      const others = metadata.reservedConcurrencyTotal() - (metadata.getReservedConcurrency(name) ?? 0);
      if (d.accountLimit - others - value < limits.minimumUnreservedConcurrency) {
        throw new ApiError(
          'InvalidParameterValueException',
          `Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [${limits.minimumUnreservedConcurrency}].`,
        );
      }
      // Provisioned environments draw on the reservation, so it may not shrink below them.
      const provisioned = metadata.listProvisioned(name).reduce((sum, p) => sum + p.requested, 0);
      if (value < provisioned) {
        throw new ApiError(
          'InvalidParameterValueException',
          `ReservedConcurrentExecutions (${value}) must be at least the function's provisioned concurrency (${provisioned}); lower or delete its provisioned concurrency configs first.`,
        );
      }
      metadata.setReservedConcurrency(name, value);
      return { ReservedConcurrentExecutions: value };
    },
  );

  app.get(
    '/2019-09-30/functions/:FunctionName/concurrency',
    { config: { operation: 'GetFunctionConcurrency' } },
    async (req: Req) => {
      const { metadata, name } = functionOf(req);
      const reserved = metadata.getReservedConcurrency(name);
      return reserved === undefined ? {} : { ReservedConcurrentExecutions: reserved };
    },
  );

  app.delete(
    '/2017-10-31/functions/:FunctionName/concurrency',
    { config: { operation: 'DeleteFunctionConcurrency' } },
    async (req: Req, reply) => {
      const { metadata, name } = functionOf(req);
      metadata.setReservedConcurrency(name, undefined);
      return reply.code(204).send();
    },
  );
}
