// Turns an environment's stdout/stderr into timestamped log events, bounded in memory whatever the
// function prints: lines are cut at Lambda's 256 KB event size, the per-invocation tail keeps only the
// last 4 KB, and the stream itself goes to a bounded sink.
import type { Readable } from 'node:stream';
import type { LogSink } from './log-sink.js';

/** Lambda splits log events larger than 256 KB. */
export const maxEventBytes = 256 * 1024;
/** X-Amz-Log-Result carries the last 4 KB of an invocation's log. */
export const tailBytes = 4096;

export interface LogEvent {
  readonly timestamp: number;
  readonly message: string;
}

export class LogCapture {
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private tail: Buffer[] = [];
  private tailLen = 0;

  constructor(
    private readonly sink: LogSink,
    /** The account of the function whose output this is. */
    private readonly account: string,
    private readonly group: string,
    readonly stream: string,
    private readonly now: () => number,
  ) {}

  /** Reads a process output stream until it ends. */
  attach(out: Readable): void {
    out.on('data', (chunk: Buffer) => this.write(chunk));
    out.on('end', () => this.flushPartial());
  }

  /** A line written by the platform itself (START/END/REPORT, timeouts). */
  platformLine(message: string): void {
    this.flushPartial();
    this.emit(message);
  }

  /** Starts collecting the tail of a new invocation. */
  beginInvocation(): void {
    this.tail = [];
    this.tailLen = 0;
  }

  /** Base64 of the last 4 KB logged since beginInvocation. */
  tailBase64(): string {
    const all = Buffer.concat(this.tail, this.tailLen);
    return all.subarray(Math.max(0, all.length - tailBytes)).toString('base64');
  }

  private write(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      this.push(chunk.subarray(start, nl));
      this.flushPartial();
      start = nl + 1;
    }
    if (start < chunk.length) this.push(chunk.subarray(start));
  }

  private push(piece: Buffer): void {
    while (piece.length > 0) {
      const room = maxEventBytes - this.partialBytes;
      this.partial.push(piece.subarray(0, room));
      this.partialBytes += Math.min(room, piece.length);
      piece = piece.subarray(room);
      if (this.partialBytes >= maxEventBytes) this.flushPartial();
    }
  }

  private flushPartial(): void {
    if (this.partial.length === 0) return;
    const text = Buffer.concat(this.partial, this.partialBytes).toString('utf8');
    this.partial = [];
    this.partialBytes = 0;
    this.emit(text);
  }

  private emit(message: string): void {
    const line = Buffer.from(`${message}\n`);
    this.tail.push(line);
    this.tailLen += line.length;
    // Keep a little more than the tail so the sum stays bounded under any flood.
    while (this.tail.length > 1 && this.tailLen - (this.tail[0]?.length ?? 0) >= tailBytes) {
      this.tailLen -= this.tail.shift()?.length ?? 0;
    }
    this.sink.append(this.account, this.group, this.stream, { timestamp: this.now(), message });
  }
}
