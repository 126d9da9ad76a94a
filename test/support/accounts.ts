// Accounts for tests: made through the admin API of a running instance, as `kiln accounts create` does.
import { KilnApi } from '../../src/client/index.js';
import { keysFor, type Credentials } from './credentials.js';
import type { KilnProcess } from './server.js';

export interface AccountKeys extends Credentials {
  readonly accountId: string;
}

export async function createAccount(kiln: KilnProcess, name: string, admin = false): Promise<AccountKeys> {
  const r = await new KilnApi(kiln.endpoint, keysFor(kiln.endpoint)).createAccount(name, admin);
  return {
    accountId: r.Account.AccountId,
    accessKeyId: r.AccessKey.AccessKeyId,
    secretAccessKey: r.AccessKey.SecretAccessKey,
  };
}
