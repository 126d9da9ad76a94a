// Where log events go: the port LogCapture writes to. BufferedLogSink (queue + batched writes to
// logs.db) is the implementation the platform uses.
import type { LogEvent } from './log-capture.js';

export interface LogSink {
  append(group: string, stream: string, event: LogEvent): void;
}
