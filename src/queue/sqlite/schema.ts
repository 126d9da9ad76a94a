// The event queue's own database (events.db), apart from metadata so queue traffic never blocks the
// control plane's writes. Each migration runs in one transaction with its `user_version` bump.
import type Database from 'better-sqlite3';

export const schemaVersion = 2;

const v1 = `
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    function_name TEXT NOT NULL,
    qualifier TEXT,
    payload BLOB NOT NULL,
    enqueued_at INTEGER NOT NULL,
    lease_ms INTEGER NOT NULL,
    visible_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    throttles INTEGER NOT NULL DEFAULT 0,
    lease_token TEXT
  ) STRICT;
  CREATE INDEX events_visible ON events(visible_at, seq);
  CREATE INDEX events_function ON events(function_name);
  CREATE TABLE outcomes (
    id TEXT PRIMARY KEY,
    function_name TEXT NOT NULL,
    qualifier TEXT,
    condition TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    enqueued_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    detail TEXT NOT NULL
  ) STRICT;
  CREATE INDEX outcomes_finished ON outcomes(finished_at);
  CREATE TABLE dropped (
    condition TEXT PRIMARY KEY,
    count INTEGER NOT NULL
  ) STRICT;`;

// Events and outcomes belong to the account that invoked (its pollers run them there). Rows of a queue made
// before accounts existed go to the one account that Kiln served (see migrate); the column default only
// serves that copy, since every insert names its account.
const v2 = `
  ALTER TABLE events ADD COLUMN account TEXT NOT NULL DEFAULT '';
  ALTER TABLE outcomes ADD COLUMN account TEXT NOT NULL DEFAULT '';
  DROP INDEX events_function;
  CREATE INDEX events_function ON events(account, function_name);
  CREATE INDEX outcomes_function ON outcomes(account, function_name, finished_at);`;

const migrations: ReadonlyArray<string> = [v1, v2];

/** Brings events.db to `schemaVersion`; events from before accounts existed go to `defaultAccount`. */
export function migrate(db: Database.Database, defaultAccount: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > schemaVersion) {
    throw new Error(
      `event queue database schema ${version} is newer than this Kiln (${schemaVersion}); upgrade Kiln or use another --data-dir`,
    );
  }
  for (let next = version + 1; next <= schemaVersion; next++) {
    const sql = migrations[next - 1] ?? '';
    db.transaction(() => {
      db.exec(sql);
      if (next === 2) {
        db.prepare("UPDATE events SET account = ? WHERE account = ''").run(defaultAccount);
        db.prepare("UPDATE outcomes SET account = ? WHERE account = ''").run(defaultAccount);
      }
      db.pragma(`user_version = ${next}`);
    })();
  }
}
