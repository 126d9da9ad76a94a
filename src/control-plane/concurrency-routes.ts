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
  type Account,
} from '../model/index.js';
import type { MetadataStore } from '../store/index.js';
import { parseJsonBody } from './requests.js';
import { z } from 'zod';

export interface ConcurrencyRoutesDeps {
  readonly account: Account;
  readonly metadata: MetadataStore;
  readonly accountLimit: number;
}

type Req = FastifyRequest<{ Params: { FunctionName: string } }>;

const putBody = z.object({ ReservedConcurrentExecutions: z.number().int() }).partial();

export function registerConcurrency(app: FastifyInstance, d: ConcurrencyRoutesDeps): void {
  /** Reserved concurrency belongs to the function, never to a version or alias. */
  const functionOf = (raw: string): string => {
    const ref = parseFunctionName(raw, d.account);
    if (ref.qualifier !== undefined) {
      throw new ApiError(
        'InvalidParameterValueException',
        'Reserved concurrency applies to a function, not to a qualifier: drop the qualifier.',
      );
    }
    if (!d.metadata.get(ref.name)) throw notFound(`Function not found: ${functionArn(d.account, ref.name)}`);
    return ref.name;
  };

  app.put(
    '/2017-10-31/functions/:FunctionName/concurrency',
    { config: { operation: 'PutFunctionConcurrency' } },
    async (req: Req) => {
      const body = parseJsonBody(putBody, req.body);
      const value = requireAtLeast('reservedConcurrentExecutions', body.ReservedConcurrentExecutions, 0);
      const name = functionOf(req.params.FunctionName);
      const others = d.metadata.reservedConcurrencyTotal() - (d.metadata.getReservedConcurrency(name) ?? 0);
      if (d.accountLimit - others - value < limits.minimumUnreservedConcurrency) {
        throw new ApiError(
          'InvalidParameterValueException',
          `Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [${limits.minimumUnreservedConcurrency}].`,
        );
      }
      // Provisioned environments draw on the reservation, so it may not shrink below them.
      const provisioned = d.metadata.listProvisioned(name).reduce((sum, p) => sum + p.requested, 0);
      if (value < provisioned) {
        throw new ApiError(
          'InvalidParameterValueException',
          `ReservedConcurrentExecutions (${value}) must be at least the function's provisioned concurrency (${provisioned}); lower or delete its provisioned concurrency configs first.`,
        );
      }
      d.metadata.setReservedConcurrency(name, value);
      return { ReservedConcurrentExecutions: value };
    },
  );

  app.get(
    '/2019-09-30/functions/:FunctionName/concurrency',
    { config: { operation: 'GetFunctionConcurrency' } },
    async (req: Req) => {
      const reserved = d.metadata.getReservedConcurrency(functionOf(req.params.FunctionName));
      return reserved === undefined ? {} : { ReservedConcurrentExecutions: reserved };
    },
  );

  app.delete(
    '/2017-10-31/functions/:FunctionName/concurrency',
    { config: { operation: 'DeleteFunctionConcurrency' } },
    async (req: Req, reply) => {
      d.metadata.setReservedConcurrency(functionOf(req.params.FunctionName), undefined);
      return reply.code(204).send();
    },
  );
}
