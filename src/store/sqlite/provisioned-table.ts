// Provisioned concurrency configurations in SQLite, one row per account, function and qualifier (version
// or alias).
import type Database from 'better-sqlite3';
import type { ProvisionedConcurrencyRecord } from '../ports.js';

interface Row {
  account: string;
  name: string;
  qualifier: string;
  requested: number;
  last_modified: number;
}

const toRecord = (r: Row): ProvisionedConcurrencyRecord => ({
  functionName: r.name,
  qualifier: r.qualifier,
  requested: r.requested,
  lastModified: r.last_modified,
});

export class ProvisionedTable {
  private readonly stmts;

  constructor(db: Database.Database) {
    const cols = 'account, name, qualifier, requested, last_modified';
    this.stmts = {
      get: db.prepare<[string, string, string], Row>(
        `SELECT ${cols} FROM provisioned_concurrency WHERE account = ? AND name = ? AND qualifier = ?`,
      ),
      put: db.prepare(
        'INSERT INTO provisioned_concurrency (account, name, qualifier, requested, last_modified) VALUES (?, ?, ?, ?, ?) ON CONFLICT(account, name, qualifier) DO UPDATE SET requested = excluded.requested, last_modified = excluded.last_modified',
      ),
      delete: db.prepare(
        'DELETE FROM provisioned_concurrency WHERE account = ? AND name = ? AND qualifier = ?',
      ),
      listFor: db.prepare<[string, string], Row>(
        `SELECT ${cols} FROM provisioned_concurrency WHERE account = ? AND name = ? ORDER BY qualifier`,
      ),
      listAccount: db.prepare<[string], Row>(
        `SELECT ${cols} FROM provisioned_concurrency WHERE account = ? ORDER BY name, qualifier`,
      ),
      listAll: db.prepare<[], Row>(
        `SELECT ${cols} FROM provisioned_concurrency ORDER BY account, name, qualifier`,
      ),
    };
  }

  get(account: string, name: string, qualifier: string): ProvisionedConcurrencyRecord | undefined {
    const row = this.stmts.get.get(account, name, qualifier);
    return row ? toRecord(row) : undefined;
  }

  /** False when the function is gone. */
  put(account: string, r: ProvisionedConcurrencyRecord): boolean {
    try {
      this.stmts.put.run(account, r.functionName, r.qualifier, r.requested, r.lastModified);
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return false;
      throw e;
    }
  }

  delete(account: string, name: string, qualifier: string): boolean {
    return this.stmts.delete.run(account, name, qualifier).changes === 1;
  }

  list(account: string, name?: string): ProvisionedConcurrencyRecord[] {
    const rows =
      name === undefined ? this.stmts.listAccount.all(account) : this.stmts.listFor.all(account, name);
    return rows.map(toRecord);
  }

  /** Every account's configurations. */
  listAll(): (ProvisionedConcurrencyRecord & { accountId: string })[] {
    return this.stmts.listAll.all().map((r) => ({ accountId: r.account, ...toRecord(r) }));
  }
}
