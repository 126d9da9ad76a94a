// Reads a function's logs through Kiln's CloudWatch Logs API with the AWS SDK, as any CloudWatch Logs
// caller would: FilterLogEvents page by page, and a follow mode that polls for new events.
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { FilterLogEventsCommand, type FilterLogEventsCommandOutput } from '@aws-sdk/client-cloudwatch-logs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LogLine {
  readonly timestamp: number;
  readonly message: string;
  readonly stream: string;
  readonly eventId: string;
}

export interface ReadLogsOptions {
  /** Epoch ms; events before it are skipped. */
  readonly startTime: number;
  readonly filterPattern?: string;
  readonly signal?: AbortSignal;
}

export interface FollowOptions extends ReadLogsOptions {
  /** Pause between polls once caught up. */
  readonly intervalMs: number;
  /** Called once when the function has no log group yet (it has never logged). */
  readonly onWaiting?: () => void;
}

/** Lambda's log group of a function. */
export const logGroupOf = (functionName: string): string => `/aws/lambda/${functionName}`;

export class KilnLogs {
  constructor(readonly cwl: CloudWatchLogsClient) {}

  /** Every event of the function since `startTime`, oldest first. */
  async *read(functionName: string, opts: ReadLogsOptions): AsyncGenerator<LogLine> {
    let token: string | undefined;
    do {
      const page = await this.page(functionName, opts.startTime, opts, token);
      for (const e of page.events ?? []) yield toLine(e);
      token = page.nextToken;
    } while (token !== undefined);
  }

  /**
   * Events since `startTime`, then new ones as they arrive, until the signal aborts. Like `aws logs
   * tail --follow`, each poll restarts at the newest timestamp seen and skips event ids already shown
   * at that timestamp, so nothing is printed twice and nothing is missed.
   */
  async *follow(functionName: string, opts: FollowOptions): AsyncGenerator<LogLine> {
    let since = opts.startTime;
    let seenAtSince = new Set<string>();
    let waitingTold = false;
    while (!opts.signal?.aborted) {
      let token: string | undefined;
      try {
        do {
          const page = await this.page(functionName, since, opts, token);
          for (const e of page.events ?? []) {
            const line = toLine(e);
            if (line.timestamp < since || (line.timestamp === since && seenAtSince.has(line.eventId)))
              continue;
            if (line.timestamp > since) {
              since = line.timestamp;
              seenAtSince = new Set();
            }
            seenAtSince.add(line.eventId);
            yield line;
          }
          token = page.nextToken;
        } while (token !== undefined);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        if (!waitingTold) opts.onWaiting?.();
        waitingTold = true;
      }
      try {
        await sleep(opts.intervalMs, undefined, { signal: opts.signal });
      } catch {
        return; // aborted
      }
    }
  }

  private page(
    functionName: string,
    startTime: number,
    opts: ReadLogsOptions,
    nextToken: string | undefined,
  ): Promise<FilterLogEventsCommandOutput> {
    return this.cwl.send(
      new FilterLogEventsCommand({
        logGroupName: logGroupOf(functionName),
        startTime,
        ...(opts.filterPattern ? { filterPattern: opts.filterPattern } : {}),
        ...(nextToken ? { nextToken } : {}),
      }),
      opts.signal ? { abortSignal: opts.signal } : {},
    );
  }
}

function toLine(e: {
  timestamp?: number;
  message?: string;
  logStreamName?: string;
  eventId?: string;
}): LogLine {
  return {
    timestamp: e.timestamp ?? 0,
    message: e.message ?? '',
    stream: e.logStreamName ?? '',
    eventId: e.eventId ?? '',
  };
}

/** The server answered ResourceNotFoundException (only errors built from a response carry `$fault`). */
function isNotFound(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    '$fault' in err &&
    (err as { name?: unknown }).name === 'ResourceNotFoundException'
  );
}
