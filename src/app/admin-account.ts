// A fresh data dir gets an admin account. Its key is shown once by `kiln up` and written to
// data-dir/admin-credentials (mode 0600) in the AWS shared-credentials format, so both the kiln CLI and
// AWS tools can use it (AWS_SHARED_CREDENTIALS_FILE=<that file>).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AccessKey, AccountStore } from '../store/index.js';

export const adminCredentialsFile = (dataDir: string): string => join(dataDir, 'admin-credentials');

/** Creates the admin account if no account exists yet; returns its key only when it was just made. */
export function ensureAdminAccount(
  accounts: AccountStore,
  accountId: string,
  dataDir: string,
): AccessKey | undefined {
  if (accounts.list().length > 0) return undefined;
  const { key } = accounts.create({ name: 'admin', admin: true, accountId });
  try {
    writeFileSync(adminCredentialsFile(dataDir), credentialsFile(key), { mode: 0o600 });
  } catch (e) {
    // A key nobody can read is no admin: the next start tries again.
    accounts.delete(accountId);
    throw e;
  }
  return key;
}

export function credentialsFile(key: AccessKey): string {
  return [
    `# Kiln admin account ${key.accountId}. Whoever reads this file controls every function: keep it secret.`,
    '[default]',
    `aws_access_key_id = ${key.accessKeyId}`,
    `aws_secret_access_key = ${key.secretAccessKey}`,
    '',
  ].join('\n');
}
