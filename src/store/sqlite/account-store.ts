// Accounts and access keys in data-dir/accounts.db. The file is created readable by its owner only:
// SigV4 verification needs each secret itself (an HMAC key), so secrets cannot be stored hashed.
import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ApiError } from '../../model/index.js';
import type { AccessKey, AccountRecord, AccountStore, KeyOwner } from '../accounts.js';

const schema = `
  CREATE TABLE IF NOT EXISTS accounts (
    account_id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    admin INTEGER NOT NULL,
    created INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(account_id) ON DELETE CASCADE
  ) STRICT;
  CREATE INDEX IF NOT EXISTS access_keys_account ON access_keys(account_id);`;

interface AccountRow {
  account_id: string;
  name: string;
  admin: number;
  created: number;
}

const toRecord = (r: AccountRow): AccountRecord => ({
  accountId: r.account_id,
  name: r.name,
  admin: r.admin === 1,
  created: r.created,
});

const keyAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** `AKIA` and 16 characters, the shape of an AWS long-term access key id. */
function newAccessKeyId(): string {
  let id = 'AKIA';
  for (const b of randomBytes(16)) id += keyAlphabet[b % 32];
  return id;
}

/** 40 characters of base64 (240 random bits), the shape of an AWS secret access key. */
const newSecret = (): string => randomBytes(30).toString('base64');

const newAccountId = (): string => String(randomInt(100_000_000_000, 1_000_000_000_000));

/** Known keys kept in memory; bounded, so many distinct keys cost a query each rather than memory. */
const maxCachedOwners = 10_000;

export class SqliteAccountStore implements AccountStore {
  private readonly db: Database.Database;
  private readonly stmts;
  /**
   * Every signed request looks its key up: a query per request was a measurable share of a warm Invoke.
   * Only keys that exist are kept (unknown ones would let anyone grow the map); this store is the file's only
   * writer, and deleting an account empties the map, so an entry is never stale.
   */
  private readonly owners = new Map<string, KeyOwner>();

  constructor(
    file: string,
    private readonly now: () => number,
  ) {
    this.db = new Database(file);
    chmodSync(file, 0o600);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(schema);
    this.stmts = {
      insertAccount: this.db.prepare(
        'INSERT INTO accounts (account_id, name, admin, created) VALUES (?, ?, ?, ?)',
      ),
      insertKey: this.db.prepare(
        'INSERT INTO access_keys (access_key_id, secret, account_id) VALUES (?, ?, ?)',
      ),
      get: this.db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE account_id = ?'),
      byName: this.db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE name = ?'),
      list: this.db.prepare<[], AccountRow>('SELECT * FROM accounts ORDER BY created, account_id'),
      delete: this.db.prepare('DELETE FROM accounts WHERE account_id = ?'),
      owner: this.db.prepare<[string], AccountRow & { secret: string }>(
        `SELECT a.*, k.secret FROM access_keys k JOIN accounts a USING (account_id)
         WHERE k.access_key_id = ?`,
      ),
    };
  }

  create(input: { name: string; admin: boolean; accountId?: string }): {
    account: AccountRecord;
    key: AccessKey;
  } {
    return this.db.transaction(() => {
      if (this.stmts.byName.get(input.name)) {
        throw new ApiError('ResourceConflictException', `An account named ${input.name} already exists.`);
      }
      let accountId = input.accountId;
      if (accountId !== undefined && this.stmts.get.get(accountId)) {
        throw new ApiError('ResourceConflictException', `Account ${accountId} already exists.`);
      }
      while (accountId === undefined || this.stmts.get.get(accountId)) accountId = newAccountId();
      const account: AccountRecord = {
        accountId,
        name: input.name,
        admin: input.admin,
        created: this.now(),
      };
      this.stmts.insertAccount.run(accountId, account.name, account.admin ? 1 : 0, account.created);
      const key: AccessKey = { accessKeyId: newAccessKeyId(), secretAccessKey: newSecret(), accountId };
      this.stmts.insertKey.run(key.accessKeyId, key.secretAccessKey, accountId);
      return { account, key };
    })();
  }

  get(accountId: string): AccountRecord | undefined {
    const row = this.stmts.get.get(accountId);
    return row && toRecord(row);
  }

  findByName(name: string): AccountRecord | undefined {
    const row = this.stmts.byName.get(name);
    return row && toRecord(row);
  }

  list(): AccountRecord[] {
    return this.stmts.list.all().map(toRecord);
  }

  delete(accountId: string): boolean {
    this.owners.clear();
    return this.stmts.delete.run(accountId).changes > 0;
  }

  ownerOf(accessKeyId: string): KeyOwner | undefined {
    const cached = this.owners.get(accessKeyId);
    if (cached !== undefined) return cached;
    const row = this.stmts.owner.get(accessKeyId);
    if (row === undefined) return undefined;
    const owner: KeyOwner = { secretAccessKey: row.secret, account: toRecord(row) };
    if (this.owners.size >= maxCachedOwners) this.owners.clear();
    this.owners.set(accessKeyId, owner);
    return owner;
  }

  close(): void {
    this.db.close();
  }
}
