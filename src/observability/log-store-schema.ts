// Schema of data-dir/logs.db, kept apart from metadata.db: logs are written far more often, may be
// dropped under pressure, and must never slow or lock the metadata transactions.
import type Database from 'better-sqlite3';

const version = 2;

/**
 * Brings logs.db to the current schema. Groups written before accounts existed (schema 1) are given to
 * `defaultAccount`, the one account that Kiln served.
 */
export function migrateLogs(db: Database.Database, defaultAccount: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > version) {
    throw new Error(
      `logs.db has schema ${current}, newer than this Kiln (${version}); run a newer Kiln or move the file away`,
    );
  }
  if (current === version) return;
  // Rebuilding log_groups (its UNIQUE constraint changes) needs foreign keys off, which SQLite allows
  // only outside a transaction; the migration checks them before it commits.
  const enforced = db.pragma('foreign_keys', { simple: true }) as number;
  db.pragma('foreign_keys = OFF');
  try {
    db.transaction(() => {
      if (current < 1) db.exec(v1);
      v2(db, defaultAccount);
      const broken = db.pragma('foreign_key_check') as unknown[];
      if (broken.length > 0) throw new Error(`logs.db migration left ${broken.length} dangling references`);
      db.pragma(`user_version = ${version}`);
    })();
  } finally {
    db.pragma(`foreign_keys = ${enforced ? 'ON' : 'OFF'}`);
  }
}

// A log group belongs to its function's account: two accounts' `/aws/lambda/same-name` are two groups.
// Streams and events hang off a group's id, which the rebuild keeps; the new table takes the old one's
// name last, so log_streams' reference (by name) lands on it.
function v2(db: Database.Database, defaultAccount: string): void {
  db.exec(`
    CREATE TABLE log_groups_v2 (
      id INTEGER PRIMARY KEY,
      account TEXT NOT NULL,
      name TEXT NOT NULL,
      created INTEGER NOT NULL,
      -- Sum of event sizes (message bytes + 26, CloudWatch's accounting), kept in step with log_events.
      stored_bytes INTEGER NOT NULL DEFAULT 0,
      UNIQUE (account, name)
    );`);
  db.prepare(
    'INSERT INTO log_groups_v2 (id, account, name, created, stored_bytes) SELECT id, ?, name, created, stored_bytes FROM log_groups',
  ).run(defaultAccount);
  db.exec('DROP TABLE log_groups; ALTER TABLE log_groups_v2 RENAME TO log_groups;');
}

const v1 = `
      CREATE TABLE log_groups (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created INTEGER NOT NULL,
        -- Sum of event sizes (message bytes + 26, CloudWatch's accounting), kept in step with log_events.
        stored_bytes INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE log_streams (
        id INTEGER PRIMARY KEY,
        group_id INTEGER NOT NULL REFERENCES log_groups(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        created INTEGER NOT NULL,
        last_event INTEGER,
        last_ingestion INTEGER,
        UNIQUE (group_id, name)
      );
      CREATE INDEX log_streams_last_event ON log_streams (group_id, last_event, name);
      CREATE TABLE log_events (
        id INTEGER PRIMARY KEY,
        group_id INTEGER NOT NULL,
        stream_id INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        ingested INTEGER NOT NULL,
        size INTEGER NOT NULL,
        message TEXT NOT NULL
      );
      CREATE INDEX log_events_group_time ON log_events (group_id, ts, id);
      CREATE INDEX log_events_stream_time ON log_events (stream_id, ts, id);`;
