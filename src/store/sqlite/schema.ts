// The metadata schema and its migrations. Each migration runs in one transaction with its
// `user_version` bump, so a crash leaves the database at the old version or the new one.
import type Database from 'better-sqlite3';

export const schemaVersion = 5;

const v1 = `
  CREATE TABLE functions (
    name TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,
    code_size INTEGER NOT NULL,
    revision_id TEXT NOT NULL
  ) STRICT;`;

// Versions and aliases hang off their function (ON DELETE CASCADE), so DeleteFunction removes them in
// its own statement. last_version survives deleted versions: Lambda never reuses a number.
const v2 = `
  ALTER TABLE functions ADD COLUMN last_version INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE versions (
    name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    record TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,
    code_size INTEGER NOT NULL,
    revision_id TEXT NOT NULL,
    PRIMARY KEY (name, version)
  ) STRICT;
  CREATE INDEX versions_code ON versions(code_sha256);
  CREATE TABLE aliases (
    name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    alias TEXT NOT NULL,
    function_version TEXT NOT NULL,
    additional_version TEXT,
    routing TEXT NOT NULL,
    description TEXT NOT NULL,
    revision_id TEXT NOT NULL,
    PRIMARY KEY (name, alias)
  ) STRICT;
  CREATE TABLE function_concurrency (
    name TEXT PRIMARY KEY REFERENCES functions(name) ON DELETE CASCADE,
    reserved INTEGER NOT NULL
  ) STRICT;`;

// Provisioned concurrency per version or alias; rows go with their function (cascade), and with their
// version or alias (deleted in the same transaction by the store).
const v3 = `
  CREATE TABLE provisioned_concurrency (
    name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    qualifier TEXT NOT NULL,
    requested INTEGER NOT NULL,
    last_modified INTEGER NOT NULL,
    PRIMARY KEY (name, qualifier)
  ) STRICT;`;

// Asynchronous invocation settings per function and qualifier ($LATEST, version or alias); NULL is a
// setting left out. Rows go with their function (cascade), and with their version or alias (deleted in
// the same transaction by the store), as provisioned concurrency does.
const v4 = `
  CREATE TABLE event_invoke_config (
    name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    qualifier TEXT NOT NULL,
    maximum_retry_attempts INTEGER,
    maximum_event_age INTEGER,
    on_success TEXT,
    on_failure TEXT,
    last_modified INTEGER NOT NULL,
    PRIMARY KEY (name, qualifier)
  ) STRICT;`;

// Everything belongs to an account: the same function name may exist in two accounts. SQLite cannot
// change a primary key in place, so each table is rebuilt with `account` leading its key (and its
// reference to functions), and the rows of a single-account data dir are given to `defaultAccount`.
const v5Tables = `
  CREATE TABLE functions (
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    record TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,
    code_size INTEGER NOT NULL,
    revision_id TEXT NOT NULL,
    last_version INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, name)
  ) STRICT;
  CREATE TABLE versions (
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    record TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,
    code_size INTEGER NOT NULL,
    revision_id TEXT NOT NULL,
    PRIMARY KEY (account, name, version),
    FOREIGN KEY (account, name) REFERENCES functions(account, name) ON DELETE CASCADE
  ) STRICT;
  CREATE TABLE aliases (
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    function_version TEXT NOT NULL,
    additional_version TEXT,
    routing TEXT NOT NULL,
    description TEXT NOT NULL,
    revision_id TEXT NOT NULL,
    PRIMARY KEY (account, name, alias),
    FOREIGN KEY (account, name) REFERENCES functions(account, name) ON DELETE CASCADE
  ) STRICT;
  CREATE TABLE function_concurrency (
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    reserved INTEGER NOT NULL,
    PRIMARY KEY (account, name),
    FOREIGN KEY (account, name) REFERENCES functions(account, name) ON DELETE CASCADE
  ) STRICT;
  CREATE TABLE provisioned_concurrency (
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    qualifier TEXT NOT NULL,
    requested INTEGER NOT NULL,
    last_modified INTEGER NOT NULL,
    PRIMARY KEY (account, name, qualifier),
    FOREIGN KEY (account, name) REFERENCES functions(account, name) ON DELETE CASCADE
  ) STRICT;
  CREATE TABLE event_invoke_config (
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    qualifier TEXT NOT NULL,
    maximum_retry_attempts INTEGER,
    maximum_event_age INTEGER,
    on_success TEXT,
    on_failure TEXT,
    last_modified INTEGER NOT NULL,
    PRIMARY KEY (account, name, qualifier),
    FOREIGN KEY (account, name) REFERENCES functions(account, name) ON DELETE CASCADE
  ) STRICT;`;

const v5Copied: ReadonlyArray<[table: string, columns: string]> = [
  ['functions', 'name, record, code_sha256, code_size, revision_id, last_version'],
  ['versions', 'name, version, record, code_sha256, code_size, revision_id'],
  ['aliases', 'name, alias, function_version, additional_version, routing, description, revision_id'],
  ['function_concurrency', 'name, reserved'],
  ['provisioned_concurrency', 'name, qualifier, requested, last_modified'],
  [
    'event_invoke_config',
    'name, qualifier, maximum_retry_attempts, maximum_event_age, on_success, on_failure, last_modified',
  ],
];

function v5(db: Database.Database, defaultAccount: string): void {
  // The old tables step aside (their references follow `functions` to `functions_v4`) and go once copied.
  for (const [table] of v5Copied) db.exec(`ALTER TABLE ${table} RENAME TO ${table}_v4`);
  db.exec(v5Tables);
  for (const [table, columns] of v5Copied) {
    db.prepare(`INSERT INTO ${table} (account, ${columns}) SELECT ?, ${columns} FROM ${table}_v4`).run(
      defaultAccount,
    );
  }
  for (const [table] of v5Copied) db.exec(`DROP TABLE ${table}_v4`);
  db.exec('CREATE INDEX versions_code ON versions(code_sha256);');
}

type Migration = string | ((db: Database.Database, defaultAccount: string) => void);

const migrations: ReadonlyArray<Migration> = [v1, v2, v3, v4, v5];

/**
 * Brings the database to `schemaVersion`. Rows from before accounts existed (schema 4 and older) are
 * given to `defaultAccount`, the account a single-account Kiln served them to.
 */
export function migrate(db: Database.Database, defaultAccount: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > schemaVersion) {
    throw new Error(
      `metadata database schema ${version} is newer than this Kiln (${schemaVersion}); upgrade Kiln or use another --data-dir`,
    );
  }
  if (version === schemaVersion) return;
  // Rebuilding tables that reference each other needs foreign keys off, which SQLite only allows
  // outside a transaction; each migration checks them itself before it commits.
  const enforced = db.pragma('foreign_keys', { simple: true }) as number;
  db.pragma('foreign_keys = OFF');
  try {
    for (let next = version + 1; next <= schemaVersion; next++) {
      const step = migrations[next - 1] ?? '';
      db.transaction(() => {
        if (typeof step === 'string') db.exec(step);
        else step(db, defaultAccount);
        const broken = db.pragma('foreign_key_check') as unknown[];
        if (broken.length > 0) {
          throw new Error(`metadata migration to schema ${next} left ${broken.length} dangling references`);
        }
        db.pragma(`user_version = ${next}`);
      })();
    }
  } finally {
    db.pragma(`foreign_keys = ${enforced ? 'ON' : 'OFF'}`);
  }
}
