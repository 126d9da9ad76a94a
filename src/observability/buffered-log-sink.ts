// The request path's side of durable logs: `append` only queues the event (no I/O), and a flush a few
// milliseconds later writes everything queued in one transaction. The queue is bounded in bytes: under a
// flood faster than the disk, new events are dropped and counted, never buffered without bound.
import type { Logger } from '../shared/index.js';
import type { LogEvent } from './log-capture.js';
import type { LogSink } from './log-sink.js';
import type { LogEntry } from './sqlite-log-store.js';

export interface LogWriter {
  write(entries: readonly LogEntry[]): void;
}

export interface BufferedLogSinkOptions {
  readonly writer: LogWriter;
  readonly log: Logger;
  /** Queue size (estimated memory of queued events) past which new events are dropped. */
  readonly maxBufferBytes: number;
  /** How long events may wait before a flush; batches form within this window. */
  readonly flushDelayMs: number;
}

/** Memory an event costs in the queue beyond its message: object headers, the group and stream refs. */
const entryOverhead = 96;

export class BufferedLogSink implements LogSink {
  private queue: LogEntry[] = [];
  private queuedBytes = 0;
  private timer?: NodeJS.Timeout;
  private urgent = false;
  private closed = false;
  private droppedSinceWarn = 0;
  /** Events dropped because the queue was full or a write failed. */
  dropped = 0;
  /** Events written to the store. */
  written = 0;

  constructor(private readonly o: BufferedLogSinkOptions) {}

  get bufferedBytes(): number {
    return this.queuedBytes;
  }

  append(group: string, stream: string, event: LogEvent): void {
    // UTF-16 length is what the string holds in memory; close enough to bound it.
    const cost = event.message.length * 2 + entryOverhead;
    if (this.closed || this.queuedBytes + cost > this.o.maxBufferBytes) {
      this.dropped++;
      this.droppedSinceWarn++;
      return;
    }
    this.queue.push({ group, stream, event });
    this.queuedBytes += cost;
    // Past half the queue, write at the next turn of the event loop instead of waiting the delay.
    if (this.queuedBytes > this.o.maxBufferBytes / 2) this.schedule(0);
    else this.schedule(this.o.flushDelayMs);
  }

  /** Writes everything queued now (the read API calls this first, so readers see their own writes). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.droppedSinceWarn > 0) {
      this.o.log.warn(
        { dropped: this.droppedSinceWarn },
        'log events dropped: functions log faster than logs.db takes them (raise KILN_LOG_BUFFER_BYTES)',
      );
      this.droppedSinceWarn = 0;
    }
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    try {
      this.o.writer.write(batch);
      this.written += batch.length;
    } catch (err) {
      this.dropped += batch.length;
      this.o.log.error({ err, events: batch.length }, 'writing log events to logs.db failed; dropped them');
    }
  }

  /** Flushes and refuses later events (shutdown). */
  close(): void {
    this.flush();
    this.closed = true;
  }

  private schedule(delayMs: number): void {
    // A pending flush that comes as soon or sooner is enough.
    if (this.timer && (delayMs > 0 || this.urgent)) return;
    if (this.timer) clearTimeout(this.timer);
    this.urgent = delayMs === 0;
    this.timer = setTimeout(() => this.flush(), delayMs);
    this.timer.unref();
  }
}
