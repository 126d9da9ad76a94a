// Function metadata in SQLite (WAL). Each method is one statement or one transaction, so a crash leaves
// either the old row or the new one.
import Database from 'better-sqlite3';
import { ApiError, type FunctionRecord } from '../../model/index.js';
import type { ListPage, MetadataStore } from '../ports.js';

const schemaVersion = 1;

export class SqliteMetadataStore implements MetadataStore {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(
    file: string,
    private readonly arnOf: (name: string) => string,
  ) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // FULL: a committed change survives power loss, not only a process kill.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
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
      refs: this.db.prepare<[], { code_sha256: string }>('SELECT DISTINCT code_sha256 FROM functions'),
      usage: this.db.prepare<[], { n: number; total: number | null }>(
        'SELECT COUNT(*) AS n, SUM(code_size) AS total FROM functions',
      ),
    };
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > schemaVersion) {
      throw new Error(
        `metadata database schema ${version} is newer than this Kiln (${schemaVersion}); upgrade Kiln or use another --data-dir`,
      );
    }
    if (version < 1) {
      this.db.exec(`
        BEGIN;
        CREATE TABLE functions (
          name TEXT PRIMARY KEY,
          record TEXT NOT NULL,
          code_sha256 TEXT NOT NULL,
          code_size INTEGER NOT NULL,
          revision_id TEXT NOT NULL
        ) STRICT;
        PRAGMA user_version = 1;
        COMMIT;`);
    }
  }

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
