// The metadata schema and its migrations. Each migration runs in one transaction with its
// `user_version` bump, so a crash leaves the database at the old version or the new one.
import type Database from 'better-sqlite3';

export const schemaVersion = 4;

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

const migrations: ReadonlyArray<string> = [v1, v2, v3, v4];

export function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > schemaVersion) {
    throw new Error(
      `metadata database schema ${version} is newer than this Kiln (${schemaVersion}); upgrade Kiln or use another --data-dir`,
    );
  }
  for (let next = version + 1; next <= schemaVersion; next++) {
    const sql = migrations[next - 1] ?? '';
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${next}`);
    })();
  }
}
