// Where log events go. The embedded sink keeps a bounded window per stream in memory; durable storage
// and the CloudWatch Logs read API build on this port.
import type { LogEvent } from './log-capture.js';

export interface LogSink {
  append(group: string, stream: string, event: LogEvent): void;
}

export interface StoredStream {
  readonly group: string;
  readonly stream: string;
  readonly events: readonly LogEvent[];
}

/** Keeps at most `maxBytesPerStream` of the newest events of each stream, and at most `maxStreams` streams. */
export class MemoryLogSink implements LogSink {
  private readonly streams = new Map<
    string,
    { group: string; stream: string; events: LogEvent[]; bytes: number }
  >();

  constructor(
    private readonly maxBytesPerStream = 1024 * 1024,
    private readonly maxStreams = 1000,
  ) {}

  append(group: string, stream: string, event: LogEvent): void {
    const key = `${group}\n${stream}`;
    let s = this.streams.get(key);
    if (!s) {
      if (this.streams.size >= this.maxStreams) {
        const oldest = this.streams.keys().next().value;
        if (oldest !== undefined) this.streams.delete(oldest);
      }
      s = { group, stream, events: [], bytes: 0 };
      this.streams.set(key, s);
    }
    s.events.push(event);
    s.bytes += event.message.length;
    while (s.bytes > this.maxBytesPerStream && s.events.length > 1) {
      s.bytes -= s.events.shift()?.message.length ?? 0;
    }
  }

  /** The streams of one log group, oldest first. */
  streamsOf(group: string): StoredStream[] {
    return [...this.streams.values()].filter((s) => s.group === group);
  }
}
