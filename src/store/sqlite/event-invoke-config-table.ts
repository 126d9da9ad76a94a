// Asynchronous invocation settings in SQLite, one row per function and qualifier ($LATEST, version or
// alias). Unset settings are NULL, so "left out" survives a round trip and Lambda's defaults stay
// a reader's decision.
import type Database from 'better-sqlite3';
import { compareQualifiers, type EventInvokeConfigRecord } from '../../model/index.js';

interface Row {
  name: string;
  qualifier: string;
  maximum_retry_attempts: number | null;
  maximum_event_age: number | null;
  on_success: string | null;
  on_failure: string | null;
  last_modified: number;
}

function toRecord(r: Row): EventInvokeConfigRecord {
  return {
    functionName: r.name,
    qualifier: r.qualifier,
    ...(r.maximum_retry_attempts === null ? {} : { maximumRetryAttempts: r.maximum_retry_attempts }),
    ...(r.maximum_event_age === null ? {} : { maximumEventAgeInSeconds: r.maximum_event_age }),
    ...(r.on_success === null ? {} : { onSuccess: r.on_success }),
    ...(r.on_failure === null ? {} : { onFailure: r.on_failure }),
    lastModified: r.last_modified,
  };
}

export class EventInvokeConfigTable {
  private readonly stmts;
  private readonly putTx;

  constructor(db: Database.Database) {
    const cols =
      'name, qualifier, maximum_retry_attempts, maximum_event_age, on_success, on_failure, last_modified';
    this.stmts = {
      get: db.prepare<[string, string, string], Row>(
        `SELECT ${cols} FROM event_invoke_config WHERE account = ? AND name = ? AND qualifier = ?`,
      ),
      put: db.prepare(
        `INSERT INTO event_invoke_config (account, ${cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(account, name, qualifier) DO UPDATE SET maximum_retry_attempts = excluded.maximum_retry_attempts, maximum_event_age = excluded.maximum_event_age, on_success = excluded.on_success, on_failure = excluded.on_failure, last_modified = excluded.last_modified`,
      ),
      delete: db.prepare('DELETE FROM event_invoke_config WHERE account = ? AND name = ? AND qualifier = ?'),
      list: db.prepare<[string, string], Row>(
        `SELECT ${cols} FROM event_invoke_config WHERE account = ? AND name = ?`,
      ),
      functionExists: db.prepare<[string, string], { one: number }>(
        'SELECT 1 AS one FROM functions WHERE account = ? AND name = ?',
      ),
      versionExists: db.prepare<[string, string, number], { one: number }>(
        'SELECT 1 AS one FROM versions WHERE account = ? AND name = ? AND version = ?',
      ),
      aliasExists: db.prepare<[string, string, string], { one: number }>(
        'SELECT 1 AS one FROM aliases WHERE account = ? AND name = ? AND alias = ?',
      ),
    };
    // The target is checked in the same transaction as the write, so a configuration never outlives the
    // version or alias it belongs to (their deletion removes it in their own transaction).
    this.putTx = db.transaction((account: string, r: EventInvokeConfigRecord): boolean => {
      if (!this.targetExists(account, r.functionName, r.qualifier)) return false;
      this.stmts.put.run(
        account,
        r.functionName,
        r.qualifier,
        r.maximumRetryAttempts ?? null,
        r.maximumEventAgeInSeconds ?? null,
        r.onSuccess ?? null,
        r.onFailure ?? null,
        r.lastModified,
      );
      return true;
    });
  }

  get(account: string, name: string, qualifier: string): EventInvokeConfigRecord | undefined {
    const row = this.stmts.get.get(account, name, qualifier);
    return row ? toRecord(row) : undefined;
  }

  /** False when the function, or the version or alias the qualifier names, is gone. */
  put(account: string, r: EventInvokeConfigRecord): boolean {
    return this.putTx(account, r);
  }

  delete(account: string, name: string, qualifier: string): boolean {
    return this.stmts.delete.run(account, name, qualifier).changes === 1;
  }

  /** `$LATEST`, then versions by number, then aliases by name (the order paging relies on). */
  list(account: string, name: string): EventInvokeConfigRecord[] {
    return this.stmts.list
      .all(account, name)
      .map(toRecord)
      .sort((a, b) => compareQualifiers(a.qualifier, b.qualifier));
  }

  private targetExists(account: string, name: string, qualifier: string): boolean {
    if (qualifier === '$LATEST') return this.stmts.functionExists.get(account, name) !== undefined;
    if (/^[0-9]+$/.test(qualifier))
      return this.stmts.versionExists.get(account, name, Number(qualifier)) !== undefined;
    return this.stmts.aliasExists.get(account, name, qualifier) !== undefined;
  }
}
