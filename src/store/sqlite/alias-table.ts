// Aliases in SQLite. The additional version of a weighted alias has its own column so "which aliases
// route to version N" is one indexed query, not a scan of JSON.
import type Database from 'better-sqlite3';
import { ApiError, type AliasRecord } from '../../model/index.js';

interface AliasRow {
  name: string;
  alias: string;
  function_version: string;
  routing: string;
  description: string;
  revision_id: string;
}

const toRecord = (r: AliasRow): AliasRecord => ({
  functionName: r.name,
  name: r.alias,
  functionVersion: r.function_version,
  description: r.description,
  weights: JSON.parse(r.routing) as Record<string, number>,
  revisionId: r.revision_id,
});

export class AliasTable {
  private readonly stmts;

  constructor(
    db: Database.Database,
    private readonly arnOf: (accountId: string, name: string, qualifier?: string) => string,
  ) {
    const cols = 'name, alias, function_version, routing, description, revision_id';
    this.stmts = {
      get: db.prepare<[string, string, string], AliasRow>(
        `SELECT ${cols} FROM aliases WHERE account = ? AND name = ? AND alias = ?`,
      ),
      insert: db.prepare(
        'INSERT INTO aliases (account, name, alias, function_version, additional_version, routing, description, revision_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      replace: db.prepare(
        'UPDATE aliases SET function_version = ?, additional_version = ?, routing = ?, description = ?, revision_id = ? WHERE account = ? AND name = ? AND alias = ? AND revision_id = ?',
      ),
      delete: db.prepare('DELETE FROM aliases WHERE account = ? AND name = ? AND alias = ?'),
      list: db.prepare<[string, string, string, number], AliasRow>(
        `SELECT ${cols} FROM aliases WHERE account = ? AND name = ? AND alias > ? ORDER BY alias LIMIT ?`,
      ),
      listFor: db.prepare<[string, string, string, string, string, number], AliasRow>(
        `SELECT ${cols} FROM aliases WHERE account = ? AND name = ? AND alias > ? AND (function_version = ? OR additional_version = ?) ORDER BY alias LIMIT ?`,
      ),
      routingTo: db.prepare<[string, string, string, string], { alias: string }>(
        'SELECT alias FROM aliases WHERE account = ? AND name = ? AND (function_version = ? OR additional_version = ?) ORDER BY alias',
      ),
    };
  }

  get(account: string, functionName: string, alias: string): AliasRecord | undefined {
    const row = this.stmts.get.get(account, functionName, alias);
    return row ? toRecord(row) : undefined;
  }

  create(account: string, a: AliasRecord): boolean {
    try {
      this.stmts.insert.run(
        account,
        a.functionName,
        a.name,
        a.functionVersion,
        additional(a),
        JSON.stringify(a.weights),
        a.description,
        a.revisionId,
      );
      return true;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new ApiError(
          'ResourceConflictException',
          `Alias already exists: ${this.arnOf(account, a.functionName, a.name)}`,
        );
      }
      if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return false;
      throw e;
    }
  }

  replace(account: string, a: AliasRecord, expectedRevisionId: string): boolean {
    const res = this.stmts.replace.run(
      a.functionVersion,
      additional(a),
      JSON.stringify(a.weights),
      a.description,
      a.revisionId,
      account,
      a.functionName,
      a.name,
      expectedRevisionId,
    );
    return res.changes === 1;
  }

  delete(account: string, functionName: string, alias: string): boolean {
    return this.stmts.delete.run(account, functionName, alias).changes === 1;
  }

  list(
    account: string,
    functionName: string,
    afterName: string,
    limit: number,
    functionVersion?: string,
  ): AliasRecord[] {
    const rows =
      functionVersion === undefined
        ? this.stmts.list.all(account, functionName, afterName, limit)
        : this.stmts.listFor.all(account, functionName, afterName, functionVersion, functionVersion, limit);
    return rows.map(toRecord);
  }

  routingTo(account: string, functionName: string, version: string): string[] {
    return this.stmts.routingTo.all(account, functionName, version, version).map((r) => r.alias);
  }
}

const additional = (a: AliasRecord): string | null => Object.keys(a.weights)[0] ?? null;
