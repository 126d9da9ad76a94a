// Function metadata in SQLite (WAL). Each method is one statement or one transaction, so a crash leaves
// either the old row or the new one.
import Database from 'better-sqlite3';
import {
  ApiError,
  notFound,
  type AliasRecord,
  type EventInvokeConfigRecord,
  type FunctionRecord,
  type VersionRecord,
} from '../../model/index.js';
import type { ListPage, MetadataStore, ProvisionedConcurrencyRecord } from '../ports.js';
import { AliasTable } from './alias-table.js';
import { EventInvokeConfigTable } from './event-invoke-config-table.js';
import { ProvisionedTable } from './provisioned-table.js';
import { migrate } from './schema.js';

export class SqliteMetadataStore implements MetadataStore {
  private readonly db: Database.Database;
  private readonly stmts;
  private readonly aliases: AliasTable;
  private readonly provisioned: ProvisionedTable;
  private readonly eventInvoke: EventInvokeConfigTable;

  constructor(
    file: string,
    private readonly arnOf: (name: string, qualifier?: string) => string,
  ) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // FULL: a committed change survives power loss, not only a process kill.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
    this.aliases = new AliasTable(this.db, arnOf);
    this.provisioned = new ProvisionedTable(this.db);
    this.eventInvoke = new EventInvokeConfigTable(this.db);
    this.stmts = {
      get: this.db.prepare<[string], { record: string }>('SELECT record FROM functions WHERE name = ?'),
      insert: this.db.prepare(
        'INSERT INTO functions (name, record, code_sha256, code_size, revision_id) VALUES (?, ?, ?, ?, ?)',
      ),
      replace: this.db.prepare(
        'UPDATE functions SET record = ?, code_sha256 = ?, code_size = ?, revision_id = ? WHERE name = ? AND revision_id = ?',
      ),
      delete: this.db.prepare<[string], { record: string }>(
        'DELETE FROM functions WHERE name = ? RETURNING record',
      ),
      list: this.db.prepare<[string, number], { name: string; record: string }>(
        'SELECT name, record FROM functions WHERE name > ? ORDER BY name LIMIT ?',
      ),
      refs: this.db.prepare<[], { code_sha256: string }>(
        'SELECT code_sha256 FROM functions UNION SELECT code_sha256 FROM versions',
      ),
      usage: this.db.prepare<[], { n: number; total: number | null }>(
        'SELECT (SELECT COUNT(*) FROM functions) AS n, (SELECT SUM(code_size) FROM functions) + IFNULL((SELECT SUM(code_size) FROM versions), 0) AS total',
      ),
      bumpVersion: this.db.prepare<[string, string], { last_version: number; record: string }>(
        'UPDATE functions SET last_version = last_version + 1 WHERE name = ? AND revision_id = ? RETURNING last_version, record',
      ),
      insertVersion: this.db.prepare(
        'INSERT INTO versions (name, version, record, code_sha256, code_size, revision_id) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      getVersion: this.db.prepare<[string, number], { record: string }>(
        'SELECT record FROM versions WHERE name = ? AND version = ?',
      ),
      newestVersion: this.db.prepare<[string], { record: string }>(
        'SELECT record FROM versions WHERE name = ? ORDER BY version DESC LIMIT 1',
      ),
      listVersions: this.db.prepare<[string, number, number], { record: string }>(
        'SELECT record FROM versions WHERE name = ? AND version > ? ORDER BY version LIMIT ?',
      ),
      deleteVersion: this.db.prepare<[string, number], { record: string }>(
        'DELETE FROM versions WHERE name = ? AND version = ? RETURNING record',
      ),
      setReserved: this.db.prepare(
        'INSERT INTO function_concurrency (name, reserved) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET reserved = excluded.reserved',
      ),
      deleteReserved: this.db.prepare('DELETE FROM function_concurrency WHERE name = ?'),
      allReserved: this.db.prepare<[], { name: string; reserved: number }>(
        'SELECT name, reserved FROM function_concurrency',
      ),
    };
    this.publishTx = this.db.transaction(
      (name: string, expected: string, make: (l: FunctionRecord, v: string) => VersionRecord) => {
        const row = this.stmts.bumpVersion.get(name, expected);
        if (!row) return undefined;
        const rec = make(JSON.parse(row.record) as FunctionRecord, String(row.last_version));
        this.stmts.insertVersion.run(
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
    this.deleteVersionTx = this.db.transaction((name: string, version: string) => {
      const referencedBy = this.aliases.routingTo(name, version);
      if (referencedBy.length > 0) return { referencedBy };
      const row = this.stmts.deleteVersion.get(name, Number(version));
      if (row) {
        this.provisioned.delete(name, version);
        this.eventInvoke.delete(name, version);
      }
      return row ? { deleted: JSON.parse(row.record) as VersionRecord, referencedBy } : { referencedBy };
    });
  }

  /** Reserved concurrency by function and its sum, cached (see reservations()). */
  private reserved: { byName: Map<string, number>; total: number } | undefined;
  private readonly publishTx;
  private readonly deleteVersionTx;
  private readonly deleteAliasTx = (name: string, alias: string): boolean =>
    this.db.transaction(() => {
      this.provisioned.delete(name, alias);
      this.eventInvoke.delete(name, alias);
      return this.aliases.delete(name, alias);
    })();

  get(name: string): FunctionRecord | undefined {
    const row = this.stmts.get.get(name);
    return row ? (JSON.parse(row.record) as FunctionRecord) : undefined;
  }

  create(r: FunctionRecord): void {
    try {
      this.stmts.insert.run(r.config.name, JSON.stringify(r), r.code.sha256Hex, r.code.size, r.revisionId);
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new ApiError(
          'ResourceConflictException',
          `Function already exist: ${this.arnOf(r.config.name)}`,
        );
      }
      throw e;
    }
  }

  replace(r: FunctionRecord, expectedRevisionId: string): boolean {
    const res = this.stmts.replace.run(
      JSON.stringify(r),
      r.code.sha256Hex,
      r.code.size,
      r.revisionId,
      r.config.name,
      expectedRevisionId,
    );
    return res.changes === 1;
  }

  delete(name: string): FunctionRecord | undefined {
    // Its reserved concurrency goes with it (ON DELETE CASCADE).
    this.reserved = undefined;
    const row = this.stmts.delete.get(name);
    return row ? (JSON.parse(row.record) as FunctionRecord) : undefined;
  }

  list(maxItems: number, marker?: string): ListPage<FunctionRecord> {
    const after = marker === undefined ? '' : decodeMarker(marker);
    const rows = this.stmts.list.all(after, maxItems + 1);
    const page = rows.slice(0, maxItems);
    const last = page[page.length - 1];
    const items = page.map((row) => JSON.parse(row.record) as FunctionRecord);
    return rows.length > maxItems && last ? { items, nextMarker: encodeMarker(last.name) } : { items };
  }

  publishVersion(
    name: string,
    expectedRevisionId: string,
    make: (latest: FunctionRecord, version: string) => VersionRecord,
  ): VersionRecord | undefined {
    return this.publishTx(name, expectedRevisionId, make);
  }

  getVersion(name: string, version: string): VersionRecord | undefined {
    const row = this.stmts.getVersion.get(name, Number(version));
    return row ? (JSON.parse(row.record) as VersionRecord) : undefined;
  }

  newestVersion(name: string): VersionRecord | undefined {
    const row = this.stmts.newestVersion.get(name);
    return row ? (JSON.parse(row.record) as VersionRecord) : undefined;
  }

  listVersions(name: string, afterVersion: number, limit: number): VersionRecord[] {
    return this.stmts.listVersions
      .all(name, afterVersion, limit)
      .map((r) => JSON.parse(r.record) as VersionRecord);
  }

  deleteVersion(name: string, version: string): { deleted?: VersionRecord; referencedBy: string[] } {
    return this.deleteVersionTx(name, version);
  }

  getAlias(functionName: string, alias: string): AliasRecord | undefined {
    return this.aliases.get(functionName, alias);
  }

  createAlias(alias: AliasRecord): boolean {
    return this.aliases.create(alias);
  }

  replaceAlias(alias: AliasRecord, expectedRevisionId: string): boolean {
    return this.aliases.replace(alias, expectedRevisionId);
  }

  deleteAlias(functionName: string, alias: string): boolean {
    return this.deleteAliasTx(functionName, alias);
  }

  listAliases(
    functionName: string,
    afterName: string,
    limit: number,
    functionVersion?: string,
  ): AliasRecord[] {
    return this.aliases.list(functionName, afterName, limit, functionVersion);
  }

  getReservedConcurrency(name: string): number | undefined {
    return this.reservations().byName.get(name);
  }

  /**
   * Every invocation asks for its function's reservation and the account's total: they are read once and kept
   * until one of the two writes that change them (this store is the database's only writer).
   */
  private reservations(): { byName: Map<string, number>; total: number } {
    if (this.reserved === undefined) {
      const byName = new Map<string, number>();
      let total = 0;
      for (const row of this.stmts.allReserved.all()) {
        byName.set(row.name, row.reserved);
        total += row.reserved;
      }
      this.reserved = { byName, total };
    }
    return this.reserved;
  }

  setReservedConcurrency(name: string, value: number | undefined): void {
    this.reserved = undefined;
    if (value === undefined) {
      this.stmts.deleteReserved.run(name);
      return;
    }
    try {
      this.stmts.setReserved.run(name, value);
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
        throw notFound(`Function not found: ${this.arnOf(name)}`);
      }
      throw e;
    }
  }

  reservedConcurrencyTotal(): number {
    return this.reservations().total;
  }

  getProvisioned(name: string, qualifier: string): ProvisionedConcurrencyRecord | undefined {
    return this.provisioned.get(name, qualifier);
  }

  putProvisioned(record: ProvisionedConcurrencyRecord): boolean {
    return this.provisioned.put(record);
  }

  deleteProvisioned(name: string, qualifier: string): boolean {
    return this.provisioned.delete(name, qualifier);
  }

  listProvisioned(name?: string): ProvisionedConcurrencyRecord[] {
    return this.provisioned.list(name);
  }

  getEventInvokeConfig(name: string, qualifier: string): EventInvokeConfigRecord | undefined {
    return this.eventInvoke.get(name, qualifier);
  }

  putEventInvokeConfig(record: EventInvokeConfigRecord): boolean {
    return this.eventInvoke.put(record);
  }

  deleteEventInvokeConfig(name: string, qualifier: string): boolean {
    return this.eventInvoke.delete(name, qualifier);
  }

  listEventInvokeConfigs(name: string): EventInvokeConfigRecord[] {
    return this.eventInvoke.list(name);
  }

  referencedCode(): Set<string> {
    return new Set(this.stmts.refs.all().map((r) => r.code_sha256));
  }

  usage(): { functionCount: number; totalCodeSize: number } {
    const row = this.stmts.usage.get();
    return { functionCount: row?.n ?? 0, totalCodeSize: row?.total ?? 0 };
  }

  close(): void {
    this.db.close();
  }
}

// Markers are opaque to clients, as Lambda's are; inside they carry the last name returned.
const encodeMarker = (name: string): string => Buffer.from(`v1:${name}`).toString('base64url');

function decodeMarker(marker: string): string {
  const text = Buffer.from(marker, 'base64url').toString('utf8');
  if (!text.startsWith('v1:')) {
    throw new ApiError(
      'InvalidParameterValueException',
      'Invalid Marker: pass the NextMarker of a previous response.',
    );
  }
  return text.slice(3);
}
