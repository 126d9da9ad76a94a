// The request path's log queue: batches, a hard memory bound under a flood, and failures counted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BufferedLogSink, type LogEntry } from '../../src/observability/index.js';
import { silentLogger } from '../../src/shared/index.js';

class RecordingWriter {
  batches: LogEntry[][] = [];
  fail = false;
  write(entries: readonly LogEntry[]): void {
    if (this.fail) throw new Error('disk full');
    this.batches.push([...entries]);
  }
}

const event = (i: number, size = 10) => ({ timestamp: i, message: String(i).padEnd(size, '.') });

describe('BufferedLogSink', () => {
  it('queues without writing, then writes everything queued in one batch', () => {
    const writer = new RecordingWriter();
    const sink = new BufferedLogSink({
      writer,
      log: silentLogger(),
      maxBufferBytes: 1 << 20,
      flushDelayMs: 60_000,
    });
    for (let i = 0; i < 100; i++) sink.append('000000000000', '/aws/lambda/a', 's', event(i));
    assert.equal(writer.batches.length, 0);
    sink.flush();
    assert.equal(writer.batches.length, 1);
    assert.deepEqual(
      writer.batches[0]?.map((e) => e.event.timestamp),
      Array.from({ length: 100 }, (_, i) => i),
    );
    assert.equal(sink.written, 100);
    assert.equal(sink.bufferedBytes, 0);
    sink.close();
  });

  it('never holds more than its byte bound under a flood: drops and counts the rest', () => {
    const writer = new RecordingWriter();
    const max = 64 * 1024;
    const sink = new BufferedLogSink({
      writer,
      log: silentLogger(),
      maxBufferBytes: max,
      flushDelayMs: 60_000,
    });
    // 10 MB of lines with no chance to flush in between (no turn of the event loop).
    for (let i = 0; i < 10_000; i++) {
      sink.append('000000000000', '/aws/lambda/a', 's', event(i, 1000));
      assert.ok(sink.bufferedBytes <= max);
    }
    assert.ok(sink.dropped > 9_000);
    sink.flush();
    const kept = writer.batches[0] ?? [];
    assert.equal(kept.length + sink.dropped, 10_000);
    // What was kept is the start of the flood, in order.
    assert.deepEqual(
      kept.map((e) => e.event.timestamp),
      Array.from({ length: kept.length }, (_, i) => i),
    );
    sink.close();
  });

  it('writes on its own once the queue is half full (the next turn of the event loop)', async () => {
    const writer = new RecordingWriter();
    const sink = new BufferedLogSink({
      writer,
      log: silentLogger(),
      maxBufferBytes: 64 * 1024,
      flushDelayMs: 60_000,
    });
    const written = new Promise<void>((resolve) => {
      const write = writer.write.bind(writer);
      writer.write = (entries) => {
        write(entries);
        resolve();
      };
    });
    for (let i = 0; i < 20; i++) sink.append('000000000000', '/aws/lambda/a', 's', event(i, 1000));
    await written;
    assert.equal(writer.batches[0]?.length, 20);
    sink.close();
  });

  it('writes a deep queue in transactions of bounded size', () => {
    const writer = new RecordingWriter();
    const sink = new BufferedLogSink({
      writer,
      log: silentLogger(),
      maxBufferBytes: 16 << 20,
      flushDelayMs: 60_000,
    });
    for (let i = 0; i < 5000; i++) sink.append('000000000000', '/aws/lambda/a', 's', event(i));
    sink.flush();
    assert.deepEqual(
      writer.batches.map((b) => b.length),
      [2000, 2000, 1000],
    );
    assert.equal(sink.bufferedBytes, 0);
    sink.close();
  });

  it('counts a failed batch as dropped and keeps going', () => {
    const writer = new RecordingWriter();
    const sink = new BufferedLogSink({
      writer,
      log: silentLogger(),
      maxBufferBytes: 1 << 20,
      flushDelayMs: 60_000,
    });
    writer.fail = true;
    sink.append('000000000000', '/aws/lambda/a', 's', event(1));
    sink.flush();
    assert.equal(sink.dropped, 1);
    writer.fail = false;
    sink.append('000000000000', '/aws/lambda/a', 's', event(2));
    sink.close();
    assert.equal(writer.batches.length, 1);
    // Closed: later events are refused, not queued forever.
    sink.append('000000000000', '/aws/lambda/a', 's', event(3));
    assert.equal(sink.dropped, 2);
    assert.equal(sink.bufferedBytes, 0);
  });
});
