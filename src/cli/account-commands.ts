// `kiln accounts …`: who may call this Kiln. Needs an admin account's key.
import type { Command } from 'commander';
import type { KilnApi } from '../client/index.js';
import { formatTable } from './format.js';

export function registerAccountCommands(
  program: Command,
  run: (action: (api: KilnApi) => Promise<void>) => Promise<void>,
  print: (line: string) => unknown,
): void {
  const cmd = program.command('accounts').description('create, list and delete accounts (admin only)');
  cmd
    .command('create')
    .description('create an account with one access key; its secret is printed once, here')
    .argument('<name>', 'a unique name: letters, digits, dots, dashes, underscores')
    .option('--admin', 'the account may also manage accounts and read /_kiln and /metrics')
    .option('--json', 'print the raw answer as JSON')
    .action(async (name: string, opts: { admin?: boolean; json?: boolean }) => {
      await run(async (api) => {
        const r = await api.createAccount(name, opts.admin ?? false);
        if (opts.json) return void print(JSON.stringify(r, null, 2));
        print(
          `Created account ${r.Account.Name} (${r.Account.AccountId}${r.Account.Admin ? ', admin' : ''}).`,
        );
        print('Its key is shown this once; store it now:');
        print(`  AWS_ACCESS_KEY_ID=${r.AccessKey.AccessKeyId}`);
        print(`  AWS_SECRET_ACCESS_KEY=${r.AccessKey.SecretAccessKey}`);
      });
    });
  cmd
    .command('list')
    .description('every account')
    .option('--json', 'print the raw answer as JSON')
    .action(async (opts: { json?: boolean }) => {
      await run(async (api) => {
        const r = await api.listAccounts();
        if (opts.json) return void print(JSON.stringify(r, null, 2));
        print(
          formatTable(
            ['ACCOUNT', 'NAME', 'ADMIN', 'CREATED'],
            r.Accounts.map((a) => [a.AccountId, a.Name, a.Admin ? 'yes' : '', a.Created]),
          ),
        );
      });
    });
  cmd
    .command('delete')
    .description('delete an account and its keys')
    .argument('<account>', 'account id or name')
    .action(async (account: string) => {
      await run(async (api) => {
        await api.deleteAccount(account);
        print(`Deleted account ${account}.`);
      });
    });
}
