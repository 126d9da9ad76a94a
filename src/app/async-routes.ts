// Visibility of the async event queue: depth, oldest event age and drops per function, one event's fate,
// and (tests only) moving the queue's clock forward. These are the operator's views of every account (admin
// only once authentication lands), so each function and event names its account.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { callerOf } from '../http/index.js';
import { ApiError, notFound } from '../model/index.js';
import type { PollerFleet } from '../poller/index.js';
import type { EventQueue, EventStatus } from '../queue/index.js';
import type { AdjustableClock, Clock } from '../shared/index.js';
import { jsonObject } from './json-body.js';

export interface AsyncRoutesDeps {
  readonly queue: EventQueue;
  readonly pollers: PollerFleet;
  readonly clock: Clock;
  /** Present only when KILN_TEST_ASYNC_CLOCK=1. */
  readonly adjustable?: AdjustableClock;
}

export function registerAsyncRoutes(app: FastifyInstance, d: AsyncRoutesDeps): void {
  app.get('/_kiln/async', { config: { operation: 'GetAsyncQueue' } }, async () => {
    const s = d.queue.stats(d.clock.now());
    return {
      PollersPaused: d.pollers.paused,
      Depth: s.depth,
      InFlight: s.inFlight,
      OldestEventAgeSeconds: Math.floor(s.oldestAgeMs / 1000),
      Dropped: s.dropped,
      Functions: s.functions.map((f) => ({
        AccountId: f.accountId,
        FunctionName: f.functionName,
        Depth: f.depth,
        InFlight: f.inFlight,
        OldestEventAgeSeconds: Math.floor(f.oldestAgeMs / 1000),
      })),
    };
  });

  app.get(
    '/_kiln/async/events',
    { config: { operation: 'ListAsyncEvents' } },
    async (req: FastifyRequest<{ Querystring: Record<string, string | undefined> }>) => {
      const name = req.query.FunctionName;
      if (!name)
        throw new ApiError('InvalidParameterValueException', 'Name the function: ?FunctionName=<name>.');
      const max = Number(req.query.MaxItems ?? '50');
      if (!Number.isInteger(max) || max < 1 || max > 1000) {
        throw new ApiError('InvalidParameterValueException', 'MaxItems must be an integer from 1 to 1000.');
      }
      // The caller's own account unless another is named.
      const account = req.query.AccountId ?? callerOf(req).accountId;
      return { Events: d.queue.recent(account, name, max).map(view) };
    },
  );

  app.get(
    '/_kiln/async/events/:RequestId',
    { config: { operation: 'GetAsyncEvent' } },
    async (req: FastifyRequest<{ Params: { RequestId: string } }>) => {
      const s = d.queue.status(req.params.RequestId);
      if (!s) {
        throw notFound(
          `No async event ${req.params.RequestId}: it was never accepted, or finished longer ago than KILN_ASYNC_OUTCOME_RETENTION_MS.`,
        );
      }
      return view(s);
    },
  );

  app.post(
    '/_kiln/async/pollers',
    { config: { operation: 'SetAsyncPollers' } },
    async (req: FastifyRequest<{ Body: unknown }>) => {
      const paused = jsonObject(req.body).paused;
      if (typeof paused !== 'boolean') {
        throw new ApiError('InvalidRequestContentException', 'Send {"paused": true} or {"paused": false}.');
      }
      d.pollers.setPaused(paused);
      return { PollersPaused: paused };
    },
  );

  const adjustable = d.adjustable;
  if (!adjustable) return;
  app.post(
    '/_kiln/async/clock',
    { config: { operation: 'AdvanceAsyncClock' } },
    async (req: FastifyRequest<{ Body: unknown }>) => {
      let ms: unknown;
      try {
        ms = (
          JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '') as { advanceMs?: unknown }
        ).advanceMs;
      } catch {
        ms = undefined;
      }
      if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0) {
        throw new ApiError('InvalidRequestContentException', 'Send {"advanceMs": <non-negative integer>}.');
      }
      adjustable.advance(ms);
      return { Now: adjustable.now() };
    },
  );
}

function view(s: EventStatus): Record<string, unknown> {
  return {
    RequestId: s.id,
    AccountId: s.accountId,
    FunctionName: s.functionName,
    ...(s.qualifier !== undefined ? { Qualifier: s.qualifier } : {}),
    State: s.state,
    Attempts: s.attempts,
    EnqueuedAt: new Date(s.enqueuedAt).toISOString(),
    ...(s.condition !== undefined ? { Condition: s.condition } : {}),
    ...(s.detail !== undefined ? { Detail: s.detail } : {}),
    ...(s.finishedAt !== undefined ? { FinishedAt: new Date(s.finishedAt).toISOString() } : {}),
  };
}

/** One member of a small JSON object body; undefined when the body is not such an object. */
