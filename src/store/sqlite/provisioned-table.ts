// Provisioned concurrency configurations in SQLite, one row per function and qualifier (version or alias).
import type Database from 'better-sqlite3';
import type { ProvisionedConcurrencyRecord } from '../ports.js';

interface Row {
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
    const cols = 'name, qualifier, requested, last_modified';
    this.stmts = {
      get: db.prepare<[string, string], Row>(
        `SELECT ${cols} FROM provisioned_concurrency WHERE name = ? AND qualifier = ?`,
      ),
      put: db.prepare(
        'INSERT INTO provisioned_concurrency (name, qualifier, requested, last_modified) VALUES (?, ?, ?, ?) ON CONFLICT(name, qualifier) DO UPDATE SET requested = excluded.requested, last_modified = excluded.last_modified',
      ),
      delete: db.prepare('DELETE FROM provisioned_concurrency WHERE name = ? AND qualifier = ?'),
      listFor: db.prepare<[string], Row>(
        `SELECT ${cols} FROM provisioned_concurrency WHERE name = ? ORDER BY qualifier`,
      ),
      listAll: db.prepare<[], Row>(`SELECT ${cols} FROM provisioned_concurrency ORDER BY name, qualifier`),
    };
  }

  get(name: string, qualifier: string): ProvisionedConcurrencyRecord | undefined {
    const row = this.stmts.get.get(name, qualifier);
    return row ? toRecord(row) : undefined;
  }

  /** False when the function is gone. */
  put(r: ProvisionedConcurrencyRecord): boolean {
    try {
      this.stmts.put.run(r.functionName, r.qualifier, r.requested, r.lastModified);
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return false;
      throw e;
    }
  }

  delete(name: string, qualifier: string): boolean {
    return this.stmts.delete.run(name, qualifier).changes === 1;
  }

  list(name?: string): ProvisionedConcurrencyRecord[] {
    const rows = name === undefined ? this.stmts.listAll.all() : this.stmts.listFor.all(name);
    return rows.map(toRecord);
  }
}
