// Kiln's async visibility API (`/_kiln/async…`) as tests read it, and the test-only queue clock.

import { kilnFetch } from './credentials.js';
import { until } from './until.js';

export interface AsyncEventView {
  RequestId: string;
  FunctionName: string;
  State: 'queued' | 'in-flight' | 'done';
  Attempts: number;
  Condition?: string;
  Detail?: string;
}

export interface QueueView {
  Depth: number;
  InFlight: number;
  OldestEventAgeSeconds: number;
  Dropped: Record<string, number>;
  Functions: Array<{ FunctionName: string; Depth: number; InFlight: number; OldestEventAgeSeconds: number }>;
}

export async function asyncEvent(endpoint: string, id: string): Promise<AsyncEventView | undefined> {
  const r = await kilnFetch(`${endpoint}/_kiln/async/events/${id}`);
  if (r.status === 404) return undefined;
  if (!r.ok) throw new Error(`GET event ${id}: ${r.status} ${await r.text()}`);
  return (await r.json()) as AsyncEventView;
}

export async function queueView(endpoint: string): Promise<QueueView> {
  return (await (await kilnFetch(`${endpoint}/_kiln/async`)).json()) as QueueView;
}

export const untilEvent = (
  endpoint: string,
  id: string,
  ok: (e: AsyncEventView) => boolean,
  timeoutMs = 30_000,
): Promise<AsyncEventView> =>
  until(
    `event ${id}`,
    () => asyncEvent(endpoint, id),
    (e) => e !== undefined && ok(e),
    timeoutMs,
  ) as Promise<AsyncEventView>;

export const untilQueue = (
  endpoint: string,
  ok: (q: QueueView) => boolean,
  timeoutMs = 60_000,
): Promise<QueueView> => until('the queue is there', () => queueView(endpoint), ok, timeoutMs);

/** Moves the queue's clock forward (the server must run with KILN_TEST_ASYNC_CLOCK=1). */
export async function advanceAsyncClock(endpoint: string, ms: number): Promise<void> {
  const r = await kilnFetch(`${endpoint}/_kiln/async/clock`, {
    method: 'POST',
    body: JSON.stringify({ advanceMs: ms }),
  });
  if (!r.ok) throw new Error(`advance clock: ${r.status} ${await r.text()}`);
}
