// Where log events go: the port LogCapture writes to. BufferedLogSink (queue + batched writes to
// logs.db) is the implementation the platform uses.
import type { LogEvent } from './log-capture.js';

export interface LogSink {
  /** `group` is a group of `account`'s: another account's group of the same name is another group. */
  append(account: string, group: string, stream: string, event: LogEvent): void;
}
