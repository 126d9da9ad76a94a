import { randomFillSync, randomUUID } from 'node:crypto';

/** Lambda uses UUIDs for request ids and revision ids. */
export const newId = (): string => randomUUID();

/**
 * Random bytes drawn from a pool refilled 4 KB at a time: Invoke needs 20 for every trace id, and a
 * randomBytes() call per id (a native call and a new Buffer each) was a measurable share of a warm Invoke.
 * Node's randomUUID pools its entropy the same way.
 */
const pool = Buffer.alloc(4096);
let used = pool.length;

export function randomHex(bytes: number): string {
  if (bytes > pool.length) throw new RangeError(`randomHex: at most ${pool.length} bytes at a time`);
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const hex = pool.toString('hex', used, used + bytes);
  used += bytes;
  return hex;
}
