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
/** Events per transaction: large enough to amortise the commit, small enough to hold the loop briefly. */
const maxBatch = 2000;

/** UTF-16 length is what the string holds in memory; close enough to bound it. */
const cost = (message: string): number => message.length * 2 + entryOverhead;

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

  append(account: string, group: string, stream: string, event: LogEvent): void {
    const size = cost(event.message);
    if (this.closed || this.queuedBytes + size > this.o.maxBufferBytes) {
      this.dropped++;
      this.droppedSinceWarn++;
      return;
    }
    this.queue.push({ account, group, stream, event });
    this.queuedBytes += size;
    // Past half the queue, write at the next turn of the event loop instead of waiting the delay.
    if (this.queuedBytes > this.o.maxBufferBytes / 2) this.schedule(0);
    else this.schedule(this.o.flushDelayMs);
  }

  /** Writes everything queued now (the read API calls this first, so readers see their own writes). */
  flush(): void {
    this.clearTimer();
    this.warnDropped();
    while (this.queue.length > 0) this.writeBatch();
  }

  /**
   * The timer's flush: one batch per turn of the event loop, so a deep queue (a log flood) is written
   * in slices and HTTP requests are served between them.
   */
  private flushSome(): void {
    this.clearTimer();
    this.warnDropped();
    this.writeBatch();
    if (this.queue.length > 0) this.schedule(0);
  }

  private writeBatch(): void {
    const batch = this.queue.splice(0, maxBatch);
    for (const e of batch) this.queuedBytes -= cost(e.event.message);
    try {
      this.o.writer.write(batch);
      this.written += batch.length;
    } catch (err) {
      this.dropped += batch.length;
      this.o.log.error({ err, events: batch.length }, 'writing log events to logs.db failed; dropped them');
    }
  }

  private warnDropped(): void {
    if (this.droppedSinceWarn === 0) return;
    this.o.log.warn(
      { dropped: this.droppedSinceWarn },
      'log events dropped: functions log faster than logs.db takes them (raise KILN_LOG_BUFFER_BYTES)',
    );
    this.droppedSinceWarn = 0;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.urgent = false;
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
    this.timer = setTimeout(() => this.flushSome(), delayMs);
    this.timer.unref();
  }
}
