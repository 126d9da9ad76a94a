// Read-only views of the platform's internals, for operators and for tests that observe the lifecycle.
// They span every account (admin only once authentication lands): each environment names its function's
// ARN, and with it the account.
import type { FastifyInstance } from 'fastify';
import type { Fleet } from '../placement/index.js';

export function registerIntrospection(app: FastifyInstance, fleet: Fleet): void {
  app.get('/_kiln/environments', { config: { operation: 'ListEnvironments' } }, async () => ({
    Environments: fleet.environments().map((e) => ({
      Id: e.id,
      FunctionArn: e.functionArn,
      FunctionName: e.functionName,
      Version: e.version,
      State: e.state,
      Frozen: e.frozen,
      WorkerId: e.workerId,
      Prewarmed: e.prewarmed,
    })),
    // Pre-initialised environments waiting for a function: not any function's (yet).
    Zygotes: fleet.zygotes().map((z) => ({ Id: z.id, Runtime: z.runtime, State: z.state })),
  }));
}
