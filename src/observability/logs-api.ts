// The CloudWatch Logs read API (JSON 1.1, target prefix Logs_20140328) over logs.db: the operations
// the AWS CLI (`aws logs …`, including `aws logs tail --follow`) and the SDKs use to read logs.
import { JsonServiceError } from '../model/index.js';
import { matches, matchesAll, parseFilterPattern } from './filter-pattern.js';
import type { EventRow, LogReader, Position, StreamRow } from './log-reader.js';
import { decodeToken, encodeToken } from './paging-token.js';
import {
  invalidParameter,
  optBoolean,
  optEnum,
  optInteger,
  optString,
  optStringList,
  type Members,
} from './request-members.js';

export interface LogsApiDeps {
  readonly reader: LogReader;
  /** Writes buffered events first, so a read sees every line logged before it. */
  readonly flush: () => void;
  readonly region: string;
  /** Shown as every group's retentionInDays when it is a whole number of days. */
  readonly retentionMs?: number;
}

/** CloudWatch Logs answers at most 1 MB of events per call. */
const maxAnswerBytes = 1024 * 1024;
/** Rows one FilterLogEvents call may look at before answering with a nextToken. */
const filterScanBudget = 50_000;
const latest = Number.MAX_SAFE_INTEGER;

const groupName = { min: 1, max: 512, pattern: /^[.\-_/#A-Za-z0-9]+$/ };
const streamName = { min: 1, max: 512, pattern: /^[^:*]*$/ };
const groupIdentifier = { min: 1, max: 2048, pattern: /^[\w#+=/:,.@-]*$/ };

const groupMissing = (): JsonServiceError =>
  new JsonServiceError('ResourceNotFoundException', 'The specified log group does not exist.');

/** Who is reading: every operation sees only this account's log groups. */
export interface LogsCaller {
  readonly accountId: string;
}

export class LogsApi {
  readonly targetPrefix = 'Logs_20140328';
  readonly signingName = 'logs';
  readonly contentType = 'application/x-amz-json-1.1';
  readonly operations: Readonly<Record<string, (m: Members, caller: LogsCaller) => unknown>> = {
    DescribeLogGroups: (m, c) => this.describeLogGroups(m, c.accountId),
    DescribeLogStreams: (m, c) => this.describeLogStreams(m, c.accountId),
    GetLogEvents: (m, c) => this.getLogEvents(m, c.accountId),
    FilterLogEvents: (m, c) => this.filterLogEvents(m, c.accountId),
  };

  private readonly retentionDays?: number;

  constructor(private readonly d: LogsApiDeps) {
    const days = (d.retentionMs ?? 0) / 86_400_000;
    if (Number.isInteger(days) && days > 0) this.retentionDays = days;
  }

  private groupArn(account: string, name: string): string {
    return `arn:aws:logs:${this.d.region}:${account}:log-group:${name}`;
  }

  describeLogGroups(m: Members, account: string): unknown {
    const prefix = optString(m, 'logGroupNamePrefix', groupName);
    const pattern = optString(m, 'logGroupNamePattern', { max: 512, pattern: /^[.\-_/#A-Za-z0-9]*$/ });
    const limit = optInteger(m, 'limit', 1, 50) ?? 50;
    const token = optString(m, 'nextToken', { min: 1 });
    if (prefix !== undefined && pattern !== undefined) {
      throw invalidParameter('logGroupNamePrefix and logGroupNamePattern are mutually exclusive; pass one.');
    }
    const after = token === undefined ? undefined : (decodeToken('groups', token, ['string'])[0] as string);
    this.d.flush();
    const rows = this.d.reader.groups({
      account,
      limit: limit + 1,
      ...(prefix !== undefined ? { prefix } : {}),
      ...(pattern ? { pattern } : {}),
      ...(after !== undefined ? { after } : {}),
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      logGroups: page.map((g) => ({
        logGroupName: g.name,
        creationTime: g.created,
        ...(this.retentionDays !== undefined ? { retentionInDays: this.retentionDays } : {}),
        metricFilterCount: 0,
        arn: `${this.groupArn(account, g.name)}:*`,
        logGroupArn: this.groupArn(account, g.name),
        storedBytes: g.storedBytes,
        logGroupClass: 'STANDARD',
      })),
      ...(rows.length > limit && last ? { nextToken: encodeToken('groups', [last.name]) } : {}),
    };
  }

  describeLogStreams(m: Members, account: string): unknown {
    const group = this.group(m, account);
    const prefix = optString(m, 'logStreamNamePrefix', streamName);
    const orderBy = optEnum(m, 'orderBy', ['LogStreamName', 'LastEventTime'] as const) ?? 'LogStreamName';
    const descending = optBoolean(m, 'descending') ?? false;
    const limit = optInteger(m, 'limit', 1, 50) ?? 50;
    const token = optString(m, 'nextToken', { min: 1 });
    const byLastEvent = orderBy === 'LastEventTime';
    if (byLastEvent && prefix !== undefined) {
      throw invalidParameter('Cannot order by LastEventTime with a logStreamNamePrefix.');
    }
    const after =
      token === undefined
        ? undefined
        : byLastEvent
          ? (decodeToken('streams-time', token, ['number', 'string']) as [number, string])
          : (decodeToken('streams-name', token, ['string']) as [string]);
    const rows = this.d.reader.streams({
      groupId: group.id,
      byLastEvent,
      descending,
      limit: limit + 1,
      ...(prefix !== undefined ? { prefix } : {}),
      ...(after ? { after } : {}),
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    let nextToken: string | undefined;
    if (rows.length > limit && last) {
      nextToken = byLastEvent
        ? encodeToken('streams-time', [last.lastEvent ?? 0, last.name])
        : encodeToken('streams-name', [last.name]);
    }
    return {
      logStreams: page.map((s) => this.streamView(account, group.name, s)),
      ...(nextToken ? { nextToken } : {}),
    };
  }

  getLogEvents(m: Members, account: string): unknown {
    const group = this.group(m, account);
    const name = optString(m, 'logStreamName', streamName);
    if (name === undefined) {
      throw invalidParameter(
        "1 validation error detected: Value null at 'logStreamName' failed to satisfy constraint: Member must not be null",
      );
    }
    const startTime = optInteger(m, 'startTime', 0) ?? 0;
    const endTime = optInteger(m, 'endTime', 0) ?? latest;
    const limit = optInteger(m, 'limit', 1, 10_000) ?? 10_000;
    const startFromHead = optBoolean(m, 'startFromHead') ?? false;
    const token = optString(m, 'nextToken', { min: 1 });
    optBoolean(m, 'unmask');
    const stream = this.d.reader.stream(group.id, name);
    if (!stream)
      throw new JsonServiceError('ResourceNotFoundException', 'The specified log stream does not exist.');

    let forward = startFromHead;
    let from: Position | undefined;
    if (token !== undefined) {
      const kind = token.slice(0, 2);
      if (kind !== 'f/' && kind !== 'b/') throw invalidParameter('The specified nextToken is invalid.');
      forward = kind === 'f/';
      from = decodeToken(kind[0] ?? '', token.slice(2), ['number', 'number']) as unknown as Position;
    }
    const events = this.d.reader.streamEvents(
      stream.id,
      { startTime, endTime, limit, maxBytes: maxAnswerBytes },
      forward,
      from,
    );
    const first = events[0];
    const last = events.at(-1);
    // An empty page hands back the token it was given: the AWS CLI and SDK paginators stop on that.
    const here = from ?? this.d.reader.lastPosition(stream.id) ?? ([-1, 0] as const);
    const f = (p: Position): string => `f/${encodeToken('f', p)}`;
    const b = (p: Position): string => `b/${encodeToken('b', p)}`;
    return {
      events: events.map((e) => ({ timestamp: e.ts, message: e.message, ingestionTime: e.ingested })),
      nextForwardToken: last ? f([last.ts, last.id]) : token && forward ? token : f(here),
      nextBackwardToken: first ? b([first.ts, first.id]) : token && !forward ? token : b(here),
    };
  }

  filterLogEvents(m: Members, account: string): unknown {
    const group = this.group(m, account);
    const names = optStringList(m, 'logStreamNames', { min: 1, max: 100 }, streamName);
    const prefix = optString(m, 'logStreamNamePrefix', streamName);
    const startTime = optInteger(m, 'startTime', 0) ?? 0;
    const endTime = optInteger(m, 'endTime', 0);
    const pattern = parseFilterPattern(optString(m, 'filterPattern', { max: 1024 }) ?? '');
    const limit = optInteger(m, 'limit', 1, 10_000) ?? 10_000;
    const token = optString(m, 'nextToken', { min: 1 });
    optBoolean(m, 'interleaved');
    optBoolean(m, 'unmask');
    if (names && prefix !== undefined) {
      throw invalidParameter('logStreamNames and logStreamNamePrefix are mutually exclusive; pass one.');
    }
    if (endTime !== undefined && endTime < startTime) {
      throw invalidParameter('endTime must not be before startTime.');
    }
    const from =
      token === undefined
        ? undefined
        : (decodeToken('filter', token, ['number', 'number']) as unknown as Position);
    let streamIds: number[] | undefined;
    if (names) {
      streamIds = names.flatMap((n) => this.d.reader.stream(group.id, n)?.id ?? []);
    } else if (prefix !== undefined) {
      streamIds = this.d.reader
        .streams({ groupId: group.id, prefix, byLastEvent: false, descending: false, limit: 10_000 })
        .map((s) => s.id);
    }
    if (streamIds?.length === 0) return { events: [], searchedLogStreams: [] };
    const all = matchesAll(pattern);
    const scan = this.d.reader.scanGroup(
      group.id,
      {
        startTime,
        // FilterLogEvents includes events at endTime; the reader's end is exclusive.
        endTime: endTime === undefined ? latest : endTime + 1,
        limit,
        maxBytes: maxAnswerBytes,
        scanBudget: filterScanBudget,
        ...(streamIds ? { streamIds } : {}),
      },
      all ? () => true : (message) => matches(pattern, message),
      from,
    );
    const streamNames = this.d.reader.streamNames(scan.events.map((e) => e.streamId));
    return {
      events: scan.events.map((e: EventRow) => ({
        logStreamName: streamNames.get(e.streamId) ?? '',
        timestamp: e.ts,
        message: e.message,
        ingestionTime: e.ingested,
        eventId: String(e.id),
      })),
      searchedLogStreams: [],
      ...(scan.resumeAfter ? { nextToken: encodeToken('filter', scan.resumeAfter) } : {}),
    };
  }

  /** The caller's group a request names by logGroupName or logGroupIdentifier (a name or an ARN). */
  private group(m: Members, account: string): { id: number; name: string } {
    const name = optString(m, 'logGroupName', groupName);
    const identifier = optString(m, 'logGroupIdentifier', groupIdentifier);
    if (name !== undefined && identifier !== undefined) {
      throw invalidParameter('LogGroup name and LogGroup ARN are mutually exclusive parameters.');
    }
    const wanted = name ?? (identifier === undefined ? undefined : this.nameOf(identifier, account));
    if (wanted === undefined) {
      throw invalidParameter('Should provide either name or ARN for LogGroup: pass logGroupName.');
    }
    this.d.flush();
    const row = this.d.reader.group(account, wanted);
    if (!row) throw groupMissing();
    return row;
  }

  /**
   * The group name in a log group ARN of the caller's account. Another account's ARN is refused whether
   * or not that group exists, as CloudWatch Logs refuses a caller no policy lets in.
   */
  private nameOf(identifier: string, account: string): string {
    if (!identifier.startsWith('arn:')) return identifier;
    const m = /^arn:aws:logs:([^:]*):([^:]*):log-group:(.+?)(:\*)?$/.exec(identifier);
    if (!m || m[1] !== this.d.region) throw groupMissing();
    if (m[2] !== account) {
      throw new JsonServiceError(
        'AccessDeniedException',
        `Account ${account} is not authorized to read ${identifier}: log groups belong to their function's account; use that account's keys.`,
      );
    }
    return m[3] ?? '';
  }

  private streamView(account: string, group: string, s: StreamRow): Record<string, unknown> {
    return {
      logStreamName: s.name,
      creationTime: s.created,
      ...(s.firstEvent !== null ? { firstEventTimestamp: s.firstEvent } : {}),
      ...(s.lastEvent !== null ? { lastEventTimestamp: s.lastEvent } : {}),
      ...(s.lastIngestion !== null ? { lastIngestionTime: s.lastIngestion } : {}),
      arn: `${this.groupArn(account, group)}:log-stream:${s.name}`,
      storedBytes: 0,
    };
  }
}
