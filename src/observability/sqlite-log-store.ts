// Durable log storage in data-dir/logs.db (SQLite, WAL). Writes come in batches, one transaction each;
// every function's log group is held under a retention age and a size cap, the oldest events dropped
// first, so disk use is bounded per function and memory use does not depend on what is stored.
import Database from 'better-sqlite3';
import type { Clock } from '../shared/index.js';
import type { LogEvent } from './log-capture.js';
import { migrateLogs } from './log-store-schema.js';

export interface LogEntry {
  /** The account of the function that logged it: its group is that account's. */
  readonly account: string;
  readonly group: string;
  readonly stream: string;
  readonly event: LogEvent;
}

export interface LogLimits {
  /** Events older than this are deleted by `sweep`. */
  readonly retentionMs: number;
  /** A log group's events (message bytes + 26 each) never exceed this after a batch. */
  readonly maxBytesPerGroup: number;
}

/** CloudWatch Logs counts each event as its UTF-8 message plus 26 bytes. */
export const eventSize = (message: string): number => Buffer.byteLength(message, 'utf8') + 26;

/** Rows deleted per statement when trimming, so one trim never holds the event loop for long. */
const trimChunk = 2000;
/** Group and stream ids remembered between batches; cleared past this many (bounded memory). */
const maxCachedIds = 4096;

export class SqliteLogStore {
  readonly db: Database.Database;
  private readonly ids = new Map<string, number>();
  private readonly stmt;
  private readonly writeTx: (entries: readonly LogEntry[]) => void;

  /** `defaultAccount` receives the groups of a logs.db made before accounts existed. */
  constructor(
    file: string,
    private readonly limits: LogLimits,
    private readonly clock: Clock,
    defaultAccount: string,
  ) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // Logs tolerate losing the last moments before a power cut (not a process crash: WAL survives
    // that); NORMAL skips an fsync per batch, which FULL would make the bottleneck of a log flood.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    migrateLogs(this.db, defaultAccount);
    const db = this.db;
    this.stmt = {
      groupId: db.prepare<[string, string], { id: number }>(
        'SELECT id FROM log_groups WHERE account = ? AND name = ?',
      ),
      addGroup: db.prepare('INSERT INTO log_groups (account, name, created) VALUES (?, ?, ?)'),
      streamId: db.prepare<[number, string], { id: number }>(
        'SELECT id FROM log_streams WHERE group_id = ? AND name = ?',
      ),
      addStream: db.prepare('INSERT INTO log_streams (group_id, name, created) VALUES (?, ?, ?)'),
      addEvent: db.prepare(
        'INSERT INTO log_events (group_id, stream_id, ts, ingested, size, message) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      touchStream: db.prepare(
        'UPDATE log_streams SET last_event = max(coalesce(last_event, 0), ?), last_ingestion = ? WHERE id = ?',
      ),
      addBytes: db.prepare('UPDATE log_groups SET stored_bytes = stored_bytes + ? WHERE id = ?'),
      groupBytes: db.prepare<[number], { stored_bytes: number }>(
        'SELECT stored_bytes FROM log_groups WHERE id = ?',
      ),
      oldest: db.prepare<[number, number], { id: number; ts: number; size: number }>(
        'SELECT id, ts, size FROM log_events WHERE group_id = ? ORDER BY ts, id LIMIT ?',
      ),
      deleteUpTo: db.prepare(
        'DELETE FROM log_events WHERE group_id = ? AND (ts < ? OR (ts = ? AND id <= ?))',
      ),
      expired: db.prepare<[number, number, number], { id: number; size: number }>(
        'SELECT id, size FROM log_events WHERE group_id = ? AND ts < ? ORDER BY ts, id LIMIT ?',
      ),
      deleteIds: db.prepare('DELETE FROM log_events WHERE id IN (SELECT value FROM json_each(?))'),
      groups: db.prepare<[], { id: number }>('SELECT id FROM log_groups'),
      emptyStreams: db.prepare(
        `DELETE FROM log_streams WHERE coalesce(last_event, created) < ?
           AND NOT EXISTS (SELECT 1 FROM log_events e WHERE e.stream_id = log_streams.id)`,
      ),
    };
    this.writeTx = db.transaction((entries: readonly LogEntry[]) => this.insert(entries));
  }

  /** Stores a batch in one transaction, then trims every group it touched to the size cap. */
  write(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    try {
      this.writeTx(entries);
    } catch (err) {
      // The transaction rolled back: ids created inside it no longer exist.
      this.ids.clear();
      throw err;
    }
  }

  private insert(entries: readonly LogEntry[]): void {
    const now = this.clock.now();
    const groupBytes = new Map<number, number>();
    const streams = new Map<number, number>();
    for (const { account, group, stream, event } of entries) {
      const groupId = this.groupId(account, group, now);
      const streamId = this.streamId(groupId, stream, now);
      const size = eventSize(event.message);
      this.stmt.addEvent.run(groupId, streamId, event.timestamp, now, size, event.message);
      groupBytes.set(groupId, (groupBytes.get(groupId) ?? 0) + size);
      streams.set(streamId, Math.max(streams.get(streamId) ?? 0, event.timestamp));
    }
    for (const [id, last] of streams) this.stmt.touchStream.run(last, now, id);
    for (const [id, bytes] of groupBytes) {
      this.stmt.addBytes.run(bytes, id);
      this.trim(id);
    }
  }

  /** Drops a group's oldest events until it fits its size cap. */
  private trim(groupId: number): void {
    let stored = this.stmt.groupBytes.get(groupId)?.stored_bytes ?? 0;
    while (stored > this.limits.maxBytesPerGroup) {
      const rows = this.stmt.oldest.all(groupId, trimChunk);
      if (rows.length === 0) break;
      let freed = 0;
      let last = rows[0];
      for (const r of rows) {
        freed += r.size;
        last = r;
        if (stored - freed <= this.limits.maxBytesPerGroup) break;
      }
      if (!last) break;
      this.stmt.deleteUpTo.run(groupId, last.ts, last.ts, last.id);
      this.stmt.addBytes.run(-freed, groupId);
      stored -= freed;
    }
  }

  /**
   * Deletes events past the retention age, and streams left empty by it; returns how many events went.
   * Runs in chunks of its own transactions so a large sweep never blocks writers for long.
   */
  sweep(): number {
    const cutoff = this.clock.now() - this.limits.retentionMs;
    let deleted = 0;
    for (const { id } of this.stmt.groups.all()) {
      for (;;) {
        const rows = this.stmt.expired.all(id, cutoff, trimChunk);
        if (rows.length === 0) break;
        this.db.transaction(() => {
          this.stmt.deleteIds.run(JSON.stringify(rows.map((r) => r.id)));
          this.stmt.addBytes.run(-rows.reduce((s, r) => s + r.size, 0), id);
        })();
        deleted += rows.length;
        if (rows.length < trimChunk) break;
      }
    }
    this.stmt.emptyStreams.run(cutoff);
    this.ids.clear();
    return deleted;
  }

  close(): void {
    this.db.close();
  }

  private groupId(account: string, name: string, now: number): number {
    const key = `g\n${account}\n${name}`;
    let id = this.ids.get(key) ?? this.stmt.groupId.get(account, name)?.id;
    if (id === undefined) id = Number(this.stmt.addGroup.run(account, name, now).lastInsertRowid);
    this.remember(key, id);
    return id;
  }

  private streamId(groupId: number, name: string, now: number): number {
    const key = `s\n${groupId}\n${name}`;
    let id = this.ids.get(key) ?? this.stmt.streamId.get(groupId, name)?.id;
    if (id === undefined) id = Number(this.stmt.addStream.run(groupId, name, now).lastInsertRowid);
    this.remember(key, id);
    return id;
  }

  private remember(key: string, id: number): void {
    if (this.ids.size >= maxCachedIds && !this.ids.has(key)) this.ids.clear();
    this.ids.set(key, id);
  }
}
