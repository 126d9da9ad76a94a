// `/_kiln/accounts`: admin accounts create, list and delete accounts. A new account's secret key is in
// the create answer only; Kiln never shows it again.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { callerOf } from '../http/index.js';
import { ApiError, notFound } from '../model/index.js';
import type { AccountRecord, AccountStore } from '../store/index.js';
import { jsonObject } from './json-body.js';

const namePattern = /^[A-Za-z0-9._-]{1,64}$/;

const view = (a: AccountRecord): Record<string, unknown> => ({
  AccountId: a.accountId,
  Name: a.name,
  Admin: a.admin,
  Created: new Date(a.created).toISOString(),
});

export function registerAccountRoutes(
  app: FastifyInstance,
  accounts: AccountStore,
  /** Whether the account still has functions: their code, events and logs would be left unreachable. */
  ownsFunctions: (accountId: string) => boolean,
): void {
  app.get('/_kiln/accounts', { config: { operation: 'ListAccounts', access: 'admin' } }, async () => ({
    Accounts: accounts.list().map(view),
  }));

  app.post(
    '/_kiln/accounts',
    { config: { operation: 'CreateAccount', access: 'admin' } },
    async (req, reply) => {
      const { Name: name, Admin: admin = false } = jsonObject(req.body);
      if (typeof name !== 'string' || !namePattern.test(name)) {
        throw new ApiError(
          'InvalidParameterValueException',
          'Name must be 1 to 64 letters, digits, dots, dashes or underscores: send {"Name": "team-a"}.',
        );
      }
      if (typeof admin !== 'boolean') {
        throw new ApiError('InvalidParameterValueException', 'Admin must be true or false.');
      }
      const { account, key } = accounts.create({ name, admin });
      return reply.code(201).send({
        Account: view(account),
        AccessKey: { AccessKeyId: key.accessKeyId, SecretAccessKey: key.secretAccessKey },
      });
    },
  );

  app.delete(
    '/_kiln/accounts/:Account',
    { config: { operation: 'DeleteAccount', access: 'admin' } },
    async (req: FastifyRequest<{ Params: { Account: string } }>, reply) => {
      const ref = req.params.Account;
      const account = accounts.get(ref) ?? accounts.findByName(ref);
      if (account === undefined) throw notFound(`No account ${ref} (give its id or its name).`);
      if (account.accountId === callerOf(req).accountId) {
        throw new ApiError(
          'ResourceConflictException',
          `Account ${account.name} signed this request; delete it with another admin account's key.`,
        );
      }
      if (ownsFunctions(account.accountId)) {
        throw new ApiError(
          'ResourceConflictException',
          `Account ${account.name} still has functions; delete them with its key first, so nothing of it is left behind unreachable.`,
        );
      }
      accounts.delete(account.accountId);
      return reply.code(204).send();
    },
  );
}
