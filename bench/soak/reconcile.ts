// Zero lost events, checked with Kiln's own machinery: every accepted event's fate from the queue's
// introspection (`/_kiln/async/events/<id>`), and, for events with destinations, the invocation record
// the recorder function logged (read back through the CloudWatch Logs API).
import type { AsyncEventView, KilnApi, KilnLogs } from '../../src/client/index.js';
import type { AcceptedEvent } from './load.js';
import { recorders } from './fleet.js';

const keep = 20;

export interface Reconciliation {
  readonly accepted: number;
  /** Final conditions as Kiln reports them, e.g. Success, RetriesExhausted, FunctionNotFound. */
  readonly byCondition: Record<string, number>;
  /** Unknown to Kiln: accepted with a 202, then forgotten. */
  readonly lost: number;
  /** Still queued or in flight once the queue was drained (or the drain gave up). */
  readonly unfinished: number;
  /** Finished, but not in a condition (or after a number of attempts) its function allows. */
  readonly wrongOutcome: number;
  /** Finished as expected, but no invocation record reached its destination. */
  readonly missingRecords: number;
  /** Records delivered more than once (at-least-once delivery allows it; counted, not failed). */
  readonly duplicateRecords: number;
  /** Records naming no event this run accepted, or the wrong condition. */
  readonly strayRecords: number;
  readonly recordsRead: number;
  /** Errors reading the introspection API or the logs. */
  readonly readErrors: number;
  readonly examples: string[];
}

interface RecordLine {
  readonly id: string;
  readonly condition: string;
  readonly count: number;
  readonly arn: string;
}

async function records(logs: KilnLogs, fn: string, problems: string[]): Promise<RecordLine[]> {
  const out: RecordLine[] = [];
  try {
    for await (const line of logs.read(fn, { startTime: 0, filterPattern: 'RECORD' })) {
      const json = line.message.slice(line.message.indexOf('RECORD ') + 'RECORD '.length);
      try {
        out.push(JSON.parse(json) as RecordLine);
      } catch {
        problems.push(`unreadable record line in ${fn}: ${line.message.slice(0, 200)}`);
      }
    }
  } catch (err) {
    if ((err as Error).name !== 'ResourceNotFoundException') throw err;
  }
  return out;
}

/** Looks every event up, `parallel` at a time. */
async function lookUp(
  api: KilnApi,
  events: readonly AcceptedEvent[],
  parallel = 8,
): Promise<Map<string, AsyncEventView | 'unknown' | Error>> {
  const seen = new Map<string, AsyncEventView | 'unknown' | Error>();
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < events.length) {
        const e = events[next++] as AcceptedEvent;
        try {
          seen.set(e.id, await api.asyncEvent(e.id));
        } catch (err) {
          const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
          seen.set(e.id, status === 404 ? 'unknown' : (err as Error));
        }
      }
    }),
  );
  return seen;
}

export async function reconcile(
  api: KilnApi,
  logs: KilnLogs,
  accepted: readonly AcceptedEvent[],
): Promise<Reconciliation> {
  const examples: string[] = [];
  const note = (text: string): void => void (examples.length < keep && examples.push(text));
  const views = await lookUp(api, accepted);
  const byCondition: Record<string, number> = {};
  let lost = 0;
  let unfinished = 0;
  let wrongOutcome = 0;
  let readErrors = 0;
  const expectRecord = new Map<string, { event: AcceptedEvent; condition: string }>();
  for (const e of accepted) {
    const v = views.get(e.id);
    if (v === undefined || v === 'unknown') {
      lost += 1;
      note(`lost: ${e.functionName} ${e.id} (accepted at ${e.acceptedAt.toFixed(0)} s) is unknown to Kiln`);
      continue;
    }
    if (v instanceof Error) {
      readErrors += 1;
      note(`could not look up ${e.id}: ${v.message}`);
      continue;
    }
    if (v.State !== 'done') {
      unfinished += 1;
      note(`unfinished: ${e.functionName} ${e.id} is ${v.State} after ${v.Attempts} attempts`);
      continue;
    }
    const condition = v.Condition ?? '(none)';
    byCondition[condition] = (byCondition[condition] ?? 0) + 1;
    const attemptsOk = e.attempts === undefined || v.Attempts === e.attempts;
    if (!e.expect.includes(condition) || !attemptsOk) {
      wrongOutcome += 1;
      note(
        `wrong outcome: ${e.functionName} ${e.id}: ${condition} after ${v.Attempts} attempts, wanted ` +
          `${e.expect.join(' or ')}${e.attempts === undefined ? '' : ` after ${e.attempts}`}: ${v.Detail ?? ''}`,
      );
      continue;
    }
    if (e.recorded) expectRecord.set(e.id, { event: e, condition });
  }

  const problems: string[] = [];
  const delivered = [
    ...(await records(logs, recorders.success, problems)),
    ...(await records(logs, recorders.failure, problems)),
  ];
  readErrors += problems.length;
  problems.forEach(note);
  const byId = new Map<string, RecordLine[]>();
  for (const r of delivered) byId.set(r.id, [...(byId.get(r.id) ?? []), r]);
  let missingRecords = 0;
  let duplicateRecords = 0;
  let strayRecords = 0;
  for (const [id, { event, condition }] of expectRecord) {
    const got = byId.get(id) ?? [];
    const right = got.filter(
      (r) =>
        r.condition === condition &&
        r.count === event.attempts &&
        r.arn.endsWith(`:function:${event.functionName}:$LATEST`),
    );
    if (right.length === 0) {
      missingRecords += 1;
      note(`no ${condition} record for ${event.functionName} ${id}; got ${JSON.stringify(got)}`);
    }
    if (right.length > 1) {
      duplicateRecords += right.length - 1;
      note(`${right.length} ${condition} records for ${event.functionName} ${id}`);
    }
    strayRecords += got.length - right.length;
  }
  for (const [id, got] of byId) {
    if (!expectRecord.has(id)) {
      strayRecords += got.length;
      note(`record for an event not expecting one: ${JSON.stringify(got[0])}`);
    }
  }
  return {
    accepted: accepted.length,
    byCondition,
    lost,
    unfinished,
    wrongOutcome,
    missingRecords,
    duplicateRecords,
    strayRecords,
    recordsRead: delivered.length,
    readErrors,
    examples,
  };
}
