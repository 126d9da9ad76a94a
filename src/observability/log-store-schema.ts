// Schema of data-dir/logs.db, kept apart from metadata.db: logs are written far more often, may be
// dropped under pressure, and must never slow or lock the metadata transactions.
import type Database from 'better-sqlite3';

const version = 1;

export function migrateLogs(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > version) {
    throw new Error(
      `logs.db has schema ${current}, newer than this Kiln (${version}); run a newer Kiln or move the file away`,
    );
  }
  if (current === version) return;
  db.transaction(() => {
    db.exec(`
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
      CREATE INDEX log_events_stream_time ON log_events (stream_id, ts, id);
    `);
    db.pragma(`user_version = ${version}`);
  })();
}
