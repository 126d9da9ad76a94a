// Function metadata in SQLite (WAL), every row keyed by its account. Each method is one statement or one
// transaction, so a crash leaves either the old row or the new one.
import Database from 'better-sqlite3';
import type { AccountMetadata, MetadataStore, ProvisionedConcurrencyRecord } from '../ports.js';
import { SqliteAccountMetadata } from './account-metadata.js';
import { prepareMetadata, type MetadataStatements } from './metadata-statements.js';
import { migrate } from './schema.js';

export class SqliteMetadataStore implements MetadataStore {
  private readonly db: Database.Database;
  private readonly s: MetadataStatements;
  /** One view per account, so each account's cached reservations have a single owner. */
  private readonly views = new Map<string, SqliteAccountMetadata>();

  /**
   * `defaultAccount` receives the rows of a data dir made before accounts existed; `arnOf` names
   * functions in error messages.
   */
  constructor(
    file: string,
    defaultAccount: string,
    private readonly arnOf: (accountId: string, name: string, qualifier?: string) => string,
  ) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // FULL: a committed change survives power loss, not only a process kill.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db, defaultAccount);
    this.s = prepareMetadata(this.db, arnOf);
  }

  account(accountId: string): AccountMetadata {
    let view = this.views.get(accountId);
    if (!view) {
      view = new SqliteAccountMetadata(this.s, accountId, (n, q) => this.arnOf(accountId, n, q));
      this.views.set(accountId, view);
    }
    return view;
  }

  allProvisioned(): (ProvisionedConcurrencyRecord & { readonly accountId: string })[] {
    return this.s.provisioned.listAll();
  }

  referencedCode(): Set<string> {
    return new Set(this.s.stmts.refs.all().map((r) => r.code_sha256));
  }

  close(): void {
    this.db.close();
  }
}
