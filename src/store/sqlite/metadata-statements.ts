// The prepared statements and transactions of metadata.db, shared by every account's view; each takes
// the account first.
import type Database from 'better-sqlite3';
import type { FunctionRecord, VersionRecord } from '../../model/index.js';
import { AliasTable } from './alias-table.js';
import { EventInvokeConfigTable } from './event-invoke-config-table.js';
import { ProvisionedTable } from './provisioned-table.js';

export type MetadataStatements = ReturnType<typeof prepareMetadata>;

export function prepareMetadata(
  db: Database.Database,
  arnOf: (accountId: string, name: string, qualifier?: string) => string,
) {
  const aliases = new AliasTable(db, arnOf);
  const provisioned = new ProvisionedTable(db);
  const eventInvoke = new EventInvokeConfigTable(db);
  const stmts = {
    get: db.prepare<[string, string], { record: string }>(
      'SELECT record FROM functions WHERE account = ? AND name = ?',
    ),
    insert: db.prepare(
      'INSERT INTO functions (account, name, record, code_sha256, code_size, revision_id) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    replace: db.prepare(
      'UPDATE functions SET record = ?, code_sha256 = ?, code_size = ?, revision_id = ? WHERE account = ? AND name = ? AND revision_id = ?',
    ),
    delete: db.prepare<[string, string], { record: string }>(
      'DELETE FROM functions WHERE account = ? AND name = ? RETURNING record',
    ),
    list: db.prepare<[string, string, number], { name: string; record: string }>(
      'SELECT name, record FROM functions WHERE account = ? AND name > ? ORDER BY name LIMIT ?',
    ),
    refs: db.prepare<[], { code_sha256: string }>(
      'SELECT code_sha256 FROM functions UNION SELECT code_sha256 FROM versions',
    ),
    usage: db.prepare<[string, string, string], { n: number; total: number | null }>(
      'SELECT (SELECT COUNT(*) FROM functions WHERE account = ?) AS n, (SELECT SUM(code_size) FROM functions WHERE account = ?) + IFNULL((SELECT SUM(code_size) FROM versions WHERE account = ?), 0) AS total',
    ),
    bumpVersion: db.prepare<[string, string, string], { last_version: number; record: string }>(
      'UPDATE functions SET last_version = last_version + 1 WHERE account = ? AND name = ? AND revision_id = ? RETURNING last_version, record',
    ),
    insertVersion: db.prepare(
      'INSERT INTO versions (account, name, version, record, code_sha256, code_size, revision_id) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    getVersion: db.prepare<[string, string, number], { record: string }>(
      'SELECT record FROM versions WHERE account = ? AND name = ? AND version = ?',
    ),
    newestVersion: db.prepare<[string, string], { record: string }>(
      'SELECT record FROM versions WHERE account = ? AND name = ? ORDER BY version DESC LIMIT 1',
    ),
    listVersions: db.prepare<[string, string, number, number], { record: string }>(
      'SELECT record FROM versions WHERE account = ? AND name = ? AND version > ? ORDER BY version LIMIT ?',
    ),
    deleteVersion: db.prepare<[string, string, number], { record: string }>(
      'DELETE FROM versions WHERE account = ? AND name = ? AND version = ? RETURNING record',
    ),
    setReserved: db.prepare(
      'INSERT INTO function_concurrency (account, name, reserved) VALUES (?, ?, ?) ON CONFLICT(account, name) DO UPDATE SET reserved = excluded.reserved',
    ),
    deleteReserved: db.prepare('DELETE FROM function_concurrency WHERE account = ? AND name = ?'),
    allReserved: db.prepare<[string], { name: string; reserved: number }>(
      'SELECT name, reserved FROM function_concurrency WHERE account = ?',
    ),
  };
  const publish = db.transaction(
    (
      account: string,
      name: string,
      expected: string,
      make: (l: FunctionRecord, v: string) => VersionRecord,
    ): VersionRecord | undefined => {
      const row = stmts.bumpVersion.get(account, name, expected);
      if (!row) return undefined;
      const rec = make(JSON.parse(row.record) as FunctionRecord, String(row.last_version));
      stmts.insertVersion.run(
        account,
        name,
        row.last_version,
        JSON.stringify(rec),
        rec.code.sha256Hex,
        rec.code.size,
        rec.revisionId,
      );
      return rec;
    },
  );
  const deleteVersion = db.transaction(
    (account: string, name: string, version: string): { deleted?: VersionRecord; referencedBy: string[] } => {
      const referencedBy = aliases.routingTo(account, name, version);
      if (referencedBy.length > 0) return { referencedBy };
      const row = stmts.deleteVersion.get(account, name, Number(version));
      if (!row) return { referencedBy };
      provisioned.delete(account, name, version);
      eventInvoke.delete(account, name, version);
      return { deleted: JSON.parse(row.record) as VersionRecord, referencedBy };
    },
  );
  const deleteAlias = db.transaction((account: string, name: string, alias: string): boolean => {
    provisioned.delete(account, name, alias);
    eventInvoke.delete(account, name, alias);
    return aliases.delete(account, name, alias);
  });
  return { stmts, aliases, provisioned, eventInvoke, publish, deleteVersion, deleteAlias };
}
