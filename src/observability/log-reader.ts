// Read queries over logs.db for the CloudWatch Logs API: groups, streams, one stream's events in
// either direction, and a group's events across streams in time order. Every query is bounded by a
// row limit, a byte budget and (for filtering) a scan budget, so one request never reads unboundedly.
import type Database from 'better-sqlite3';

/** A group of one account (the reader never lists or finds another account's). */
export interface GroupRow {
  readonly id: number;
  readonly name: string;
  readonly created: number;
  readonly storedBytes: number;
}

export interface StreamRow {
  readonly id: number;
  readonly name: string;
  readonly created: number;
  readonly lastEvent: number | null;
  readonly lastIngestion: number | null;
  readonly firstEvent: number | null;
}

export interface EventRow {
  readonly id: number;
  readonly streamId: number;
  readonly ts: number;
  readonly ingested: number;
  readonly message: string;
}

/** A position in time order: after (or before) the event `[ts, id]`. */
export type Position = readonly [ts: number, id: number];

export interface EventQuery {
  readonly startTime: number;
  /** Exclusive. */
  readonly endTime: number;
  readonly limit: number;
  /** Stop once the messages returned add up to this many bytes (CloudWatch: 1 MB per answer). */
  readonly maxBytes: number;
}

export interface ScanResult {
  readonly events: EventRow[];
  /** Where the scan stopped with more left to look at; undefined when it reached the end. */
  readonly resumeAfter?: Position;
}

const streamColumns = `s.id, s.name, s.created, s.last_event AS lastEvent, s.last_ingestion AS lastIngestion,
  (SELECT min(ts) FROM log_events e WHERE e.stream_id = s.id) AS firstEvent`;

export class LogReader {
  private readonly stmt;

  constructor(private readonly db: Database.Database) {
    this.stmt = {
      group: db.prepare<[string, string], GroupRow>(
        'SELECT id, name, created, stored_bytes AS storedBytes FROM log_groups WHERE account = ? AND name = ?',
      ),
      stream: db.prepare<[number, string], StreamRow>(
        `SELECT ${streamColumns} FROM log_streams s WHERE s.group_id = ? AND s.name = ?`,
      ),
    };
  }

  group(account: string, name: string): GroupRow | undefined {
    return this.stmt.group.get(account, name);
  }

  /** The account's groups whose name starts with `prefix` (or contains `pattern`), by name, after `after`. */
  groups(opts: {
    account: string;
    prefix?: string;
    pattern?: string;
    after?: string;
    limit: number;
  }): GroupRow[] {
    const where: string[] = ['account = ?'];
    const args: (string | number)[] = [opts.account];
    if (opts.prefix !== undefined) {
      where.push('substr(name, 1, ?) = ?');
      args.push(opts.prefix.length, opts.prefix);
    }
    if (opts.pattern !== undefined) {
      where.push('instr(lower(name), lower(?)) > 0');
      args.push(opts.pattern);
    }
    if (opts.after !== undefined) {
      where.push('name > ?');
      args.push(opts.after);
    }
    const sql = `SELECT id, name, created, stored_bytes AS storedBytes FROM log_groups
      WHERE ${where.join(' AND ')} ORDER BY name LIMIT ?`;
    return this.db.prepare<unknown[], GroupRow>(sql).all(...args, opts.limit);
  }

  stream(groupId: number, name: string): StreamRow | undefined {
    return this.stmt.stream.get(groupId, name);
  }

  /**
   * A group's streams (the group found through `group`/`groups`, so the caller's) by name (or by last event time), after the cursor; `prefix` only with name order,
   * as CloudWatch Logs requires.
   */
  streams(opts: {
    groupId: number;
    prefix?: string;
    byLastEvent: boolean;
    descending: boolean;
    after?: readonly [number, string] | readonly [string];
    limit: number;
  }): StreamRow[] {
    const where = ['s.group_id = ?'];
    const args: (string | number)[] = [opts.groupId];
    const cmp = opts.descending ? '<' : '>';
    const dir = opts.descending ? 'DESC' : 'ASC';
    if (opts.prefix !== undefined) {
      where.push('substr(s.name, 1, ?) = ?');
      args.push(opts.prefix.length, opts.prefix);
    }
    let order: string;
    if (opts.byLastEvent) {
      order = `coalesce(s.last_event, 0) ${dir}, s.name ${dir}`;
      if (opts.after) {
        const [t, n] = opts.after as readonly [number, string];
        where.push(`(coalesce(s.last_event, 0), s.name) ${cmp} (?, ?)`);
        args.push(t, n);
      }
    } else {
      order = `s.name ${dir}`;
      if (opts.after) {
        where.push(`s.name ${cmp} ?`);
        args.push(opts.after[0] as string);
      }
    }
    const sql = `SELECT ${streamColumns} FROM log_streams s WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT ?`;
    return this.db.prepare<unknown[], StreamRow>(sql).all(...args, opts.limit);
  }

  /** Names of a group's streams by id, for answers that name each event's stream. */
  streamNames(ids: Iterable<number>): Map<number, string> {
    const list = [...new Set(ids)];
    const rows = this.db
      .prepare<[string], { id: number; name: string }>(
        'SELECT id, name FROM log_streams WHERE id IN (SELECT value FROM json_each(?))',
      )
      .all(JSON.stringify(list));
    return new Map(rows.map((r) => [r.id, r.name]));
  }

  /**
   * One stream's events in time order: forward from after `from` (or from the start), or backward
   * from before `from` (or from the end). Returned oldest first either way.
   */
  streamEvents(streamId: number, q: EventQuery, forward: boolean, from?: Position): EventRow[] {
    const args: number[] = [streamId, q.startTime, q.endTime];
    let where = 'stream_id = ? AND ts >= ? AND ts < ?';
    if (from) {
      where += forward ? ' AND (ts > ? OR (ts = ? AND id > ?))' : ' AND (ts < ? OR (ts = ? AND id < ?))';
      args.push(from[0], from[0], from[1]);
    }
    const dir = forward ? 'ASC' : 'DESC';
    const rows = this.db
      .prepare<number[], EventRow>(
        `SELECT id, stream_id AS streamId, ts, ingested, message FROM log_events WHERE ${where}
          ORDER BY ts ${dir}, id ${dir} LIMIT ?`,
      )
      .iterate(...args, q.limit);
    const out = takeWithin(rows, q.maxBytes);
    return forward ? out : out.reverse();
  }

  /** The last event of a stream (its position), for tokens of empty answers. */
  lastPosition(streamId: number): Position | undefined {
    const r = this.db
      .prepare<[number], { ts: number; id: number }>(
        'SELECT ts, id FROM log_events WHERE stream_id = ? ORDER BY ts DESC, id DESC LIMIT 1',
      )
      .get(streamId);
    return r ? [r.ts, r.id] : undefined;
  }

  /**
   * A group's events in time order across streams (all, or those in `streamIds`), after `from`, that
   * `keep` accepts; stops after `scanBudget` rows looked at, saying where to resume.
   */
  scanGroup(
    groupId: number,
    q: EventQuery & { readonly streamIds?: readonly number[]; readonly scanBudget: number },
    keep: (message: string) => boolean,
    from?: Position,
  ): ScanResult {
    let where = 'group_id = ? AND ts >= ? AND ts < ?';
    const args: (number | string)[] = [groupId, q.startTime, q.endTime];
    if (q.streamIds) {
      where += ' AND stream_id IN (SELECT value FROM json_each(?))';
      args.push(JSON.stringify(q.streamIds));
    }
    if (from) {
      where += ' AND (ts > ? OR (ts = ? AND id > ?))';
      args.push(from[0], from[0], from[1]);
    }
    const rows = this.db
      .prepare<(number | string)[], EventRow>(
        `SELECT id, stream_id AS streamId, ts, ingested, message FROM log_events WHERE ${where}
          ORDER BY ts, id LIMIT ?`,
      )
      .iterate(...args, q.scanBudget + 1);
    const events: EventRow[] = [];
    let bytes = 0;
    let scanned = 0;
    let last: EventRow | undefined;
    for (const row of rows) {
      if (scanned === q.scanBudget || events.length === q.limit || bytes >= q.maxBytes) {
        // More rows exist past this page; resume after the last one looked at.
        rows.return?.();
        return last ? { events, resumeAfter: [last.ts, last.id] } : { events };
      }
      scanned++;
      last = row;
      if (!keep(row.message)) continue;
      events.push(row);
      bytes += row.message.length;
    }
    return { events };
  }
}

function takeWithin(rows: IterableIterator<EventRow>, maxBytes: number): EventRow[] {
  const out: EventRow[] = [];
  let bytes = 0;
  for (const row of rows) {
    if (out.length > 0 && bytes + row.message.length > maxBytes) {
      rows.return?.();
      break;
    }
    out.push(row);
    bytes += row.message.length;
  }
  return out;
}
