// Reads a request body up to a limit. Past the limit the rest is read and dropped (up to a hard ceiling)
// before answering 413: clients such as the AWS SDK write the whole body before reading the response,
// and a socket closed under them surfaces as EPIPE or a timeout instead of Lambda's error.
import type { IncomingMessage } from 'node:http';
import { ApiError } from '../model/index.js';

/** Beyond this many bytes a request is cut off rather than drained. */
const drainCeiling = 256 * 1024 * 1024;

export function tooLarge(
  limit: number,
  operation: string,
  code: 'RequestTooLargeException' | 'RequestEntityTooLargeException' = 'RequestEntityTooLargeException',
): ApiError {
  return new ApiError(code, `Request must be smaller than ${limit} bytes for the ${operation} operation`);
}

export function readBody(
  stream: IncomingMessage,
  limit: number,
  operation: string,
  code?: 'RequestTooLargeException' | 'RequestEntityTooLargeException',
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(stream.headers['content-length'] ?? NaN);
    if (declared > drainCeiling) {
      stream.destroy();
      reject(tooLarge(limit, operation, code));
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    stream.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > drainCeiling) {
        stream.destroy();
        reject(tooLarge(limit, operation, code));
      } else if (received <= limit) {
        chunks.push(chunk);
      } else if (chunks.length > 0) {
        chunks.length = 0;
      }
    });
    stream.on('end', () => {
      if (received > limit) reject(tooLarge(limit, operation, code));
      else resolve(Buffer.concat(chunks, received));
    });
    stream.on('error', reject);
  });
}
